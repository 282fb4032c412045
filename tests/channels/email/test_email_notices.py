"""Ticket notifications by email for customers of the other channels, end to end.

The real web chat socket (a site that signs its customers), the real email channel
against Dovecot and aiosmtpd, the ticket service and the notice job on a fake clock.
Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete
from starlette.routing import Route
from websockets.asyncio.client import connect

from bot.app import build_channels, build_helpdesk, build_web_app
from bot.channels import Channel
from bot.channels.email.channel import EmailChannel
from bot.channels.telegram.channel import TelegramChannel
from bot.desk.service import Desk
from bot.settings import ConfigError, Secrets, Settings
from bot.storage.database import Database
from bot.storage.models import (
    Agent,
    AgentPresence,
    Conversation,
    ConversationState,
    Delivery,
    Direction,
    EmailNotice,
    HandoffEvent,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from bot.storage.repositories import AgentRepository
from tests.channels.email.mails import mail as customer_mail
from tests.channels.email.mails import raw
from tests.channels.email.test_email_channel import body, channel_for, mail_where
from tests.channels.telegram.test_telegram_channel import (
    FAST_BACKOFF,
    FAST_RETRY,
    settings_for,
)
from tests.conftest import TEST_KB, project_settings
from tests.support.fake_slack import FakeSlack
from tests.support.fake_telegram import FakeTelegram, TelegramUser
from tests.support.imap_client import MailboxClient
from tests.support.mail_servers import Dovecot, SmtpServer
from tests.support.notice_rig import SHOP, NoticeRig, identify, make_notice_rig
from tests.support.server import serve
from tests.support.stored_rows import stored_rows
from tests.support.tickets import channel_app, http_slack
from tests.support.waiting import wait_until

NINO = "nino@example.org"


@pytest.fixture
async def rig(db: Database, dovecot: Dovecot, smtp: SmtpServer) -> AsyncIterator[NoticeRig]:
    email = channel_for(dovecot, smtp)
    built = await make_notice_rig(db, email)
    try:
        yield built
    finally:
        await email.stop()


async def notices(db: Database) -> list[EmailNotice]:
    return await stored_rows(db, EmailNotice)


async def chat_frames(ws: Any, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(30):
        while len(frames) < count:
            frame = json.loads(await ws.recv())
            if frame["type"] == "message":
                frames.append(frame)
    return frames


async def test_a_web_chat_customer_who_left_gets_the_update_by_email_and_answers_by_email(
    rig: NoticeRig, smtp: SmtpServer, dovecot: Dovecot
) -> None:
    async with serve(rig.app) as address:
        chat = f"ws://{address}/ws/chat?site=shop-key&session="
        # On the laptop: a verified customer (Georgian) writes, then closes the tab.
        async with connect(chat + "laptop-session-1", origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            await identify(ws, sub="42", name="Nino", email=NINO, locale="ka")
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            await chat_frames(ws, 1)
        laptop = await rig.conversation("webchat", "laptop-session-1")
        ticket_id = await rig.ticket_for(laptop, language="ka")
        reference = await rig.reference(ticket_id)

        await rig.tickets.public_reply(
            ticket_id, "Your replacement ships on Monday.", actor="priya"
        )
        assert await rig.job.run() == 0  # the chat may still take it
        assert smtp.mails() == []
        rig.clock.advance(seconds=61)
        assert await rig.job.run() == 1
        notice = await mail_where(smtp, lambda m: "ships on Monday" in body(m))
        assert notice["To"] == NINO
        assert notice["Subject"] == f"Re: Broken charger [{reference}]"
        assert notice["Content-Language"] == "ka"
        assert rig.phrase("email_notice_intro", "ka") in body(notice)
        assert notice["Message-ID"].startswith("<hd.")
        assert notice["Auto-Submitted"] == "auto-replied"
        [decided] = await notices(rig.db)
        assert decided.outcome == "emailed" and decided.email_message_id is not None
        assert await rig.job.run() == 0  # decided once: never mailed twice

        # On the phone, signed in as the same customer: the update is in the widget.
        async with connect(chat + "phone-session-22", origin=SHOP) as ws:
            assert json.loads(await ws.recv()) == {"type": "history", "messages": []}
            await identify(ws, sub="42", name="Nino", email=NINO, locale="ka")
            [update] = await chat_frames(ws, 1)
            assert "Your replacement ships on Monday." in update["text"]
        # Marked delivered once sent (just after the frame): the outbox will not resend it.
        await wait_until(
            lambda: stored_rows(
                rig.db, Message, Message.id == decided.message_id, Message.delivery == Delivery.SENT
            ),
            within=30,
            what="the update marked delivered",
        )

    # The customer answers the mail from their client: it lands on the ticket.
    words = "ყუთიც დაზიანებული იყო."  # "The box was damaged too."
    answer = customer_mail(
        words,
        sender=NINO,
        name="Nino",
        subject=f"Re: Broken charger [{reference}]",
        in_reply_to=notice["Message-ID"],
        references=[notice["Message-ID"]],
    )
    await MailboxClient(dovecot).deliver(raw(answer))

    async def landed() -> bool:
        [ticket] = await stored_rows(rig.db, Ticket, Ticket.id == ticket_id)
        return ticket.status == TicketStatus.OPEN

    await wait_until(landed, within=30, what="the ticket reopened by the mail")
    events = await stored_rows(rig.db, TicketEvent, TicketEvent.ticket_id == ticket_id)
    assert ("customer_reply", "customer", words) in [(e.kind, e.actor, e.detail) for e in events]
    added = rig.phrase("ticket_reply_added", "ka", reference=reference)
    confirmation = await mail_where(smtp, lambda m: added in body(m))
    assert confirmation["In-Reply-To"] == answer["Message-ID"]
    assert confirmation["Subject"] == f"Re: Broken charger [{reference}]"
    inbound = await stored_rows(rig.db, Message, Message.direction == Direction.IN)
    assert inbound[-1].channel == "email"
    assert inbound[-1].subject == f"Re: Broken charger [{reference}]"


async def test_delivered_chats_are_not_mailed_and_refused_ones_are(
    rig: NoticeRig, smtp: SmtpServer, dovecot: Dovecot, db: Database
) -> None:
    async with serve(rig.app) as address:
        chat = f"ws://{address}/ws/chat?site=shop-key&session="
        async with connect(chat + "open-tab-session", origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            await chat_frames(ws, 1)
            here = await rig.conversation("webchat", "open-tab-session")
            ticket_id = await rig.ticket_for(here, email="asha@example.org")
            await rig.tickets.set_status(ticket_id, TicketStatus.PENDING, actor="priya")
            [needs_input] = await chat_frames(ws, 1)  # the tab is open: it is shown there
            assert "needs your input" in needs_input["text"]
        rig.clock.advance(seconds=61)
        assert await rig.job.run() == 0
    [decided] = await notices(db)
    assert decided.outcome == "delivered"
    assert smtp.mails() == []


async def test_telegram_is_mailed_only_once_the_chat_refuses_and_typed_addresses_can_be_off(
    db: Database, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    ravi = TelegramUser(2002, "Ravi", language_code="hi")
    async with FakeTelegram() as fake:
        fake.start_chat(ravi)
        telegram = TelegramChannel(
            token=fake.token, settings=settings_for(fake), retry=FAST_RETRY, backoff=FAST_BACKOFF
        )
        email = channel_for(dovecot, smtp)
        rig = await make_notice_rig(db, email, others=(telegram,))
        try:
            await telegram.wait_connected(10)
            fake.push_message(ravi, "hello")
            await wait_until(
                lambda: stored_rows(db, Message, Message.channel == "telegram"),
                within=30,
                what="Ravi's message stored",
            )
            conversation = await rig.conversation("telegram", str(ravi.id))
            # The address Ravi typed in the ticket dialogue (not verified by anyone).
            ticket_id = await rig.ticket_for(
                conversation, language="hi", contact="ravi@example.org"
            )
            reference = await rig.reference(ticket_id)

            # Telegram takes it: nothing by email, however long the wait.
            await rig.tickets.set_status(ticket_id, TicketStatus.PENDING, actor="priya")
            rig.clock.advance(days=1)
            assert await rig.job.run() == 0

            # Ravi blocks the bot: the next notification is refused for good, and mailed.
            fake.block(ravi)
            await rig.tickets.public_reply(ticket_id, "We found your order.", actor="priya")
            assert await rig.job_with(only_verified=True).run() == 0  # typed: not wanted here
            outcomes = [n.outcome for n in await notices(db)]
            assert outcomes == ["delivered", "no_address"]

            await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
            assert await rig.job.run() == 1  # no wait: Telegram refused it
            resolved = rig.phrase("ticket_resolved", "hi", reference=reference)
            mailed = await mail_where(smtp, lambda m: resolved in body(m))
            assert mailed["To"] == "ravi@example.org"
            assert mailed["Content-Language"] == "hi"
            assert f"[{reference}]" in mailed["Subject"]
            # The CSAT question asked with the resolution comes as signed links.
            assert rig.phrase("csat_request", "hi") in body(mailed)
            assert body(mailed).count("http://survey.invalid/survey/") == 5
        finally:
            await email.stop()
            await telegram.stop()


@pytest.mark.parametrize("refusal", ["channel_not_found", "is_archived"])
async def test_slack_refusing_a_dm_for_good_mails_the_notice_and_a_token_problem_does_not(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, refusal: str
) -> None:
    """Through slack-bolt against the Slack fake: a DM Slack refuses for good (the person's
    DM gone or archived) is mailed at once; a refusal of the bot's own token
    (``account_inactive``) is the platform's trouble, not the customer's: it waits for
    the outbox's retry and is never mailed."""
    async with FakeSlack() as slack:
        slack.add_user("U7", "meera", locale="te-IN")
        channel = http_slack(slack)
        email = channel_for(dovecot, smtp)
        rig = await make_notice_rig(db, email, others=(channel,))

        app = channel_app(rig.engine, channel)
        try:
            async with serve(app) as address:
                await slack.post_event(f"http://{address}/slack/events", slack.dm("U7", "hello"))
                await slack.wait_for("chat.postMessage", 1)
            [conversation] = await stored_rows(db, Conversation, Conversation.channel == "slack")
            ticket_id = await rig.ticket_for(
                conversation, language="te", email="meera@example.org", verified=True
            )
            reference = await rig.reference(ticket_id)

            slack.fail("chat.postMessage", "account_inactive")
            await rig.tickets.public_reply(ticket_id, "We found your order.", actor="priya")
            rig.clock.advance(days=1)
            assert await rig.job.run() == 0  # still the chat's to deliver
            [waiting] = await notices(db)
            assert waiting.outcome is None
            await rig.engine.flush_outbox()  # the outbox's retry: Slack takes it now
            assert await rig.job.run() == 0
            assert [n.outcome for n in await notices(db)] == ["delivered"]

            slack.fail("chat.postMessage", refusal)
            await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
            assert await rig.job.run() == 1  # no wait: Slack refused it for good
            resolved = rig.phrase("ticket_resolved", "te", reference=reference)
            mailed = await mail_where(smtp, lambda m: resolved in body(m))
            assert mailed["To"] == "meera@example.org"
            assert mailed["Content-Language"] == "te"
            assert f"[{reference}]" in mailed["Subject"]
            # The resolution and its CSAT question: two notices, one mail.
            assert [n.outcome for n in await notices(db)] == ["delivered", "emailed", "emailed"]
            assert "We found your order." not in body(mailed)  # delivered on Slack already
            assert body(mailed).count("http://survey.invalid/survey/") == 5  # the CSAT
            refused = await stored_rows(
                db, Message, Message.channel == "slack", Message.delivery == Delivery.FAILED
            )
            assert refused and f"Slack: {refusal}" in (refused[0].last_error or "")
        finally:
            await email.stop()
            await channel.stop()


async def test_an_agents_live_chat_reply_reaches_a_web_chat_customer_who_left_by_email(
    rig: NoticeRig, smtp: SmtpServer, db: Database
) -> None:
    """An agent answering in the console (no ticket) after the customer closed the tab:
    the same rule as a ticket's notices (nobody had the chat open for webchat_after_s),
    mailed under the agent's name to the verified address; not while the tab is open,
    and not when ``chat_reply`` is left out of ``notices.events``."""
    async with db.transaction() as session:
        priya = (await AgentRepository(session).add(name="priya", languages=["gu"], max_chats=3)).id
    await rig.desk.set_presence(priya, AgentPresence.ONLINE)
    async with serve(rig.app) as address:
        url = f"ws://{address}/ws/chat?site=shop-key&session=asha-tab-77"
        async with connect(url, origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            await identify(ws, sub="51", name="Asha", email="asha@example.org", locale="gu")
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            await chat_frames(ws, 1)
            chat = await rig.conversation("webchat", "asha-tab-77")
            await rig.desk.claim(priya, chat.id)
            await rig.desk.reply(priya, chat.id, "Hi Asha, let me check your order.")
            joined, shown = await chat_frames(ws, 2)  # the tab is open: read there
            assert "priya" in joined["text"]
            assert shown["text"] == "Hi Asha, let me check your order."
        rig.clock.advance(seconds=61)
        assert await rig.job.run() == 0
        assert [(n.event, n.outcome, n.ticket_id) for n in await notices(db)] == [
            ("chat_reply", "delivered", None)
        ]

        # The tab is closed; the agent answers: nobody reads it in the chat.
        await rig.desk.reply(priya, chat.id, "Your refund was sent today.")
        assert await rig.job.run() == 0  # the customer may still come back
        rig.clock.advance(seconds=61)
        assert await rig.job.run() == 1
        mailed = await mail_where(smtp, lambda m: "Your refund was sent today." in body(m))
        assert mailed["To"] == "asha@example.org"
        assert mailed["Content-Language"] == "gu"
        assert rig.phrase("email_notice_intro", "gu") in body(mailed)
        assert "priya: Your refund was sent today." in body(mailed)
        assert "[HD-" not in mailed["Subject"]  # no ticket: the live chat's own thread
        assert "let me check your order" not in body(mailed)  # read in the chat already
        assert [n.outcome for n in await notices(db)] == ["delivered", "emailed"]

        # A team that wants only the tickets' news by email: the reply waits in the chat.
        await rig.desk.reply(priya, chat.id, "Anything else I can do?")
        rig.clock.advance(seconds=61)
        only_tickets = rig.job_with(
            webchat_after_s=60, events=["answered", "needs_input", "resolved"]
        )
        assert await only_tickets.run() == 0
        assert [n.outcome for n in await notices(db)][-1] == "not_wanted"


ASHA = "asha@example.org"


async def mail_a_chat_reply(rig: NoticeRig, smtp: SmtpServer) -> tuple[int, Conversation, Any]:
    """Asha (verified, Gujarati) says hello in the web chat and closes the tab; priya
    takes the chat and answers; the answer is mailed. Returns priya, the chat, the mail."""
    async with rig.db.transaction() as session:
        priya = (await AgentRepository(session).add(name="priya", languages=["gu"], max_chats=3)).id
    await rig.desk.set_presence(priya, AgentPresence.ONLINE)
    async with serve(rig.app) as address:
        url = f"ws://{address}/ws/chat?site=shop-key&session=asha-tab-78"
        async with connect(url, origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            await identify(ws, sub="51", name="Asha", email=ASHA, locale="gu")
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            await chat_frames(ws, 1)
    chat = await rig.conversation("webchat", "asha-tab-78")
    await rig.desk.claim(priya, chat.id)
    await rig.desk.reply(priya, chat.id, "Your refund was sent today.")
    rig.clock.advance(seconds=61)
    assert await rig.job.run() == 1
    mailed = await mail_where(smtp, lambda m: "priya: Your refund was sent today." in body(m))
    assert mailed["To"] == ASHA
    return priya, chat, mailed


async def answer_by_mail(
    rig: NoticeRig, dovecot: Dovecot, mailed: Any, words: str, *, nth: int = 1
) -> Any:
    """Asha answers the mail from her mail client (her ``nth`` mail); returns it once it
    is stored and its turn is over."""
    answer = customer_mail(
        words,
        sender=ASHA,
        name="Asha",
        subject=f"Re: {mailed['Subject']}",
        in_reply_to=mailed["Message-ID"],
        references=[mailed["Message-ID"]],
    )
    await MailboxClient(dovecot).deliver(raw(answer))

    async def answered() -> bool:
        done = await stored_rows(
            rig.db,
            Message,
            Message.channel == "email",
            Message.direction == Direction.IN,
            Message.delivery == Delivery.PROCESSED,
        )
        return len(done) >= nth

    await wait_until(answered, within=30, what="Asha's mail stored and its turn over")
    return answer


async def thread_of(
    rig: NoticeRig,
) -> tuple[Conversation, list[str], list[tuple[str, str, str, str]]]:
    """The email thread of the chat: the conversation, what we wrote in it, its handoffs."""
    [thread] = await stored_rows(rig.db, Conversation, Conversation.channel == "email")
    written = await stored_rows(
        rig.db,
        Message,
        Message.conversation_id == thread.id,
        Message.direction == Direction.OUT,
    )
    events = await stored_rows(rig.db, HandoffEvent, HandoffEvent.conversation_id == thread.id)
    moves = [(e.from_state.value, e.to_state.value, e.reason, e.detail or "") for e in events]
    return thread, [m.text for m in written], moves


async def test_a_reply_by_email_to_an_agents_mailed_chat_reply_goes_to_that_agent(
    rig: NoticeRig, smtp: SmtpServer, dovecot: Dovecot
) -> None:
    """The customer answers an agent's live chat reply that reached them by mail: the
    answer is the agent's, not the bot's (not even an FAQ it knows), the chat's origin is
    on the thread's history, and the agent's reply goes back into the customer's thread."""
    priya, chat, mailed = await mail_a_chat_reply(rig, smtp)
    await rig.desk.heartbeat(priya)  # her console is open
    # Word for word an FAQ the bot answers on its own anywhere else.
    answer = await answer_by_mail(rig, dovecot, mailed, "Where is my order?")

    thread, written, moves = await thread_of(rig)
    assert (thread.state, thread.agent_id) == (ConversationState.AGENT, priya)
    assert thread.handoff_reason == "replied_to_agent"
    assert len(written) == 1 and "priya: Your refund was sent today." in written[0]
    assert moves == [
        (
            "bot",
            "queued",
            "replied_to_agent",
            f"a reply to the mail of webchat chat /console/c/{chat.id}",
        ),
        ("queued", "agent", "replied_to_agent", "to priya, whose reply it answers"),
    ]
    assert len(smtp.mails()) == 1  # the bot mailed nothing

    # priya answers from the console: by mail, in Asha's thread, as a person.
    await rig.desk.reply(priya, thread.id, "It left our warehouse this morning.")
    reply = await mail_where(smtp, lambda m: "It left our warehouse this morning." in body(m))
    assert reply["To"] == ASHA
    assert reply["In-Reply-To"] == answer["Message-ID"]
    assert reply["Auto-Submitted"] is None

    # Once priya resolved it, a new mail in the thread answers no agent: the bot's again.
    await rig.desk.resolve(priya, thread.id)
    await answer_by_mail(rig, dovecot, reply, "Where is my order?", nth=2)
    thread, _, moves = await thread_of(rig)
    assert thread.state == ConversationState.BOT
    assert moves[-1][:3] == ("resolved", "bot", "customer_returned")
    [*_, again] = await stored_rows(rig.db, Message, Message.conversation_id == thread.id)
    assert again.direction == Direction.OUT and again.sender == "bot"


@pytest.mark.parametrize("gone", ["offline", "account removed"])
async def test_a_reply_by_email_to_an_agent_who_is_not_available_goes_to_the_queue(
    rig: NoticeRig, smtp: SmtpServer, dovecot: Dovecot, gone: str
) -> None:
    """The agent who wrote the mailed reply has gone offline, or their account is gone:
    the customer's answer is handed over like any other (the queue, its position
    mailed), never to the bot."""
    priya, chat, mailed = await mail_a_chat_reply(rig, smtp)
    if gone == "offline":
        await rig.desk.set_presence(priya, AgentPresence.OFFLINE)
    else:
        async with rig.db.transaction() as session:
            await session.execute(delete(Agent).where(Agent.id == priya))
    async with rig.db.transaction() as session:
        meera = (await AgentRepository(session).add(name="meera", languages=["gu"], max_chats=3)).id
    await rig.desk.set_presence(meera, AgentPresence.ONLINE)
    await answer_by_mail(rig, dovecot, mailed, "Where is my order?")

    thread, written, moves = await thread_of(rig)
    assert (thread.state, thread.agent_id) == (ConversationState.QUEUED, None)
    assert thread.handoff_reason == "replied_to_agent"
    assert moves == [
        (
            "bot",
            "queued",
            "replied_to_agent",
            f"a reply to the mail of webchat chat /console/c/{chat.id}",
        ),
    ]
    language = thread.language or "en"
    assert written[1:] == [
        rig.phrase("handoff_requested", language),
        rig.phrase("handoff_next_in_line", language),
    ]
    told = await mail_where(smtp, lambda m: rig.phrase("handoff_next_in_line", language) in body(m))
    assert told["To"] == ASHA
    # Anyone may take it from the queue now.
    assert await rig.desk.take_next(meera) == thread.id


# --- wiring --------------------------------------------------------------------------------


def email_settings(db: Database, **email: Any) -> Settings:
    settings = project_settings()
    channels = settings.channels.model_copy(
        update={
            "email": settings.channels.email.model_copy(
                update={"address": "support@example.com", "imap_host": "127.0.0.1", **email}
            )
        }
    )
    return settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": "http://127.0.0.1:9"}),
            "database": settings.database.model_copy(update={"url": db.url}),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
            "channels": channels,
        }
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_helpdesk_run_wires_the_notices_and_the_survey_page_with_the_email_channel(
    db: Database,
) -> None:
    from bot.settings import SurveyLinkSettings

    links = SurveyLinkSettings(base_url="https://support.example.com")
    settings = email_settings(db, survey_links=links)
    secrets = Secrets.model_validate(
        {"EMAIL_IMAP_PASSWORD": "app password", "SURVEY_LINK_SECRET": "x" * 40}
    )
    channels: list[Channel] = build_channels(settings, secrets)
    [email] = [c for c in channels if isinstance(c, EmailChannel)]
    assert email.survey_links is not None
    assert email.survey_links.url(7, "4").startswith("https://support.example.com/survey/7/4?e=")
    helpdesk = build_helpdesk(settings, secrets, channels=channels, model=None)
    try:
        app = build_web_app(helpdesk, channels, progress=lambda _: None)
        jobs = {job.name: job for job in helpdesk.tasks._jobs}
        assert jobs["email-notices"].once_per_cluster
        desk = helpdesk.engine.desk
        assert isinstance(desk, Desk) and "chat_reply" in desk.core.email_notices
        [page] = [r for r in app.routes if getattr(r, "path", "").startswith("/survey/")]
        assert isinstance(page, Route) and page.path == "/survey/{request_id:int}/{value}"
        # The page's closed or reopened tickets reach the consoles.
        assert page.endpoint.__self__.events is desk.events  # type: ignore[attr-defined]
    finally:
        await helpdesk.db.dispose()

    # Without the email channel there is nothing to send with: no job, no page.
    plain = email_settings(db, enabled=False)
    none: list[Channel] = build_channels(plain, secrets)
    assert not any(isinstance(c, EmailChannel) for c in none)
    helpdesk = build_helpdesk(plain, secrets, channels=none, model=None)
    try:
        app = build_web_app(helpdesk, none, progress=lambda _: None)
        assert "email-notices" not in {job.name for job in helpdesk.tasks._jobs}
        assert not any("/survey/" in getattr(r, "path", "") for r in app.routes)
    finally:
        await helpdesk.db.dispose()

    short = Secrets.model_validate(
        {"EMAIL_IMAP_PASSWORD": "app password", "SURVEY_LINK_SECRET": "short"}
    )
    with pytest.raises(ConfigError, match="SURVEY_LINK_SECRET"):
        build_channels(settings, short)
