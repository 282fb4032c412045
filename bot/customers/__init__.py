"""Who is behind a channel identity: linking a session to a verified customer.

One customer may write from several channel identities (web chat sessions on several
devices, Telegram, Slack). A web chat session that presents the shop's signature for a
customer (:mod:`bot.channels.webchat_identity`) is linked to that verified customer, so
agents see all their conversations and tickets in one place. Claims nobody signed only
describe the session's own, unverified customer, and are never used to find or change
a verified one: anyone can type someone else's email address.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.channels.webchat_identity import Identity
from bot.storage.customers import CustomerRepository
from bot.storage.database import Database
from bot.storage.models import Customer


class IdentityConflict(Exception):
    """The session is already linked to another verified customer."""


@dataclass(frozen=True, slots=True)
class Known:
    """The customer a session now speaks for."""

    customer_id: int
    name: str | None
    verified: bool
    language: str | None = None


class CustomerDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def vouched(self, *, namespace: str, identity: Identity) -> Known:
        """The verified customer a signed identity names, made now if new; no channel
        identity is linked (the shop's server asks, not a chat)."""
        if not identity.verified or identity.external_id is None:
            raise ValueError("only a signed identity names a verified customer")
        async with self.db.transaction() as session:
            customers = CustomerRepository(session)
            external_id = f"{namespace}:{identity.external_id}"[:200]
            target = await customers.verified(external_id) or await customers.add_verified(
                external_id=external_id
            )
            _describe(target, identity)
            return Known(target.id, target.display_name, verified=True, language=target.language)

    async def identify(
        self, *, namespace: str, channel: str, user_id: str, identity: Identity
    ) -> Known:
        """Link the channel identity ``(channel, user_id)`` to whom ``identity`` names.

        ``namespace`` keeps the ids of different sites apart (the site key): two shops'
        customer "42" are two people.
        """
        async with self.db.transaction() as session:
            customers = CustomerRepository(session)
            link = await customers.identity(channel=channel, external_id=user_id)
            current = await customers.get(link.customer_id) if link is not None else None
            if identity.verified:
                assert identity.external_id is not None
                external_id = f"{namespace}:{identity.external_id}"[:200]
                target = await customers.verified(external_id) or await customers.add_verified(
                    external_id=external_id
                )
                _describe(target, identity)  # the shop's latest word about its customer
                if link is None:
                    await customers.add_identity(
                        customer=target, channel=channel, external_id=user_id
                    )
                elif current is not None and current.id != target.id:
                    if current.verified:
                        # Another signed-in customer's session: the widget keeps one
                        # session per signed-in customer, so this is not the widget.
                        raise IdentityConflict("this chat belongs to another customer")
                    # An anonymous session that signed in: its chat is the customer's.
                    await customers.move_identity(link, to=target)
                return Known(
                    target.id, target.display_name, verified=True, language=target.language
                )
            if current is None:
                current = Customer()
                session.add(current)
                await session.flush()
                await customers.add_identity(customer=current, channel=channel, external_id=user_id)
            if not current.verified:
                _describe(current, identity)  # the page's word, about its own session
            return Known(
                current.id,
                current.display_name,
                verified=current.verified,
                language=current.language,
            )


def _describe(customer: Customer, identity: Identity) -> None:
    if identity.name:
        customer.display_name = identity.name
    if identity.email:
        customer.email = identity.email
    if identity.phone:
        customer.phone = identity.phone
    if identity.locale:
        customer.language = identity.locale.replace("_", "-").split("-")[0].lower()[:8]
