"""The Telegram channel shell against the fake Bot API, with a stub in place of the engine.

The real python-telegram-bot Application, the real HTTP client, a fake server: polling
offsets, the webhook's gate, sending through 429/403/network trouble, configuration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import build_channels
from bot.channels import ChannelSendError, RecipientUnreachable
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.retry import Backoff, SendRetryPolicy
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.settings import ConfigError, Secrets, Settings, TelegramSettings
from bot.web.app import create_web_app
from tests.support.fake_telegram import Failure, FakeTelegram, TelegramUser
from tests.support.server import serve

# python-telegram-bot itself warns while building a RetryAfter (its retry_after type changes).
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

ALICE = TelegramUser(1001, "Alice", language_code="en")
FAST_RETRY = SendRetryPolicy(flood_retries=2, max_flood_wait_s=5, network_backoff=(0.01, 0.02))
FAST_BACKOFF = Backoff((0.01, 0.05))

OnStored = Callable[[], Awaitable[None]]


@dataclass
class StubEngine:
    """Stands in for ``Engine.receive``: records, acknowledges, optionally fails storing."""

    received: list[InboundMessage] = field(default_factory=list)
    fail_storing: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, inbound: InboundMessage, *, on_stored: OnStored | None = None) -> None:
        self.received.append(inbound)
        self.changed.set()
        if self.fail_storing > 0:
            self.fail_storing -= 1
            raise RuntimeError("database unavailable (simulated)")
        if on_stored is not None:
            await on_stored()

    async def wait(self, count: int) -> list[InboundMessage]:
        async with asyncio.timeout(10):
            while len(self.received) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.received


def settings_for(fake: FakeTelegram, **overrides: Any) -> TelegramSettings:
    return TelegramSettings(
        base_url=fake.base_url, base_file_url=fake.base_file_url, poll_timeout_s=2, **overrides
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.start_chat(ALICE)
        yield server


@pytest.fixture
async def polling(fake: FakeTelegram) -> AsyncIterator[tuple[TelegramChannel, StubEngine]]:
    channel = TelegramChannel(
        token=fake.token, settings=settings_for(fake), retry=FAST_RETRY, backoff=FAST_BACKOFF
    )
    engine = StubEngine()
    await channel.start(engine)
    await channel.wait_connected(10)
    yield channel, engine
    await channel.stop()


# --- polling: confirm only what is stored --------------------------------------------------


async def test_offset_moves_only_past_stored_updates(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    _, engine = polling
    engine.fail_storing = 1
    update_id = fake.push_message(ALICE, "hello")
    received = await engine.wait(2)  # failed once, fetched again, stored
    assert [m.message_id for m in received] == ["1001:1", "1001:1"]
    polls = await fake.wait_for("getUpdates", where=lambda c: c.params.get("offset") == update_id)
    assert polls, "the failed update was asked for again"
    await fake.wait_for("getUpdates", where=lambda c: c.params.get("offset") == update_id + 1)
    first = fake.calls("getUpdates")[0]
    assert first.params["allowed_updates"] == ["message", "callback_query"]
    assert first.params["timeout"] == 2


async def test_a_malformed_polled_update_is_skipped_not_fetched_forever(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    _, engine = polling
    update = fake.message_update(ALICE, None)
    update["message"]["text"] = ["a", "list"]
    bad = fake.push_update(update)
    fake.push_message(ALICE, "hello")
    [received] = await engine.wait(1)
    assert received.text == "hello"
    await fake.wait_for("getUpdates", where=lambda c: c.params.get("offset") == bad + 2)
    assert not [c for c in fake.calls("getUpdates") if c.params.get("offset") == bad]


async def test_polling_removes_a_webhook_first(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    await fake.wait_for("getUpdates", status=None)
    methods = [c.method for c in fake.calls()]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    assert fake.calls("deleteWebhook")[0].params.get("drop_pending_updates") is False


async def test_long_button_payload_survives_the_64_byte_limit(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, engine = polling
    payload = "/faq " + "a_very_long_knowledge_base_entry_identifier_" * 3
    await channel.send("1001", OutboundMessage("Pick one", buttons=(Button("That one", payload),)))
    [sent] = fake.sent_to(ALICE.id)
    data = sent.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(data.encode()) <= 64  # the fake answers BUTTON_DATA_INVALID otherwise
    fake.push_update(fake.callback_update(ALICE, sent))
    [pressed] = await engine.wait(1)
    assert pressed.payload == payload
    assert pressed.text == "That one"
    [answer] = await fake.wait_for("answerCallbackQuery")
    assert answer.status == 200


# --- sending -------------------------------------------------------------------------------


async def test_flood_control_is_waited_out(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, _ = polling
    fake.fail_next("sendMessage", Failure.too_many_requests(retry_after=1))
    await channel.send("1001", OutboundMessage("hello"))
    refused, delivered = fake.calls("sendMessage")
    assert (refused.status, delivered.status) == (429, 200)
    assert delivered.at - refused.at >= 1.0


async def test_flood_wait_beyond_the_bound_leaves_it_to_the_outbox(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, _ = polling
    fake.fail_next("sendMessage", Failure.too_many_requests(retry_after=30))
    with pytest.raises(ChannelSendError) as failed:
        await channel.send("1001", OutboundMessage("hello"))
    assert not failed.value.permanent


async def test_blocked_user_is_unreachable(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, _ = polling
    fake.block(ALICE)
    with pytest.raises(RecipientUnreachable, match="blocked"):
        await channel.send("1001", OutboundMessage("hello"))
    with pytest.raises(RecipientUnreachable, match=r"(?i)chat not found"):
        await channel.send("424242", OutboundMessage("never wrote to the bot"))
    with pytest.raises(ChannelSendError) as not_ours:
        await channel.send("webchat-session-1", OutboundMessage("x"))
    assert not_ours.value.permanent


async def test_network_errors_are_retried_then_left_to_the_outbox(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, _ = polling
    fake.fail_next("sendMessage", Failure.network())
    fake.fail_next("sendMessage", Failure.bad_gateway())
    assert await channel.send("1001", OutboundMessage("hello")) == "1001:1"
    fake.fail_next("sendMessage", Failure.network(), times=3)
    with pytest.raises(ChannelSendError) as failed:
        await channel.send("1001", OutboundMessage("again"))
    assert not failed.value.permanent
    assert [c.status for c in fake.calls("sendMessage")] == [0, 502, 200, 0, 0, 0]


async def test_a_retried_split_reply_resumes_where_it_stopped(
    fake: FakeTelegram, polling: tuple[TelegramChannel, StubEngine]
) -> None:
    channel, _ = polling
    long_reply = OutboundMessage("A sentence of some length to fill space. " * 150)
    # Part one goes through; part two meets an outage longer than the channel's retries.
    fake.fail_next("sendMessage", Failure.network(), times=3, after=1)
    with pytest.raises(ChannelSendError):
        await channel.send("1001", long_reply)
    assert len(fake.sent_to(ALICE.id)) == 1
    await channel.send("1001", long_reply)  # the outbox's retry
    parts = [c.result["text"] for c in fake.sent_to(ALICE.id)]
    assert len(parts) == 2, "part one is not sent twice"
    assert " ".join(parts) == long_reply.text.strip()


# --- webhook -------------------------------------------------------------------------------


async def test_webhook_refuses_wrong_secret_and_bad_bodies(fake: FakeTelegram) -> None:
    settings = settings_for(fake, mode="webhook", webhook_url="https://example.invalid/tg")
    channel = TelegramChannel(token=fake.token, settings=settings, webhook_secret="s3cret-Token_1")
    engine = StubEngine()

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=None, webchat=None, readiness=readiness, routes=channel.routes())  # type: ignore[arg-type]
    async with serve(app) as address:
        url = f"http://{address}/telegram/webhook"
        update = {"update_id": 1, **fake.message_update(ALICE, "hello")}
        async with httpx.AsyncClient() as client:
            good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-Token_1"}
            # Not started yet: Telegram is asked to come back later.
            assert (await client.post(url, json=update, headers=good)).status_code == 503
            await channel.start(engine)
            await channel.wait_connected(10)
            hook = fake.calls("setWebhook")[0].params
            assert hook["url"] == "https://example.invalid/tg"
            assert hook["secret_token"] == "s3cret-Token_1"
            assert hook["allowed_updates"] == ["message", "callback_query"]
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                response = await client.post(url, json=update, headers=headers)
                assert response.status_code == 403
            assert (await client.post(url, content=b"{not json", headers=good)).status_code == 400
            assert (await client.post(url, json=[1, 2], headers=good)).status_code == 400
            big = b'{"update_id": 1, "x": "' + b"a" * (1 << 20) + b'"}'
            assert (await client.post(url, content=big, headers=good)).status_code == 413
            assert engine.received == []
            assert (await client.post(url, json=update, headers=good)).status_code == 200
            assert [m.text for m in engine.received] == ["hello"]
            engine.fail_storing = 1
            update2 = {"update_id": 2, **fake.message_update(ALICE, "again")}
            assert (await client.post(url, json=update2, headers=good)).status_code == 500
        assert fake.calls("getUpdates") == []
    await channel.stop()


# --- configuration and secrets -----------------------------------------------------------


def test_webhook_mode_refuses_to_start_without_secret_or_url() -> None:
    settings = Settings()
    settings.channels.telegram.mode = "webhook"
    settings.channels.telegram.webhook_url = "https://bot.example.com/telegram/webhook"
    secrets = Secrets(TELEGRAM_BOT_TOKEN=SecretStr("1:abc"))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        build_channels(settings, secrets)
    bad = Secrets(
        TELEGRAM_BOT_TOKEN=SecretStr("1:abc"), TELEGRAM_WEBHOOK_SECRET=SecretStr("has spaces")
    )
    with pytest.raises(ConfigError, match="A-Z, a-z, 0-9"):
        build_channels(settings, bad)
    good = Secrets(
        TELEGRAM_BOT_TOKEN=SecretStr("1:abc"), TELEGRAM_WEBHOOK_SECRET=SecretStr("ok_secret")
    )
    [telegram] = [c for c in build_channels(settings, good) if c.name == "telegram"]
    assert isinstance(telegram, TelegramChannel)
    assert [getattr(r, "path", None) for r in telegram.routes()] == ["/telegram/webhook"]
    settings.channels.telegram.webhook_url = None
    with pytest.raises(ConfigError, match="webhook_url"):
        build_channels(settings, good)


def test_channel_needs_a_token_and_uses_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    settings = Settings()
    settings.channels.telegram.base_url = "http://127.0.0.1:8081/bot"
    assert all(c.name != "telegram" for c in build_channels(settings, Secrets()))
    secrets = Secrets(TELEGRAM_BOT_TOKEN=SecretStr("1:abc"))
    [telegram] = [c for c in build_channels(settings, secrets) if c.name == "telegram"]
    assert isinstance(telegram, TelegramChannel)
    assert telegram.application.bot.base_url == "http://127.0.0.1:8081/bot1:abc"
    assert telegram.routes() == []  # polling exposes no endpoint
    settings.channels.telegram.enabled = False
    assert all(c.name != "telegram" for c in build_channels(settings, secrets))


async def test_the_token_never_reaches_the_logs(
    fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = TelegramChannel(token=fake.token, settings=settings_for(fake), backoff=FAST_BACKOFF)
    await channel.start(StubEngine())
    await channel.wait_connected(10)
    await channel.send("1001", OutboundMessage("hi"))
    await channel.stop()
    assert any("sendMessage" in r.getMessage() for r in caplog.records), "httpx did log"
    assert all(fake.token not in r.getMessage() for r in caplog.records)

    caplog.clear()
    wrong = TelegramChannel(
        token="999:wrong-token", settings=settings_for(fake), backoff=FAST_BACKOFF
    )
    await wrong.start(StubEngine())
    with pytest.raises(RuntimeError, match="could not start"):
        await wrong.wait_connected(10)
    await wrong.stop()
    assert not wrong.connected
    assert any("rejected TELEGRAM_BOT_TOKEN" in r.getMessage() for r in caplog.records)
    assert all("wrong-token" not in r.getMessage() for r in caplog.records)
