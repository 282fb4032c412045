"""Who a web chat customer is, as the shop's server vouches for it.

The shop signs its logged-in customer with the site's secret (``secret_env`` of
``channels.webchat.sites``) and the page hands the signature to the widget; the
browser cannot forge it, since it never sees the secret. Two forms:

- a JWT (HS256) whose claims are ``sub`` (the shop's id for the customer), ``exp``
  (required), and optionally ``name``, ``email``, ``phone``, ``locale``: everything in
  it is the shop's word;
- the simpler HMAC: ``user_hash`` = hex HMAC-SHA256(secret, user id); only the id is
  the shop's word, a name or email sent beside it is the page's.

Anything else a page says about the customer (a name, an email, unsigned) is kept as
an unverified identity: shown to agents as unverified, never linked to a verified
customer. Only the standard library: HS256 is one HMAC, and a JWT library would bring
every other algorithm (and the ``alg`` confusions) along.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.webchat import FrameError, storable

MAX_TOKEN = 4096
LEEWAY_S = 60
"""Clock skew allowed between the shop's server and the bot."""
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
LIMITS = {"external_id": 150, "name": 200, "email": 320, "phone": 40}


class IdentityRefused(FrameError):
    """A signature that does not verify, an expired token, or a claim out of bounds."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What is known about the customer; ``verified`` when the shop signed ``external_id``."""

    external_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    verified: bool = False


def identity_of(frame: dict[str, Any], *, secret: bytes | None, now: float) -> Identity:
    """The identity an ``identify`` frame carries; :class:`IdentityRefused` says why not."""
    token = frame.get("token")
    if token is not None:
        return verify_jwt(_text(token, "token", MAX_TOKEN), secret=_need(secret), now=now)
    user_hash = frame.get("user_hash")
    if user_hash is not None:
        user_id = _text(frame.get("user_id"), "user_id", LIMITS["external_id"])
        if not verify_hash(user_id, _text(user_hash, "user_hash", 128), secret=_need(secret)):
            raise IdentityRefused("identity refused: user_hash does not match user_id")
        return _identity(frame, external_id=user_id)
    return _identity(frame, external_id=None)  # the page's word only


def verify_hash(user_id: str, user_hash: str, *, secret: bytes) -> bool:
    expected = hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, user_hash.lower())


def verify_jwt(token: str, *, secret: bytes, now: float) -> Identity:
    """A compact HS256 JWT, checked before any claim is believed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise IdentityRefused("identity refused: not a JWT")
    header = _json_part(parts[0], "header")
    # Only HS256: a token may not choose "none" or another algorithm for itself.
    if header.get("alg") != "HS256":
        raise IdentityRefused("identity refused: the token must be signed with HS256")
    signed = f"{parts[0]}.{parts[1]}".encode()
    expected = hmac.new(secret, signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _b64(parts[2], "signature")):
        raise IdentityRefused("identity refused: bad signature")
    claims = _json_part(parts[1], "payload")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise IdentityRefused("identity refused: the token needs an 'exp' (expiry) claim")
    if now > exp + LEEWAY_S:
        raise IdentityRefused("identity refused: the token has expired")
    for claim in ("nbf", "iat"):
        at = claims.get(claim)
        if isinstance(at, int | float) and not isinstance(at, bool) and at > now + LEEWAY_S:
            raise IdentityRefused(f"identity refused: '{claim}' is in the future")
    subject = _text(claims.get("sub"), "sub", LIMITS["external_id"])
    return _identity(claims, external_id=subject)


def _identity(source: dict[str, Any], *, external_id: str | None) -> Identity:
    """The claims beside the id; verified when the id is the shop's (``external_id``)."""
    values: dict[str, str | None] = {}
    for key in ("name", "email", "phone"):
        value = source.get(key)
        values[key] = _text(value, key, LIMITS[key]).strip() or None if value is not None else None
    if values["email"] is not None and "@" not in values["email"]:
        raise IdentityRefused("identity refused: 'email' is not an email address")
    locale = source.get("locale")
    if locale is not None and not (isinstance(locale, str) and LANGUAGE.match(locale)):
        raise IdentityRefused("identity refused: 'locale' is not a language code")
    return Identity(
        external_id=external_id,
        name=values["name"],
        email=values["email"],
        phone=values["phone"],
        locale=locale,
        verified=external_id is not None,
    )


def _need(secret: bytes | None) -> bytes:
    if secret is None:
        raise IdentityRefused("identity refused: this site has no identity secret configured")
    return secret


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not storable(value):
        raise IdentityRefused(f"identity refused: '{name}' must be text of 1 to {limit} characters")
    return value


def _b64(part: str, what: str) -> bytes:
    try:
        return base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise IdentityRefused(f"identity refused: the token's {what} is not base64url") from None


def _json_part(part: str, what: str) -> dict[str, Any]:
    raw = _b64(part, what)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise IdentityRefused(f"identity refused: the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise IdentityRefused(f"identity refused: the token's {what} is not a JSON object")
    return value
