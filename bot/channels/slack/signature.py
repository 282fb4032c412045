"""Slack's request signature (v0, HMAC-SHA256 over the raw body), checked before parsing.

bolt checks it too, but only after parsing the body: a body that is not a JSON object,
or a timestamp that is not a number, made it raise before any check (a 500 to anyone).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

MAX_AGE_S = 5 * 60
"""Slack's own rule: a request signed longer ago (or ahead) than this is a replay."""
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def signed(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> bool:
    """Whether ``X-Slack-Signature`` matches ``body`` with a fresh numeric timestamp."""
    stamp = headers.get("x-slack-request-timestamp", "")
    given = headers.get("x-slack-signature", "").encode("latin-1", "replace")
    if not _TIMESTAMP.match(stamp):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_AGE_S:
        return False
    digest = hmac.new(secret, b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return hmac.compare_digest(b"v0=" + digest.hexdigest().encode(), given)
