"""The bot with a web chat (an embedding site that signs its customers), the email channel
against real Dovecot and aiosmtpd, the desk, the tickets, the email notice job and the
survey links' page, in one real web app: what ``helpdesk run`` wires for email notices."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bot.channels import Channel, ChannelRegistry
from bot.channels.email.channel import EmailChannel
from bot.channels.email.survey_links import SurveyLinks
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site
from bot.desk.service import Desk
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.settings import EmailNoticeSettings
from bot.storage.database import Database
from bot.storage.models import Conversation, Customer, Ticket
from bot.storage.repositories import ConversationRepository
from bot.surveys.plan import SurveyPlan
from bot.tickets.email_notices import EmailNotices
from bot.tickets.email_threads import EmailThreadDirectory
from bot.tickets.service import TicketService
from bot.web.app import create_web_app
from bot.web.survey_page import SurveyPage
from tests.conftest import TEST_KB, engine_options
from tests.support.desk import OPEN, FakeClock, ScriptedNlu, test_policy
from tests.support.identity import customer_token
from tests.support.tickets import SCRIPT, ticket_policy

SITE_SECRET = b"the shop's widget secret"
SITE = Site(key="shop-key", origins=("https://shop.example.com",), secret=SITE_SECRET)
SHOP = Origin("https://shop.example.com")
LINK_SECRET = b"0123456789abcdef0123456789abcdef"
EVENTS = frozenset({"answered", "needs_input", "resolved", "chat_reply"})


@dataclass
class NoticeRig:
    db: Database
    engine: Engine
    desk: Desk
    tickets: TicketService
    webchat: WebChatChannel
    email: EmailChannel
    job: EmailNotices
    clock: FakeClock
    app: Starlette
    links: SurveyLinks

    def phrase(self, key: str, language: str = "en", **values: object) -> str:
        return self.engine.catalogue.get(key, language, brand="VoltCart", **values)

    def job_with(self, **settings: Any) -> EmailNotices:
        return EmailNotices(
            db=self.db,
            line=self.engine,
            catalogue=self.engine.catalogue,
            settings=EmailNoticeSettings(**settings),
            clock=self.clock,
        )

    async def conversation(self, channel: str, key: str) -> Conversation:
        async with self.db.transaction() as session:
            found = await ConversationRepository(session).find(
                channel=channel, conversation_key=key
            )
        assert found is not None, f"no {channel} conversation {key}"
        return found

    async def ticket_for(
        self,
        conversation: Conversation,
        *,
        language: str = "en",
        email: str | None = None,
        verified: bool = False,
        contact: str | None = None,
    ) -> int:
        """A ticket on the customer's chat, as the ticket dialogue or an agent opens one."""
        ticket_id = await self.tickets.create(
            subject="Broken charger",
            description="It stopped charging.",
            priority="normal",
            actor="priya",
            customer_id=conversation.customer_id,
            contact=contact,
            language=language,
        )
        async with self.db.transaction() as session:
            await session.execute(
                update(Ticket).where(Ticket.id == ticket_id).values(conversation_id=conversation.id)
            )
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation.id)
                .values(language=language)
            )
            if email is not None:
                await session.execute(
                    update(Customer)
                    .where(Customer.id == conversation.customer_id)
                    .values(email=email, verified=verified)
                )
        return ticket_id

    async def chat_and_leave(self, address: str, session: str) -> Conversation:
        """A customer says hello in the web chat, gets the answer and closes the tab."""
        url = f"ws://{address}/ws/chat?site=shop-key&session={session}"
        async with connect(url, origin=SHOP) as ws, asyncio.timeout(30):
            assert json.loads(await ws.recv())["type"] == "history"
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            while json.loads(await ws.recv())["type"] != "message":
                pass
        return await self.conversation("webchat", session)

    async def reference(self, ticket_id: int) -> str:
        async with self.db.transaction() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None and ticket.reference is not None
            return ticket.reference


async def identify(ws: ClientConnection, **claims: Any) -> dict[str, Any]:
    """The shop's page signs its customer in; returns the bot's identity frame."""
    token = customer_token(SITE_SECRET, **claims)
    await ws.send(json.dumps({"type": "identify", "token": token}))
    async with asyncio.timeout(30):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == "identity":
                return frame


async def make_notice_rig(
    db: Database,
    email: EmailChannel,
    *,
    others: tuple[Channel, ...] = (),
    plan: SurveyPlan | None = None,
) -> NoticeRig:
    clock = FakeClock(OPEN)
    links = SurveyLinks(
        base_url="http://survey.invalid",
        secret=LINK_SECRET,
        valid_s=30 * 86400,
        clock=lambda: clock.now().timestamp(),
    )
    email.survey_links = links
    webchat = WebChatChannel(sites=[SITE])
    registry = ChannelRegistry()
    registry.add(webchat)
    registry.add(email)
    for other in others:
        registry.add(other)
    catalogue = Catalogue.load(default_language="en")
    engine = Engine(
        db=db,
        nlu=ScriptedNlu(SCRIPT),
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=catalogue,
        channels=registry,
        options=engine_options(),
    )
    plan = plan or SurveyPlan.default()
    desk = Desk(
        db=db,
        line=engine,
        catalogue=catalogue,
        brand="VoltCart",
        policy=test_policy(),
        clock=clock,
        surveys=plan,
    )
    tickets = TicketService(
        db=db,
        line=engine,
        catalogue=catalogue,
        brand="VoltCart",
        policy=ticket_policy(),
        events=desk.events,
        clock=clock,
        surveys=plan,
    )
    tickets.email_notices = EVENTS
    desk.core.email_notices = EVENTS  # agents' replies in live chats too
    engine.connect(desk=desk, follow_ups=[tickets])
    email.directory = EmailThreadDirectory(db)
    for channel in registry:
        await channel.start(engine.receive)
    await email.wait_connected(30)
    job = EmailNotices(
        db=db,
        line=engine,
        catalogue=catalogue,
        settings=EmailNoticeSettings(webchat_after_s=60),
        clock=clock,
    )
    page = SurveyPage(
        db=db, links=links, catalogue=catalogue, brand="VoltCart", plan=plan, events=desk.events
    )

    async def ready() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=engine, webchat=webchat, readiness=ready, routes=page.routes())
    return NoticeRig(db, engine, desk, tickets, webchat, email, job, clock, app, links)
