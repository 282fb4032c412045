"""Setting Slack up: the manifest, when ``helpdesk run`` enables the channel, the endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from bot.app import build_channels, web_routes
from bot.channels import OnStored
from bot.channels.slack.channel import SlackChannel
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.settings import ConfigError, Secrets, Settings, SlackSettings
from tests.support.fake_slack import FakeSlack
from tests.support.server import serve

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yml"


def test_the_manifest_asks_for_exactly_what_the_bot_uses() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}  # no user scopes
    # channels:/groups:history and message.channels/.groups: the Slack agent desk's threads.
    assert sorted(scopes["bot"]) == [
        "app_mentions:read",
        "channels:history",
        "chat:write",
        "groups:history",
        "im:history",
        "users:read",
    ]
    settings = manifest["settings"]
    assert sorted(settings["event_subscriptions"]["bot_events"]) == [
        "app_mention",
        "message.channels",
        "message.groups",
        "message.im",
    ]
    events_path = SlackSettings().events_path
    assert settings["event_subscriptions"]["request_url"].endswith(events_path)
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["interactivity"]["request_url"].endswith(events_path)
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False


@pytest.fixture(autouse=True)
def no_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def secrets(**values: str) -> Secrets:
    return Secrets(**values)  # type: ignore[arg-type]


def test_slack_runs_only_with_its_token_and_signing_secret() -> None:
    settings = Settings()
    assert not any(isinstance(c, SlackChannel) for c in build_channels(settings, secrets()))
    only_token = secrets(SLACK_BOT_TOKEN="xoxb-1")
    assert not any(isinstance(c, SlackChannel) for c in build_channels(settings, only_token))
    both = secrets(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    [slack] = [c for c in build_channels(settings, both) if isinstance(c, SlackChannel)]
    assert slack.settings.mode == "http"
    assert [getattr(r, "path", None) for r in web_routes([slack])] == ["/slack/events"]
    settings.channels.slack.enabled = False
    assert not any(isinstance(c, SlackChannel) for c in build_channels(settings, both))


def test_socket_mode_needs_the_app_token() -> None:
    settings = Settings()
    settings.channels.slack.mode = "socket"
    both = secrets(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        build_channels(settings, both)
    with_app = secrets(SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s", SLACK_APP_TOKEN="xapp-1")
    [slack] = [c for c in build_channels(settings, with_app) if isinstance(c, SlackChannel)]
    assert slack.routes() == []  # no HTTP endpoint in Socket Mode


def test_base_url_and_events_path_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELPDESK_CHANNELS__SLACK__BASE_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("HELPDESK_CHANNELS__SLACK__EVENTS_PATH", "/hooks/slack")
    slack = Settings().channels.slack
    assert (slack.base_url, slack.events_path) == ("http://127.0.0.1:9/api/", "/hooks/slack")
    channel = SlackChannel(slack, bot_token="xoxb-1", signing_secret="s")
    assert channel.client.base_url == "http://127.0.0.1:9/api/"


# --- the endpoint, without the engine ------------------------------------------------


async def ignore(inbound: InboundMessage, *, on_stored: OnStored | None = None) -> None:
    if on_stored is not None:
        await on_stored()


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[FakeSlack, str]]:
    async with FakeSlack() as slack:
        channel = SlackChannel(
            SlackSettings(base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
        )
        await channel.start(ignore)
        async with serve(Starlette(routes=channel.routes())) as address:
            yield slack, f"http://{address}/slack/events"
        await channel.stop()


async def test_the_url_verification_challenge_is_answered(
    endpoint: tuple[FakeSlack, str],
) -> None:
    slack, url = endpoint
    body = {"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    response = await slack.post(url, body)
    assert response.status_code == 200 and "3eZbrw1aBm2rZgRNFdxV" in response.text


async def test_an_oversized_body_is_refused(endpoint: tuple[FakeSlack, str]) -> None:
    slack, url = endpoint
    response = await slack.post_event(url, slack.dm("U1", "x" * (1 << 20)))
    assert response.status_code == 413


async def test_an_unsigned_request_is_refused(endpoint: tuple[FakeSlack, str]) -> None:
    slack, url = endpoint
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json=slack.event_callback(slack.dm("U1", "hi")))
    assert response.status_code == 401


async def test_events_get_503_while_the_channel_is_off() -> None:
    async with FakeSlack() as slack:
        channel = SlackChannel(
            SlackSettings(base_url=slack.base_url),
            bot_token="xoxb-revoked",
            signing_secret=slack.signing_secret,
        )
        await channel.start(ignore)
        async with serve(Starlette(routes=channel.routes())) as address:
            response = await slack.post_event(
                f"http://{address}/slack/events", slack.dm("U1", "hi")
            )
        await channel.stop()
    assert response.status_code == 503  # Slack retries; nothing is half-processed


async def test_a_message_that_cannot_be_stored_is_not_acknowledged() -> None:
    """Storing fails (the database is down): 500, so Slack delivers the event again."""
    stored: list[str] = []

    async def receive(
        inbound: InboundMessage, *, on_stored: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        if not stored:
            stored.append("failed once")
            raise RuntimeError("database is down")
        stored.append(inbound.message_id)
        assert on_stored is not None
        await on_stored()

    async with FakeSlack() as slack:
        channel = SlackChannel(
            SlackSettings(base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
        )
        await channel.start(receive)
        body = slack.event_callback(slack.dm("U1", "where is my order?"))
        async with serve(Starlette(routes=channel.routes())) as address:
            url = f"http://{address}/slack/events"
            failed = await slack.post(url, body)
            retried = await slack.post(url, body, retry_num=1)
        await channel.stop()
    assert (failed.status_code, retried.status_code) == (500, 200)
    assert stored == ["failed once", f"DU1:{body['event']['ts']}"]


async def test_offered_buttons_answer_only_the_next_message() -> None:
    received: list[InboundMessage] = []

    async def receive(inbound: InboundMessage, *, on_stored: OnStored | None = None) -> None:
        received.append(inbound)
        if on_stored is not None:
            await on_stored()

    async with FakeSlack() as slack:
        channel = SlackChannel(
            SlackSettings(base_url=slack.base_url),
            bot_token=slack.bot_token,
            signing_secret=slack.signing_secret,
        )
        await channel.start(receive)
        offered = (Button("Order status", "/faq order_status"), Button("A person", "/human"))
        await channel.send("DU1", OutboundMessage("Did you mean?", buttons=offered))
        async with serve(Starlette(routes=channel.routes())) as address:
            url = f"http://{address}/slack/events"
            for text in ("2", "2"):
                assert (await slack.post_event(url, slack.dm("U1", text))).status_code == 200
        await channel.stop()  # waits for the handed-over messages
    assert [(m.text, m.payload) for m in received] == [("A person", "/human"), ("2", None)]
