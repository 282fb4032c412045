"""The desk rig plus the ticket service, wired as ``helpdesk run`` wires them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from starlette.applications import Starlette

from bot.channels import WebhookChannel
from bot.channels.slack.channel import SlackChannel
from bot.channels.telegram.channel import TelegramChannel, command_menu
from bot.channels.telegram.retry import Backoff, SendRetryPolicy
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.settings import SlackSettings, TelegramSettings
from bot.storage.database import Database
from bot.storage.models import Ticket, TicketEvent
from bot.tickets.business_hours import BusinessHours
from bot.tickets.rules import TicketPolicy
from bot.tickets.service import TicketService
from bot.tickets.sla import SlaPolicy, Target
from bot.web.app import create_web_app
from tests.support.desk import DeskRig, ScriptedNlu, make_rig
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import FakeTelegram

SCRIPT = {
    "hello": "greet",
    "where is my order": "faq/order_status",
    "i want to report a problem": "create_ticket",
    "મારે ફરિયાદ કરવી છે": "create_ticket",
    "मुझे शिकायत करनी है": "create_ticket",
    "what is the status of my ticket": "ticket_status",
}

HOURS = BusinessHours.parse(timezone="Asia/Kolkata", weekly={"mon-fri": "09:00-18:00"})


def ticket_policy(**changes: object) -> TicketPolicy:
    targets = {
        "low": Target(timedelta(hours=24), timedelta(hours=80)),
        "normal": Target(timedelta(hours=8), timedelta(hours=40)),
        "high": Target(timedelta(hours=4), timedelta(hours=24)),
        "urgent": Target(timedelta(hours=1), timedelta(hours=8)),
    }
    sla = SlaPolicy(hours=HOURS, targets=targets, warn_fraction=0.5)
    values: dict[str, object] = {"sla": sla, "close_after": timedelta(hours=72)}
    values.update(changes)
    return TicketPolicy(**values)  # type: ignore[arg-type]


@dataclass
class TicketRig:
    rig: DeskRig
    service: TicketService

    async def push(self, text: str, *, user: str = "alice", **kwargs: object) -> list[str]:
        return await self.rig.push(text, user=user, **kwargs)

    def phrase(self, key: str, language: str = "en", **values: object) -> str:
        return self.rig.phrase(key, language, **values)

    async def tickets(self) -> list[Ticket]:
        async with self.rig.db.transaction() as session:
            return list(await session.scalars(select(Ticket).order_by(Ticket.id)))

    async def events(self, ticket_id: int) -> list[tuple[str, str, str]]:
        async with self.rig.db.transaction() as session:
            rows = await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            )
            return [(e.kind, e.actor, e.detail) for e in rows]


async def make_ticket_rig(db: Database, *, channel: object = None, **kwargs: object) -> TicketRig:
    nlu = ScriptedNlu(SCRIPT)
    rig = await make_rig(db, channel=channel, nlu=nlu, **kwargs)  # type: ignore[arg-type]
    rig.nlu = nlu
    service = TicketService(
        db=db,
        line=rig.engine,
        catalogue=rig.engine.catalogue,
        brand="VoltCart",
        policy=ticket_policy(),
        events=rig.desk.events,
        clock=rig.clock,
    )
    rig.engine.connect(desk=rig.desk, follow_ups=[service])
    return TicketRig(rig, service)


def polling_telegram(fake: FakeTelegram) -> TelegramChannel:
    """A polling Telegram channel against ``fake``, with short retry waits, in English."""
    return TelegramChannel(
        token=fake.token,
        settings=TelegramSettings(
            base_url=fake.base_url, base_file_url=fake.base_file_url, poll_timeout_s=5
        ),
        webhook_secret=None,
        commands=command_menu(Catalogue.load(default_language="en"), languages=["en"]),
        retry=SendRetryPolicy(network_backoff=(0.01, 0.02, 0.05)),
        backoff=Backoff((0.01, 0.05)),
    )


def http_slack(fake: FakeSlack) -> SlackChannel:
    """A Slack channel on the Events API (HTTP mode) against ``fake``."""
    return SlackChannel(
        SlackSettings(mode="http", base_url=fake.base_url),
        bot_token=fake.bot_token,
        signing_secret=fake.signing_secret,
        app_token=None,
    )


def channel_app(engine: Engine, channel: WebhookChannel) -> Starlette:
    """The web app with ``channel``'s webhook routes only, always ready."""

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    return create_web_app(engine=engine, webchat=None, readiness=readiness, routes=channel.routes())
