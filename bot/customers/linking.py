"""Joining a Telegram or Slack account to a verified customer with a one-time code.

Only the shop's signature makes a customer verified (:mod:`bot.customers`); a Telegram
or Slack account proves nothing about who is behind it. So an account joins a verified
customer only by showing a code that customer was given: the verified web chat (or the
shop's server, with the site's signature) asks for one, and the customer carries it to
the other app, a ``https://t.me/<bot>?start=<code>`` link for Telegram or ``link <code>``
in a direct message to the Slack app. A code is random (100 bits), kept only as its
SHA-256, good for one account on one channel, for a short time, once. An account that
already belongs to another verified customer is never moved: one verified customer is
never merged into another.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.customers import CustomerRepository
from bot.storage.database import Database
from bot.storage.link_codes import LinkCodeRepository
from bot.storage.models import aware, utcnow

CHANNELS = ("telegram", "slack")
"""The accounts a code can join: the platforms where the bot cannot see a signature."""
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
"""Base32, lower case: safe in a Telegram start parameter, readable when typed in Slack."""
CODE_LENGTH = 20  # 100 bits: not guessable within a code's life at any rate
CODE = re.compile(rf"^[a-z2-7]{{{CODE_LENGTH}}}$")
DEFAULT_TTL = timedelta(minutes=15)
HIDDEN = "[link code]"
"""What the stored message shows in a code's place (:func:`hide`)."""


class Refusal(enum.StrEnum):
    """Why a code joined nothing; the value is the phrase that tells the customer."""

    UNKNOWN = "link_unknown"  # never issued (mistyped, forged), or for another app
    EXPIRED = "link_expired"
    USED = "link_used"  # another account used it first
    TAKEN = "link_taken"  # this account belongs to another verified customer


@dataclass(frozen=True, slots=True)
class Linked:
    """The account now speaks for this customer (``already``: it did before)."""

    customer_id: int
    name: str | None
    already: bool = False


@dataclass(frozen=True, slots=True)
class Offer:
    """A fresh code for one channel, and how the customer uses it there."""

    channel: str
    code: str
    expires_at: datetime
    url: str | None = None
    """Telegram's deep link; ``None`` when the channel has none (Slack: send ``text``)."""

    @property
    def text(self) -> str:
        return f"link {self.code}"

    def as_json(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "code": self.code,
            "text": self.text,
            "url": self.url,
            "expires_at": self.expires_at.isoformat(),
        }


class NotLinkable(Exception):
    """No code for this: an unverified customer, or a channel that is not running."""


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()


def looks_like_code(text: str) -> bool:
    return CODE.match(text.strip().lower()) is not None


def hide(text: str, code: str) -> str:
    """``text`` with ``code`` left out: the customer's link command as agents may read it
    (a code refused as taken stays good for its customer's other accounts)."""
    return re.sub(re.escape(code.strip()), HIDDEN, text, flags=re.IGNORECASE)


@dataclass(slots=True)
class LinkCodes:
    """Issues codes (for the web chat and the shop's server) and redeems them (for the
    intent that reads ``/start <code>`` and ``link <code>``).

    ``telegram_username``: the bot's @name, for the deep link (None while unknown: no
    Telegram offer); ``slack``: whether the Slack app runs, so a Slack code can be used.
    """

    db: Database
    ttl: timedelta = DEFAULT_TTL
    telegram_username: Callable[[], str | None] = field(default=lambda: None)
    slack: bool = False
    clock: Callable[[], datetime] = utcnow

    def channels(self) -> list[str]:
        """The channels a code can be offered for now."""
        offered = ["telegram"] if self.telegram_username() else []
        return offered + (["slack"] if self.slack else [])

    async def offer(self, customer_id: int, channel: str) -> Offer:
        """A new code that joins an account on ``channel`` to this verified customer."""
        if channel not in self.channels():
            raise NotLinkable(f"no link codes for {channel!r} here")
        async with self.db.transaction() as session:
            return await self.issue(session, customer_id=customer_id, channel=channel)

    async def issue(self, session: AsyncSession, *, customer_id: int, channel: str) -> Offer:
        customer = await CustomerRepository(session).get(customer_id)
        if customer is None or not customer.verified:
            # An unverified customer is whoever typed a name: joining accounts to it
            # would let that person gather someone else's channels.
            raise NotLinkable("only a verified customer can join other accounts")
        now = self.clock()
        code = new_code()
        expires_at = now + self.ttl
        await LinkCodeRepository(session).add(
            customer_id=customer.id,
            channel=channel,
            code_hash=code_hash(code),
            now=now,
            expires_at=expires_at,
        )
        username = self.telegram_username() if channel == "telegram" else None
        url = f"https://t.me/{quote(username)}?start={code}" if username else None
        return Offer(channel, code, expires_at, url)


async def redeem(
    session: AsyncSession, *, code: str, channel: str, user_id: str, now: datetime
) -> Linked | Refusal:
    """Join the account ``(channel, user_id)`` to the customer the code was issued to.

    Runs in the customer's turn (its transaction): the account's identity exists, the
    gate made it when the message was stored. The account's own earlier conversations
    and tickets go with it: the code shows the same person holds both.
    """
    if not looks_like_code(code):
        return Refusal.UNKNOWN
    codes = LinkCodeRepository(session)
    found = await codes.find(code_hash(code))
    if found is None or found.channel != channel:
        return Refusal.UNKNOWN
    account = f"{channel}:{user_id}"
    customers = CustomerRepository(session)
    target = await customers.get(found.customer_id)
    if target is None or not target.verified:
        return Refusal.UNKNOWN
    identity = await customers.identity(channel=channel, external_id=user_id)
    if found.used_at is not None:
        # The same account following its link twice is told it is linked, nobody else.
        mine = identity is not None and identity.customer_id == target.id
        if found.used_by == account and mine:
            return Linked(target.id, target.display_name, already=True)
        return Refusal.USED
    if aware(found.expires_at) <= now:
        return Refusal.EXPIRED
    if identity is None:
        return Refusal.UNKNOWN  # not this turn's account: nothing to join
    current = await customers.get(identity.customer_id)
    if current is not None and current.verified and current.id != target.id:
        return Refusal.TAKEN  # left unused: the customer may try from another account
    if not await codes.use(found, now=now, used_by=account):
        return Refusal.USED  # another worker's turn used it a moment ago
    if identity.customer_id == target.id:
        return Linked(target.id, target.display_name, already=True)
    await customers.move_account(identity, to=target)
    return Linked(target.id, target.display_name)
