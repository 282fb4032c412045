"""What a shop's server does to vouch for its customer: sign a JWT (HS256) or an HMAC of
the id with the site's secret. Written from RFC 7519 here, apart from the bot's code, so
that a test signs as a shop would, not as the verifier expects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(claims: dict[str, Any], secret: bytes, *, header: dict[str, Any] | None = None) -> str:
    head = _b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def customer_token(
    secret: bytes, *, sub: str = "42", ttl_s: float = 600, now: float | None = None, **claims: Any
) -> str:
    """A token issued at ``now`` (default: this moment; tests that verify at a fixed
    instant pass the same one)."""
    issued = int(time.time() if now is None else now)
    return sign_jwt({"sub": sub, "iat": issued, "exp": issued + ttl_s, **claims}, secret)


def user_hash(user_id: str, secret: bytes) -> str:
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()
