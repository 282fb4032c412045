"""A Telegram or Slack account joins a verified customer only with a one-time code the
customer's verified web chat was given: the real python-telegram-bot and slack-bolt
clients against the fake servers; forged, expired, reused and taken codes refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.app import build_channels, build_helpdesk, build_web_app, link_codes
from bot.channels.slack.format import escape
from bot.channels.webchat_identity import Identity
from bot.commands import link_code
from bot.customers import CustomerDirectory
from bot.customers.linking import (
    HIDDEN,
    LinkCodes,
    NotLinkable,
    code_hash,
    hide,
    looks_like_code,
    new_code,
)
from bot.events import DeskEvent, EventKind, Subscription
from bot.settings import Secrets, SlackSettings, WebchatSiteSettings
from bot.storage.database import Database
from bot.storage.link_codes import LinkCodeRepository
from bot.storage.models import (
    ChannelIdentity,
    Conversation,
    ConversationState,
    Dialogue,
    LinkCode,
    Message,
    Ticket,
    utcnow,
)
from bot.storage.repositories import ConversationRepository
from tests.conftest import TEST_KB, project_settings
from tests.support.console import PASSWORD, console_page
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import Call, FakeTelegram, TelegramUser
from tests.support.identity import customer_token
from tests.support.server import serve
from tests.support.tickets import (
    TicketRig,
    channel_app,
    http_slack,
    make_ticket_rig,
    polling_telegram,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

SECRET = b"the shop's widget secret, long enough"
ASHA = Identity(external_id="42", name="Asha Patel", email="asha@example.com", verified=True)
RAVI = Identity(external_id="77", name="Ravi Kumar", verified=True)
ASHA_TG = TelegramUser(2001, "Asha", language_code="en")
MALLORY_TG = TelegramUser(2002, "Mallory", language_code="hi")


async def verified(db: Database, session_id: str, identity: Identity = ASHA) -> int:
    """The customer a verified web chat session speaks for (as the socket links it)."""
    known = await CustomerDirectory(db).identify(
        namespace="shop-key", channel="webchat", user_id=session_id, identity=identity
    )
    return known.customer_id


def texts(calls: list[Call]) -> list[str]:
    return [str(call.result["text"]) for call in calls]


@pytest.fixture
async def telegram(db: Database) -> AsyncIterator[tuple[FakeTelegram, TicketRig, LinkCodes]]:
    async with FakeTelegram() as fake:
        channel = polling_telegram(fake)
        rig = await make_ticket_rig(db, channel=channel)
        await channel.wait_connected(10)
        yield fake, rig, link_codes(db, [channel])  # as helpdesk run wires it
        await channel.stop()


async def said(fake: FakeTelegram, user: TelegramUser, text: str, replies: int) -> list[str]:
    """Send as ``user`` and return the ``replies`` messages the bot answered with."""
    before = len(fake.sent_to(user.id))
    fake.push_message(user, text)
    sent = await fake.wait_for(
        "sendMessage", before + replies, where=lambda c: c.params.get("chat_id") == user.id
    )
    return texts(sent[before:])


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_the_telegram_deep_link_joins_the_account_to_the_verified_customer(
    telegram: tuple[FakeTelegram, TicketRig, LinkCodes],
) -> None:
    fake, t, links = telegram
    db = t.rig.db
    asha = await verified(db, "asha-laptop")
    # Before linking, Asha wrote on Telegram as anybody does: an unverified customer.
    fake.push_message(ASHA_TG, "/ticket My charger stopped working")
    await fake.wait_for("sendMessage", 1)
    fake.push_message(ASHA_TG, "Order 881, the charger gets hot and then dies.")
    await fake.wait_for("sendMessage", 2)

    offer = await links.offer(asha, "telegram")
    assert offer.url == f"https://t.me/{fake.bot.username}?start={offer.code}"
    assert looks_like_code(offer.code) and offer.expires_at > utcnow()
    replies = await said(fake, ASHA_TG, f"/start {offer.code}", 3)
    assert replies[:2] == [
        t.phrase("link_done"),
        t.phrase("greet_known", name="Asha Patel"),
    ]
    assert replies[2].startswith("Is this about HD-1001")  # her ticket from Telegram
    async with db.transaction() as session:
        identity = (
            await session.scalars(
                select(ChannelIdentity).where(ChannelIdentity.channel == "telegram")
            )
        ).one()
        owners = set(await session.scalars(select(Conversation.customer_id)))
        tickets = set(await session.scalars(select(Ticket.customer_id)))
        [code] = await session.scalars(select(LinkCode))
    assert identity.customer_id == asha
    assert owners == tickets == {asha}  # web and Telegram: one customer
    assert code.code_hash == code_hash(offer.code) and offer.code not in code.code_hash
    assert code.used_by == f"telegram:{ASHA_TG.id}"

    # The same link again, from Asha: already linked. From anyone else: used.
    again = await said(fake, ASHA_TG, f"/start {offer.code}", 3)
    assert again[0] == t.phrase("link_already")
    assert await said(fake, MALLORY_TG, f"/start {offer.code}", 1) == [t.phrase("link_used", "hi")]
    async with db.transaction() as session:
        mallory = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.external_id == str(MALLORY_TG.id)
            )
        )
    assert mallory != asha

    # The console's customer panel, on Asha's web chat: her Telegram account, its
    # conversation and the ticket she opened there, beside the web chat.
    async with db.transaction() as session:
        web_chat = (
            await ConversationRepository(session).get_or_create(
                channel="webchat",
                conversation_key="asha-laptop",
                user_id="asha-laptop",
                user_name=None,
            )
        ).id
        telegram_chat = await session.scalar(
            select(Conversation.id).where(Conversation.channel == "telegram")
        )
    await t.rig.add_agent("priya", password=PASSWORD)
    page = await console_page(t.rig, f"/console/c/{web_chat}")
    panel = page[page.index('id="customer-side"') :]
    assert f"telegram: Asha ({ASHA_TG.id})" in panel and "webchat: 1 session(s)" in panel
    assert "HD-1001" in panel and f'href="/console/c/{telegram_chat}"' in panel


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_forged_expired_and_taken_codes_are_refused_in_the_customers_language(
    telegram: tuple[FakeTelegram, TicketRig, LinkCodes],
) -> None:
    fake, t, links = telegram
    db = t.rig.db
    asha = await verified(db, "asha-laptop")
    ravi = await verified(db, "ravi-phone", RAVI)
    assert await said(fake, MALLORY_TG, f"/start {new_code()}", 1) == [
        t.phrase("link_unknown", "hi")
    ]
    old = LinkCodes(db, telegram_username=links.telegram_username, clock=_an_hour_ago)
    stale = await old.offer(asha, "telegram")
    assert await said(fake, MALLORY_TG, f"/start {stale.code}", 1) == [
        t.phrase("link_expired", "hi")
    ]
    # A code for Slack does not work on Telegram.
    slack_code = await LinkCodes(db, slack=True).offer(asha, "slack")
    assert await said(fake, MALLORY_TG, f"/link {slack_code.code}", 1) == [
        t.phrase("link_unknown", "hi")
    ]
    # Asha's account, once linked, is never taken over by another customer's code.
    await said(fake, ASHA_TG, f"/start {(await links.offer(asha, 'telegram')).code}", 2)
    ravis = await links.offer(ravi, "telegram")
    assert await said(fake, ASHA_TG, f"/start {ravis.code}", 1) == [t.phrase("link_taken")]
    async with db.transaction() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.external_id == str(ASHA_TG.id)
            )
        )
        [unused] = await session.scalars(select(LinkCode).where(LinkCode.customer_id == ravi))
    assert owner == asha and unused.used_at is None  # Ravi's code still works for Ravi
    # A plain /start (no code, or a campaign's parameter) is a greeting, nothing else.
    assert await said(fake, MALLORY_TG, "/start spring-sale", 1) == [t.phrase("greet", "hi")]


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_code_sent_while_the_ticket_questions_are_open_links_the_account(
    telegram: tuple[FakeTelegram, TicketRig, LinkCodes],
) -> None:
    """The ticket dialogue reads the customer's next words as its answer; a code is not
    an answer: it links the account (and the half-asked ticket is dropped, as any other
    command drops an open dialogue), typed as ``link <code>`` or as Telegram's deep link."""
    fake, t, links = telegram
    db = t.rig.db
    asha = await verified(db, "asha-laptop")
    assert await said(fake, ASHA_TG, "/ticket", 1) == [t.phrase("ticket_ask_summary")]
    offer = await links.offer(asha, "telegram")
    replies = await said(fake, ASHA_TG, f"link {offer.code}", 2)
    assert replies == [t.phrase("link_done"), t.phrase("greet_known", name="Asha Patel")]

    # Half way through the questions, the deep link: linked again (already), no ticket.
    await said(fake, ASHA_TG, "/ticket", 1)
    assert await said(fake, ASHA_TG, "My charger stopped working", 1) == [
        t.phrase("ticket_ask_details")
    ]
    again = await links.offer(asha, "telegram")
    replies = await said(fake, ASHA_TG, f"/start {again.code}", 2)
    assert replies == [t.phrase("link_already"), t.phrase("greet_known", name="Asha Patel")]
    async with db.transaction() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.external_id == str(ASHA_TG.id)
            )
        )
        tickets = list(await session.scalars(select(Ticket)))
        used = list(await session.scalars(select(LinkCode.used_by)))
        open_dialogues = list(await session.scalars(select(Dialogue)))
    assert owner == asha
    assert tickets == []  # neither code became a ticket's summary or details
    assert used == [f"telegram:{ASHA_TG.id}"] * 2
    assert open_dialogues == []  # the questions are over: next words are a new message


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_code_links_the_account_while_a_person_has_the_chat(
    telegram: tuple[FakeTelegram, TicketRig, LinkCodes],
) -> None:
    """The bot redeems a code even when the chat is with a person (queued or claimed): the
    customer gets the link's answer in their language, the chat stays the agent's, and
    nothing on the agent's side (the desk's events, the console's page) shows the code."""
    fake, t, links = telegram
    db = t.rig.db
    asha = await verified(db, "asha-laptop")
    priya = await t.rig.add_agent("priya", password=PASSWORD)
    await said(fake, ASHA_TG, "/human", 2)  # queued: "a person will take it", the position
    chat = await _telegram_chat(db, ASHA_TG)
    await t.rig.desk.claim(priya, chat)
    await fake.wait_for("sendMessage", 3, where=lambda c: c.params.get("chat_id") == ASHA_TG.id)
    await said(fake, MALLORY_TG, "/human", 2)  # Mallory waits in the queue
    offer = await links.offer(asha, "telegram")
    forged = new_code()

    answered = len(fake.sent_to(ASHA_TG.id))
    async with t.rig.desk.events.subscribe() as desk:
        assert await said(fake, ASHA_TG, f"/start {offer.code}", 1) == [t.phrase("link_done")]
        assert await said(fake, MALLORY_TG, f"/link {forged.upper()}", 1) == [
            t.phrase("link_unknown", "hi")
        ]
        # What the customer writes next is the agent's, as before: the chat is still theirs.
        fake.push_message(ASHA_TG, "It is about order 881")
        seen = await _desk_events_until(desk, "It is about order 881")
    # The link's answer alone: no greeting, and no bot answer to what the agent has.
    assert len(fake.sent_to(ASHA_TG.id)) == answered + 1
    shown = repr([event.as_json() for event in seen])
    assert offer.code not in shown and forged not in shown.lower()
    assert "[link code]" not in shown  # the commands were the bot's, not relayed
    # The desk hears that Asha's chat changed (it now belongs to the verified customer).
    assert any(e.kind == EventKind.CONVERSATION and e.conversation_id == chat for e in seen)

    waiting = await _telegram_chat(db, MALLORY_TG)
    async with db.transaction() as session:
        owner = await session.scalar(
            select(ChannelIdentity.customer_id).where(
                ChannelIdentity.external_id == str(ASHA_TG.id)
            )
        )
        held = await session.get(Conversation, chat)
        assert held is not None
        state, agent, customer = held.state, held.agent_id, held.customer_id
        stored = list(await session.scalars(select(Message.text).order_by(Message.id)))
        queued = await session.scalar(select(Conversation.state).where(Conversation.id == waiting))
    assert owner == customer == asha
    assert (state, agent) == (ConversationState.AGENT, priya)
    assert queued == ConversationState.QUEUED
    assert f"/start {HIDDEN}" in stored and f"/link {HIDDEN}" in stored
    assert not any(offer.code in text or forged in text.lower() for text in stored)

    page = await console_page(t.rig, f"/console/c/{chat}")
    assert offer.code not in page and f"/start {HIDDEN}" in page
    assert "It is about order 881" in page


def test_which_messages_are_link_codes_the_bot_takes_from_a_person() -> None:
    code = new_code()
    assert link_code(f"/start {code}") == link_code(f"/start@VoltCartBot {code}") == code
    assert link_code(f"/link {code.upper()}") == link_code(f"  LINK {code} ") == code
    assert link_code("/start spring-sale") is None  # a campaign's deep link: the agent's
    assert link_code(f"/status {code}") is None and link_code(f"my code is {code}") is None
    assert hide(f"link {code.upper()}", code) == f"link {HIDDEN}"


async def _telegram_chat(db: Database, user: TelegramUser) -> int:
    async with db.transaction() as session:
        found = await session.scalar(
            select(Conversation.id).where(
                Conversation.channel == "telegram",
                Conversation.conversation_key == str(user.id),
            )
        )
    assert found is not None
    return found


async def _desk_events_until(desk: Subscription, text: str) -> list[DeskEvent]:
    """The desk's events up to the relay of the customer message ``text``."""
    seen: list[DeskEvent] = []
    while True:
        event = await asyncio.wait_for(desk.next(), 10)
        seen.append(event)
        if event.kind == EventKind.MESSAGE and event.data["message"]["text"] == text:
            return seen


async def test_only_a_verified_customer_gets_codes_and_only_for_running_channels(
    db: Database,
) -> None:
    anonymous = await CustomerDirectory(db).identify(
        namespace="shop-key", channel="webchat", user_id="anon", identity=Identity(name="Asha")
    )
    links = LinkCodes(db, telegram_username=lambda: "VoltCartBot", slack=False)
    assert links.channels() == ["telegram"]
    with pytest.raises(NotLinkable):
        await links.offer(anonymous.customer_id, "telegram")
    with pytest.raises(NotLinkable):
        await links.offer(await verified(db, "s1"), "slack")
    assert LinkCodes(db).channels() == []  # Telegram's name not known yet: no link to show
    # Two workers redeeming one code: exactly one marks it used.
    offer = await links.offer(await verified(db, "s1"), "telegram")
    async with db.transaction() as session:
        codes = LinkCodeRepository(session)
        found = await codes.find(code_hash(offer.code))
        assert found is not None
        assert await codes.use(found, now=utcnow(), used_by="telegram:1")
        assert not await codes.use(found, now=utcnow(), used_by="telegram:2")


async def test_link_code_in_a_slack_dm_through_bolt(db: Database) -> None:
    asha = await verified(db, "asha-laptop")
    async with FakeSlack() as slack:
        slack.add_user("U1", "asha", locale="te-IN")
        slack.add_user("U2", "mallory", locale="en-US")
        channel = http_slack(slack)
        t = await make_ticket_rig(db, channel=channel)
        links = link_codes(db, [channel])  # as helpdesk run wires it
        assert links.channels() == ["slack"]

        app = channel_app(t.rig.engine, channel)
        try:
            async with serve(app) as address:
                url = f"http://{address}/slack/events"

                async def replies(dm: str, count: int) -> list[dict[str, Any]]:
                    calls = await slack.wait_for(
                        "chat.postMessage", count, where=lambda c: c.args["channel"] == dm
                    )
                    return [c.args for c in calls]

                offer = await links.offer(asha, "slack")
                assert offer.url is None and offer.text == f"link {offer.code}"
                await slack.post_event(url, slack.dm("U1", f"link {offer.code.upper()}"))
                posted = await replies("DU1", 2)
                assert posted[0]["text"] == escape(t.phrase("link_done", "te"))
                assert posted[1]["text"] == escape(t.phrase("greet_known", "te", name="Asha Patel"))
                await slack.post_event(url, slack.dm("U2", f"link {offer.code}"))
                posted = await replies("DU2", 1)
                assert posted[0]["text"] == escape(t.phrase("link_used"))
        finally:
            await channel.stop()
    async with db.transaction() as session:
        rows = await session.execute(
            select(ChannelIdentity.external_id, ChannelIdentity.customer_id)
        )
        owners = {external_id: customer_id for external_id, customer_id in rows}
    assert owners["U1"] == asha and owners["U2"] != asha


async def test_link_code_in_a_slack_dm_an_agent_has(db: Database) -> None:
    """``link <code>`` in a Slack DM a person has: linked, told so in Telugu, and the
    agent's desk never gets the code; the chat stays the agent's."""
    asha = await verified(db, "asha-laptop")
    async with FakeSlack() as slack:
        slack.add_user("U1", "asha", locale="te-IN")
        channel = http_slack(slack)
        t = await make_ticket_rig(db, channel=channel)
        links = link_codes(db, [channel])
        priya = await t.rig.add_agent("priya", languages=["te", "en"])

        app = channel_app(t.rig.engine, channel)
        try:
            async with serve(app) as address:
                url = f"http://{address}/slack/events"

                async def posted(count: int) -> list[str]:
                    calls = await slack.wait_for(
                        "chat.postMessage", count, where=lambda c: c.args["channel"] == "DU1"
                    )
                    return [str(c.args["text"]) for c in calls]

                await slack.post_event(url, slack.dm("U1", "/human"))
                await posted(2)  # a person will take it, and the place in the queue
                async with db.transaction() as session:
                    chat = await session.scalar(
                        select(Conversation.id).where(Conversation.channel == "slack")
                    )
                assert chat is not None
                await t.rig.desk.claim(priya, chat)
                await posted(3)
                offer = await links.offer(asha, "slack")
                async with t.rig.desk.events.subscribe() as desk:
                    await slack.post_event(url, slack.dm("U1", f"link {offer.code.upper()}"))
                    replies = await posted(4)
                    assert replies[3] == escape(t.phrase("link_done", "te"))
                    await slack.post_event(url, slack.dm("U1", "ధన్యవాదాలు"))
                    seen = await _desk_events_until(desk, "ధన్యవాదాలు")
                assert len(await posted(4)) == 4  # no greeting after the link's answer
        finally:
            await channel.stop()
    assert offer.code not in repr([event.as_json() for event in seen]).lower()
    async with db.transaction() as session:
        held = await session.get(Conversation, chat)
        assert held is not None
        assert (held.state, held.agent_id, held.customer_id) == (
            ConversationState.AGENT,
            priya,
            asha,
        )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_helpdesk_run_gives_codes_the_configured_lifetime(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``channels.webchat.link_code_minutes``: the code the shop's server gets through
    ``POST /webchat/link`` of the app ``helpdesk run`` builds expires after that long."""
    monkeypatch.setenv("SHOP_WIDGET_SECRET", SECRET.decode())
    settings = project_settings()
    site = WebchatSiteSettings(
        key="shop-key", origins=["https://shop.example.com"], secret_env="SHOP_WIDGET_SECRET"
    )
    webchat = settings.channels.webchat.model_copy(update={"sites": [site], "link_code_minutes": 5})
    slack = SlackSettings(mode="http", base_url="http://127.0.0.1:9/api/")
    settings = settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": "http://127.0.0.1:9"}),
            "database": settings.database.model_copy(update={"url": db.url}),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
            "channels": settings.channels.model_copy(update={"webchat": webchat, "slack": slack}),
        }
    )
    secrets = Secrets.model_validate(
        {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "signing-secret"}
    )
    channels = build_channels(settings, secrets)
    helpdesk = build_helpdesk(settings, secrets, channels=channels, model=None)
    try:
        app = build_web_app(helpdesk, channels, progress=lambda _: None)
        transport = httpx.ASGITransport(app=app)  # no lifespan: nothing starts
        async with httpx.AsyncClient(transport=transport, base_url="http://bot") as http:
            asked = utcnow()
            body = {"site": "shop-key", "channel": "slack", "token": customer_token(SECRET)}
            given = await http.post("/webchat/link", json=body)
        assert given.status_code == 200, given.text
        expires = datetime.fromisoformat(given.json()["expires_at"])
        assert timedelta(minutes=4) < expires - asked <= timedelta(minutes=5, seconds=30)
    finally:
        await helpdesk.db.dispose()


def _an_hour_ago() -> Any:
    return utcnow() - timedelta(hours=1)
