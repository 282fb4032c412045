"""Telegram end to end: fake Bot API -> real Application -> engine -> real Rasa -> storage.

Each test runs on SQLite and on PostgreSQL. The Application polls the fake server (or
receives its webhook POSTs), and the assertions read what the fake recorded.
"""

from __future__ import annotations

import asyncio
import html
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from bot.channels import ChannelRegistry
from bot.channels.telegram.channel import TelegramChannel, command_menu
from bot.channels.telegram.outbound import TEXT_LIMIT, utf16_length
from bot.channels.telegram.retry import Backoff, SendRetryPolicy
from bot.channels.telegram.webhook import SECRET_HEADER
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase, load_knowledge_base
from bot.messages import InboundMessage
from bot.nlu.rasa_server import RasaSupervisor
from bot.settings import TelegramSettings
from bot.storage.database import Database
from bot.storage.models import ChannelIdentity, Delivery, Direction, Message
from bot.storage.repositories import ConversationRepository, MessageRepository
from bot.web.app import create_web_app
from tests.conftest import TEST_KB, engine_options
from tests.support.fake_telegram import Call, Failure, FakeTelegram, TelegramUser
from tests.support.server import serve

pytestmark = [
    pytest.mark.rasa,
    # python-telegram-bot itself warns while building a RetryAfter (its type changes).
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]

KB = load_knowledge_base(TEST_KB)
CATALOGUE = Catalogue.load(default_language="en")
LONG_ANSWER = " ".join(
    f"Point {i}: the warranty covers manufacturing defects for parts and labour." for i in range(82)
)
ALICE = TelegramUser(1001, "Alice", language_code="en")
GITA = TelegramUser(1002, "Gita", language_code="gu")
RAVI = TelegramUser(1003, "Ravi", language_code="hi")
SECRET = "webhook-secret_42"


def answer(faq_id: str, language: str = "en") -> str:
    return KB.entries[faq_id].answers[language]


@pytest.fixture(scope="session")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test knowledge base with one 6,000-character answer (answers need no retraining)."""
    target = tmp_path_factory.mktemp("kb")
    shutil.copytree(TEST_KB, target, dirs_exist_ok=True)
    path = target / "shop.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in data["faqs"]:
        if entry["id"] == "warranty_coverage":
            entry["answer"]["en"] = LONG_ANSWER
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return target


class Processing:
    """Wraps ``Engine.receive``: tells the test when the engine finished an update."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.done = 0
        self._changed = asyncio.Condition()

    async def __call__(self, inbound: InboundMessage, *, on_stored: Any = None) -> object:
        try:
            return await self.engine.receive(inbound, on_stored=on_stored)
        finally:
            self.done += 1
            async with self._changed:
                self._changed.notify_all()

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: self.done >= count)


@dataclass
class TelegramBot:
    fake: FakeTelegram
    channel: TelegramChannel
    engine: Engine
    db: Database
    processed: Processing
    address: str | None = None

    async def conversation_rows(self, key: str) -> list[Message]:
        return await self.engine.transcript(channel="telegram", conversation_key=key)


def build(fake: FakeTelegram, db: Database, rasa: RasaSupervisor, kb_dir: Path, **settings: Any):  # type: ignore[no-untyped-def]
    channel = TelegramChannel(
        token=fake.token,
        settings=TelegramSettings(
            base_url=fake.base_url, base_file_url=fake.base_file_url, poll_timeout_s=5, **settings
        ),
        webhook_secret=SECRET if settings.get("mode") == "webhook" else None,
        commands=command_menu(CATALOGUE, languages=["en", "gu", "te", "ka", "hi"]),
        retry=SendRetryPolicy(network_backoff=(0.01, 0.02, 0.05)),
        backoff=Backoff((0.01, 0.05)),
    )
    registry = ChannelRegistry()
    registry.add(channel)
    nlu = rasa.client()
    engine = Engine(
        db=db,
        nlu=nlu,
        kb=LiveKnowledgeBase(kb_dir, default_language="en"),
        catalogue=CATALOGUE,
        channels=registry,
        options=engine_options(),
    )
    return channel, engine, nlu


@pytest.fixture
async def bot(db: Database, rasa: RasaSupervisor, kb_dir: Path) -> AsyncIterator[TelegramBot]:
    """The bot in polling mode."""
    async with FakeTelegram() as fake:
        channel, engine, nlu = build(fake, db, rasa, kb_dir)
        processing = Processing(engine)
        await channel.start(processing)
        await channel.wait_connected(10)
        yield TelegramBot(fake, channel, engine, db, processing)
        await channel.stop()
        await nlu.close()


@pytest.fixture
async def webhook_bot(
    db: Database, rasa: RasaSupervisor, kb_dir: Path
) -> AsyncIterator[TelegramBot]:
    """The bot in webhook mode, its endpoint served by the web app on a real socket."""
    async with FakeTelegram() as fake:
        channel, engine, nlu = build(
            fake, db, rasa, kb_dir, mode="webhook", webhook_url="https://placeholder.invalid/"
        )

        async def readiness() -> dict[str, object]:
            return {"ready": True}

        app = create_web_app(
            engine=engine, webchat=None, readiness=readiness, routes=channel.routes()
        )
        async with serve(app) as address:
            # The public URL is known once the server listens (behind a proxy in production).
            channel.settings.webhook_url = f"http://{address}/telegram/webhook"
            processing = Processing(engine)
            await channel.start(processing)
            await channel.wait_connected(10)
            yield TelegramBot(fake, channel, engine, db, processing, address)
            await channel.stop()
        await nlu.close()


def texts(calls: list[Call]) -> list[str]:
    return [call.result["text"] for call in calls]


# --- polling ----------------------------------------------------------------------------


async def test_polling_update_in_reply_out(bot: TelegramBot) -> None:
    bot.fake.push_message(ALICE, "where is my order?")
    [reply] = await bot.fake.wait_for("sendMessage")
    assert reply.params["chat_id"] == ALICE.id
    assert reply.params["parse_mode"] == "HTML"
    assert reply.params["text"] == html.escape(answer("order_status"), quote=False)
    assert "reply_markup" not in reply.params
    # "typing..." went out before the answer, not after it.
    [typing] = bot.fake.calls("sendChatAction")
    assert typing.params == {"chat_id": ALICE.id, "action": "typing"}
    assert typing.at < reply.at
    await bot.processed.wait(1)
    [inbound, outbound] = await bot.conversation_rows("1001")
    assert (inbound.direction, inbound.platform_message_id) == (Direction.IN, "1001:1")
    assert (outbound.delivery, outbound.platform_message_id) == (Delivery.SENT, "1001:2")


async def test_commands_are_registered_per_language(bot: TelegramBot) -> None:
    menus = bot.fake.commands
    assert [c["command"] for c in menus[None]] == ["start", "help", "human", "ticket", "status"]
    assert set(menus) == {None, "gu", "te", "ka", "hi"}
    human = {c["command"]: c["description"] for c in menus["hi"]}["human"]
    assert human == CATALOGUE.get("talk_to_person", "hi")


async def test_start_greets_in_the_users_language(bot: TelegramBot) -> None:
    bot.fake.push_message(RAVI, "/start")
    [reply] = await bot.fake.wait_for("sendMessage")
    assert reply.result["text"] == CATALOGUE.get("greet", "hi", brand="VoltCart")
    async with bot.db.transaction() as session:
        identity = (await session.scalars(select(ChannelIdentity))).one()
    assert (identity.external_id, identity.display_name) == ("1003", "Ravi")


async def test_same_update_twice_gives_one_reply(bot: TelegramBot) -> None:
    update_id = bot.fake.push_message(ALICE, "hello")
    await bot.fake.wait_for("sendMessage")
    bot.fake.redeliver(update_id)  # as after a crash before the offset was confirmed
    bot.fake.push_message(ALICE, "where is my order?")
    await bot.processed.wait(3)
    replies = await bot.fake.wait_for("sendMessage", 2)
    assert texts(replies)[1] == answer("order_status")
    assert len(bot.fake.sent_to(ALICE.id)) == 2
    inbound = [m for m in await bot.conversation_rows("1001") if m.direction == Direction.IN]
    assert len(inbound) == 2


async def test_callback_query_is_answered_and_handled(bot: TelegramBot) -> None:
    bot.fake.push_message(ALICE, "blorp zzz qqq")
    [clarify] = await bot.fake.wait_for("sendMessage")
    keyboard = clarify.params["reply_markup"]["inline_keyboard"]
    assert keyboard[-1][0]["callback_data"] == "/human"
    faq_payload = keyboard[0][0]["callback_data"]
    assert faq_payload.startswith("/faq ")
    press = bot.fake.callback_update(ALICE, clarify, button=0)
    bot.fake.push_update(press)
    [answered] = await bot.fake.wait_for("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    _, reply = await bot.fake.wait_for("sendMessage", 2)
    assert reply.result["text"] == answer(faq_payload.split()[1])
    await bot.processed.wait(2)
    [_, _, pressed, _] = await bot.conversation_rows("1001")
    assert (pressed.payload, pressed.text) == (faq_payload, keyboard[0][0]["text"])


async def test_flood_control_delays_the_reply(bot: TelegramBot) -> None:
    bot.fake.fail_next("sendMessage", Failure.too_many_requests(retry_after=1))
    bot.fake.push_message(ALICE, "where is my order?")
    [reply] = await bot.fake.wait_for("sendMessage")
    [refused] = bot.fake.calls("sendMessage")[:1]
    assert refused.status == 429
    assert reply.at - refused.at >= 1.0
    assert reply.result["text"] == answer("order_status")
    await bot.processed.wait(1)
    [_, outbound] = await bot.conversation_rows("1001")
    assert outbound.delivery == Delivery.SENT


async def test_blocked_user_is_marked_unreachable_and_left_alone(bot: TelegramBot) -> None:
    bot.fake.push_message(ALICE, "hello")
    await bot.fake.wait_for("sendMessage")
    bot.fake.block(ALICE)
    bot.fake.push_message(ALICE, "where is my order?")
    await bot.processed.wait(2)
    async with bot.db.transaction() as session:
        identity = (await session.scalars(select(ChannelIdentity))).one()
        assert identity.unreachable_at is not None
        assert "blocked" in (identity.unreachable_reason or "")
    history = await bot.conversation_rows("1001")
    assert [m.direction for m in history] == [Direction.IN, Direction.OUT] * 2  # kept
    assert history[-1].delivery == Delivery.FAILED
    assert await bot.engine.flush_outbox() == 0
    assert [c.status for c in bot.fake.calls("sendMessage")] == [200, 403]  # nothing more
    # Writing again (they unblocked the bot) makes them reachable.
    bot.fake.unblock(ALICE)
    bot.fake.push_message(ALICE, "where is my order?")
    replies = await bot.fake.wait_for("sendMessage", 2)
    assert texts(replies)[-1] == answer("order_status")


async def test_long_answer_is_split_within_the_limit(bot: TelegramBot) -> None:
    assert len(LONG_ANSWER) >= 6000
    bot.fake.push_message(ALICE, "/faq warranty_coverage")
    parts = await bot.fake.wait_for("sendMessage", 2)
    assert len(parts) == 2
    assert all(utf16_length(text) <= TEXT_LIMIT for text in texts(parts))
    assert texts(parts)[0].endswith(".")  # cut at a sentence
    assert " ".join(texts(parts)) == LONG_ANSWER


async def test_photo_gets_the_polite_reply_and_is_recorded(bot: TelegramBot) -> None:
    photo = [
        {"file_id": "AgAD-small", "file_unique_id": "s1", "width": 90, "height": 67,
         "file_size": 1830},
        {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280, "height": 960,
         "file_size": 98214},
    ]  # fmt: skip
    bot.fake.push_message(GITA, None, photo=photo)
    [reply] = await bot.fake.wait_for("sendMessage")
    assert reply.result["text"] == CATALOGUE.get("unsupported_content", "gu")
    document = {"file_id": "BQAD-doc", "file_unique_id": "d1", "file_name": "invoice.pdf",
                "mime_type": "application/pdf", "file_size": 48000}  # fmt: skip
    bot.fake.push_message(GITA, None, document=document, caption="મારો ઓર્ડર ક્યાં છે?")
    _, answer_reply = await bot.fake.wait_for("sendMessage", 2)
    assert answer_reply.result["text"] == answer("order_status", "gu")  # the caption was read
    async with bot.db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="telegram", conversation_key="1002"
        )
        assert conversation is not None
        stored = await MessageRepository(session).attachments(conversation.id)
    assert [(a.kind, a.platform_file_id, a.size_bytes) for a in stored] == [
        ("photo", "AgAD-large", 98214),
        ("document", "BQAD-doc", 48000),
    ]
    assert stored[1].file_name == "invoice.pdf"


async def test_an_album_gets_one_polite_reply_not_one_per_photo(bot: TelegramBot) -> None:
    for n in range(3):
        photo = [{"file_id": f"AgAD-{n}", "file_unique_id": f"u{n}", "width": 800, "height": 600}]
        bot.fake.push_message(GITA, None, photo=photo, media_group_id="13579")
    bot.fake.push_message(GITA, "મારો ઓર્ડર ક્યાં છે?")  # answered after the album's turns
    await bot.fake.wait_for("sendMessage", 2)
    assert [c.result["text"] for c in bot.fake.sent_to(GITA.id)] == [
        CATALOGUE.get("unsupported_content", "gu"),
        answer("order_status", "gu"),
    ]
    async with bot.db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="telegram", conversation_key="1002"
        )
        assert conversation is not None
        stored = await MessageRepository(session).attachments(conversation.id)
    assert [(a.platform_file_id, (a.details or {}).get("album")) for a in stored] == [
        (f"AgAD-{n}", "13579") for n in range(3)
    ]


async def test_group_answers_only_when_mentioned_and_quotes_the_message(bot: TelegramBot) -> None:
    group: dict[str, Any] = {"id": -100200300, "type": "supergroup", "title": "VoltCart buyers"}
    bot.fake.push_message(ALICE, "where is my order?", chat=group)  # not for the bot
    mention = "@VoltCartBot where is my order?"
    bot.fake.push_message(
        GITA, mention, chat=group, entities=[{"type": "mention", "offset": 0, "length": 12}]
    )
    [reply] = await bot.fake.wait_for("sendMessage")
    assert reply.params["chat_id"] == group["id"]
    assert reply.params["reply_parameters"]["message_id"] == 2  # Gita's message
    assert reply.result["text"] == answer("order_status")
    assert await bot.conversation_rows("-100200300:1001") == []
    assert len(await bot.conversation_rows("-100200300:1002")) == 2
    # Removed from the group: this reply fails, but Gita stays reachable in private.
    bot.fake.remove_bot(group["id"])
    bot.fake.push_message(
        GITA, mention, chat=group, entities=[{"type": "mention", "offset": 0, "length": 12}]
    )
    await bot.processed.wait(2)
    async with bot.db.transaction() as session:
        identity = (await session.scalars(select(ChannelIdentity))).one()
    assert identity.unreachable_at is None


async def test_one_chat_in_order_many_chats_at_once(bot: TelegramBot) -> None:
    users = [TelegramUser(2000 + i, f"User{i}") for i in range(5)]
    for user in users:
        bot.fake.push_message(user, "hello")
        bot.fake.push_message(user, "where is my order?")
    await bot.fake.wait_for("sendMessage", 10)
    greeting = CATALOGUE.get("greet", "en", brand="VoltCart")
    for user in users:
        assert texts(bot.fake.sent_to(user.id)) == [greeting, answer("order_status")]


async def test_network_outage_leaves_the_reply_in_the_outbox(bot: TelegramBot) -> None:
    bot.fake.fail_next("sendMessage", Failure.network(), times=2)
    bot.fake.push_message(ALICE, "where is my order?")
    [reply] = await bot.fake.wait_for("sendMessage")  # retried inside the channel
    assert reply.result["text"] == answer("order_status")
    bot.fake.fail_next("sendMessage", Failure.bad_gateway(), times=4)  # outlasts its retries
    bot.fake.push_message(ALICE, "what payment methods do you accept?")
    await bot.processed.wait(2)
    [_, _, _, pending] = await bot.conversation_rows("1001")
    assert (pending.delivery, pending.attempts) == (Delivery.PENDING, 1)
    assert await bot.engine.flush_outbox() == 1  # the outbox's retry loop, once
    assert texts(bot.fake.sent_to(ALICE.id))[-1] == answer("payment_methods")


async def test_edited_messages_are_ignored(bot: TelegramBot) -> None:
    edited = bot.fake.message_update(ALICE, "where is my ordr?")["message"]
    bot.fake.push_update({"edited_message": {**edited, "edit_date": 1700000100}})
    bot.fake.push_message(ALICE, "hello")
    await bot.fake.wait_for("sendMessage")
    await bot.processed.wait(1)
    assert bot.processed.done == 1
    assert texts(bot.fake.sent_to(ALICE.id)) == [CATALOGUE.get("greet", "en", brand="VoltCart")]


# --- webhook ----------------------------------------------------------------------------


async def test_webhook_needs_the_secret_token(webhook_bot: TelegramBot) -> None:
    fake = webhook_bot.fake
    [hook] = fake.calls("setWebhook")
    assert hook.params["url"] == f"http://{webhook_bot.address}/telegram/webhook"
    assert hook.params["secret_token"] == SECRET
    update = fake.message_update(ALICE, "where is my order?")
    assert await fake.deliver_webhook(update, secret=None) == 403
    assert await fake.deliver_webhook(update, secret="not-the-secret") == 403
    assert await webhook_bot.conversation_rows("1001") == []  # nothing processed
    assert fake.calls("sendMessage") == []


async def test_webhook_answers_once_stored_and_replies_once(webhook_bot: TelegramBot) -> None:
    fake = webhook_bot.fake
    update = fake.message_update(ALICE, "where is my order?")
    assert await fake.deliver_webhook(update) == 200
    # The 200 came after the commit: the message is there already.
    [inbound, *_] = await webhook_bot.conversation_rows("1001")
    assert inbound.text == "where is my order?"
    [reply] = await fake.wait_for("sendMessage")
    assert reply.result["text"] == answer("order_status")
    update_id = fake.webhook_deliveries[0].update_id
    assert await fake.deliver_webhook(update_id) == 200  # Telegram re-sends it
    await webhook_bot.processed.wait(2)
    assert len(fake.sent_to(ALICE.id)) == 1
    assert fake.calls("getUpdates") == []


# --- hostile or malformed updates (with the right secret) --------------------------------


def _message(user: TelegramUser, **fields: Any) -> dict[str, Any]:
    chat = {"id": user.id, "type": "private", "first_name": user.first_name}
    return {"message_id": 9, "date": 1_700_000_000, "chat": chat, "from": user.as_json(), **fields}


async def _post_raw(client: httpx.AsyncClient, bot: TelegramBot, update: object) -> int:
    """POST an update as Telegram would, with the secret, whatever its shape."""
    url = f"http://{bot.address}/telegram/webhook"
    response = await client.post(url, json=update, headers={SECRET_HEADER: SECRET})
    return response.status_code


async def test_malformed_updates_get_400_and_nothing_is_stored(webhook_bot: TelegramBot) -> None:
    fake = webhook_bot.fake
    sizes = [
        {"file_id": "a", "file_unique_id": "a1", "width": "w", "height": 2},
        {"file_id": "b", "file_unique_id": "b1", "width": 3, "height": 4},
    ]
    malformed: list[dict[str, Any]] = [
        {"message": "a string, not a message"},
        {"message": _message(ALICE, text=["a", "list"])},
        {"message": _message(ALICE, caption={"a": "dict"}, photo=sizes[1:])},
        {"message": _message(ALICE, photo=sizes)},
        {"message": _message(ALICE, text="hi", chat="not a chat")},
        {"message": _message(ALICE, text="hi", date="yesterday")},
        {"callback_query": "a string"},
    ]
    async with httpx.AsyncClient() as client:
        for number, update in enumerate(malformed, start=50):
            assert await _post_raw(client, webhook_bot, {"update_id": number, **update}) == 400
    assert await webhook_bot.conversation_rows("1001") == []
    assert fake.calls("sendMessage") == []
    # The channel still works afterwards.
    assert await fake.deliver_webhook(fake.message_update(ALICE, "where is my order?")) == 200
    [reply] = await fake.wait_for("sendMessage")
    assert reply.result["text"] == answer("order_status")


async def test_an_over_long_name_is_cut_to_what_storage_holds(webhook_bot: TelegramBot) -> None:
    long_name = TelegramUser(1004, "Ж" * 300, language_code="en-x-" + "q" * 40)
    fake = webhook_bot.fake
    fake.start_chat(long_name)
    assert await fake.deliver_webhook(fake.message_update(long_name, "where is my order?")) == 200
    [reply] = await fake.wait_for("sendMessage")
    assert reply.result["text"] == answer("order_status")
    async with webhook_bot.db.transaction() as session:
        [identity] = (
            await session.scalars(
                select(ChannelIdentity).where(ChannelIdentity.external_id == "1004")
            )
        ).all()
    assert identity.display_name == "Ж" * 200


async def test_a_too_long_message_is_cut_and_the_customer_told(webhook_bot: TelegramBot) -> None:
    webhook_bot.channel.max_text_chars = 40
    fake = webhook_bot.fake
    text = "where is my order? " + "It has been a long wait. " * 9 + "It has."
    assert await fake.deliver_webhook(fake.message_update(ALICE, text)) == 200
    [stored, *_] = await webhook_bot.conversation_rows("1001")
    assert stored.text == text[:40].rstrip()
    notice = CATALOGUE.get("message_too_long", "en", length=len(text), max=40)
    sent = await fake.wait_for("sendMessage", 2)
    assert sorted(texts(sent)) == sorted([notice, answer("order_status")])
