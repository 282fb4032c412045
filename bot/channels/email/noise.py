"""Mail nobody should answer: auto-replies, lists, bounces, our own mail; and a per-sender limit.

Answering an out-of-office reply with an FAQ answer, which triggers another
out-of-office reply, is the classic mail loop. The signs are the standard ones (RFC 3834
``Auto-Submitted``, ``Precedence``, the vendors' ``X-Autoreply`` family, ``X-Loop``,
mailing-list headers, delivery status notifications) and the sender being ourselves.
What they miss (a responder that sets no header) the rate limit per sender catches.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from email.message import EmailMessage

__all__ = ["SenderRateLimit", "is_bounce", "why_not_answer"]

_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-Autoresponder")
_BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")


def why_not_answer(mail: EmailMessage, *, sender: str, own_address: str) -> str | None:
    """Why ``mail`` must get no reply, or None when it is a person's mail."""
    auto = str(mail.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto-submitted"
    if str(mail.get("Precedence", "") or "").strip().lower() in ("bulk", "list", "junk"):
        return "precedence"
    if any(mail.get(name) is not None for name in _AUTO_HEADERS):
        return "auto-reply"
    suppress = str(mail.get("X-Auto-Response-Suppress", "") or "").lower()
    if "oof" in suppress or "all" in suppress:
        return "auto-reply"  # Exchange marks its own automatic replies so
    if mail.get("X-Loop") is not None:
        return "x-loop"
    if mail.get("List-Id") is not None or mail.get("List-Unsubscribe") is not None:
        return "mailing list"
    if sender == own_address.lower():
        return "our own address"
    if is_bounce(mail, sender):
        return "bounce"
    return None


def is_bounce(mail: EmailMessage, sender: str) -> bool:
    """A delivery report or a mailer daemon's mail (DSNs often say Auto-Submitted too)."""
    if mail.get_content_type() == "multipart/report":
        return True  # a delivery status notification (RFC 3464) or a read receipt
    if sender.startswith(_BOUNCE_SENDERS):
        return True
    return str(mail.get("Return-Path", "") or "").strip() == "<>"


class SenderRateLimit:
    """At most ``per_hour`` mails handed on per sender in any hour; the rest are held back.

    Bounded memory: the senders heard from longest ago are forgotten first.
    """

    def __init__(
        self,
        per_hour: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = 10_000,
    ) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._capacity = capacity
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, sender: str) -> bool:
        now = self._clock()
        times = self._seen.setdefault(sender, deque())
        self._seen.move_to_end(sender)
        while times and now - times[0] >= 3600:
            times.popleft()
        if len(times) >= self.per_hour:
            return False
        times.append(now)
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
