"""Sending to Slack with the real Web client against the fake: limits, 429, refusals, users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels import ChannelSendError, OnStored, RecipientUnreachable
from bot.channels.slack.channel import SlackChannel
from bot.channels.slack.users import SlackDirectory
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.settings import SlackSettings
from tests.support.fake_slack import FakeSlack

LONG = "\n\n".join(f"Part {i}. " + "lorem ipsum " * 220 for i in range(3))


async def ignore(inbound: InboundMessage, *, on_stored: OnStored | None = None) -> None:
    if on_stored is not None:
        await on_stored()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def channel(slack: FakeSlack) -> AsyncIterator[SlackChannel]:
    ch = SlackChannel(
        SlackSettings(base_url=slack.base_url),
        bot_token=slack.bot_token,
        signing_secret=slack.signing_secret,
    )
    await ch.start(ignore)
    yield ch
    await ch.stop()


async def test_start_signs_in_and_learns_the_bot_user(
    slack: FakeSlack, channel: SlackChannel
) -> None:
    [auth] = slack.calls("auth.test")
    assert auth.token == slack.bot_token
    assert channel.bot_user_id == slack.bot_user_id


async def test_a_rejected_token_switches_the_channel_off(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    ch = SlackChannel(
        SlackSettings(base_url=slack.base_url), bot_token="xoxb-wrong", signing_secret="s"
    )
    await ch.start(ignore)  # the rest of the helpdesk keeps running
    try:
        assert ch.off
        assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth); the Slack channel is off" in (
            caplog.text
        )
        assert "xoxb-wrong" not in caplog.text
        with pytest.raises(ChannelSendError):
            await ch.send("D0ALICE", OutboundMessage("hello"))
        assert slack.calls("chat.postMessage") == []
    finally:
        await ch.stop()


async def test_slack_down_at_start_is_not_fatal() -> None:
    async with FakeSlack() as gone:
        base_url = gone.base_url  # closed again: nothing listens there any more
    ch = SlackChannel(SlackSettings(base_url=base_url), bot_token="xoxb-1", signing_secret="s")
    await ch.start(ignore)
    assert not ch.off and ch.bot_user_id is None
    await ch.stop()


async def test_send_returns_channel_and_ts(slack: FakeSlack, channel: SlackChannel) -> None:
    platform_id = await channel.send("C0SUPPORT:1712345678.000200", OutboundMessage("hi"))
    [message] = slack.posted("C0SUPPORT")
    assert platform_id == f"C0SUPPORT:{message['ts']}"
    assert message["thread_ts"] == "1712345678.000200"


async def test_rate_limit_is_retried_after_retry_after(
    slack: FakeSlack, channel: SlackChannel
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=1)
    assert await channel.send("D0ALICE", OutboundMessage("hello")) is not None
    first, second = slack.calls("chat.postMessage")
    assert second.at - first.at >= 1.0
    assert [m["text"] for m in slack.posted("D0ALICE")] == ["hello"]


async def test_a_lasting_rate_limit_leaves_the_reply_to_the_outbox(
    slack: FakeSlack, channel: SlackChannel
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=0, times=10)
    with pytest.raises(ChannelSendError) as failed:
        await channel.send("D0ALICE", OutboundMessage("hello"))
    assert not failed.value.permanent and not isinstance(failed.value, RecipientUnreachable)
    assert len(slack.calls("chat.postMessage")) == 4  # the first try and three retries


async def test_a_long_reply_is_split_into_messages_slack_accepts(
    slack: FakeSlack, channel: SlackChannel
) -> None:
    message = OutboundMessage(LONG, buttons=(Button("Talk to a person", "/human"),))
    await channel.send("D0ALICE", message)
    posted = slack.posted("D0ALICE")
    assert len(posted) == 3  # the fake answers invalid_blocks/msg_too_long past the limits
    assert " ".join(m["blocks"][0]["text"]["text"] for m in posted).split() == LONG.split()
    assert [b["type"] for b in posted[-1]["blocks"]] == ["section", "actions"]


async def test_a_split_reply_resumes_where_it_failed(
    slack: FakeSlack, channel: SlackChannel
) -> None:
    slack.fail("chat.postMessage", "internal_error", when=lambda a: a["text"].startswith("Part 1"))
    with pytest.raises(ChannelSendError):
        await channel.send("D0ALICE", OutboundMessage(LONG))
    assert len(slack.posted("D0ALICE")) == 1
    await channel.send("D0ALICE", OutboundMessage(LONG))  # the outbox's retry
    texts = [m["text"] for m in slack.posted("D0ALICE")]
    assert [t.split(".")[0] for t in texts] == ["Part 0", "Part 1", "Part 2"]


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived", "user_disabled"])
async def test_a_dm_that_is_gone_means_the_person_is_unreachable(
    slack: FakeSlack, channel: SlackChannel, error: str
) -> None:
    slack.fail("chat.postMessage", error)
    with pytest.raises(RecipientUnreachable, match=error):
        await channel.send("D0ALICE", OutboundMessage("hello"))


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_a_channel_the_app_cannot_post_in_fails_the_reply_for_good(
    slack: FakeSlack, channel: SlackChannel, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", error)
    with pytest.raises(ChannelSendError) as failed:
        await channel.send("C0SUPPORT:1712345678.000200", OutboundMessage("hello"))
    assert failed.value.permanent and not isinstance(failed.value, RecipientUnreachable)
    assert f"{error}. Invite the app to the channel" in caplog.text
    assert "C0SUPPORT" in caplog.text


async def test_a_token_problem_is_logged_and_retried_later(
    slack: FakeSlack, channel: SlackChannel, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("chat.postMessage", "token_revoked")
    with pytest.raises(ChannelSendError) as failed:
        await channel.send("D0ALICE", OutboundMessage("hello"))
    assert not failed.value.permanent
    assert "Check SLACK_BOT_TOKEN" in caplog.text
    assert slack.bot_token not in caplog.text


async def test_user_profiles_are_cached(slack: FakeSlack) -> None:
    slack.add_user("U1", "alice", display_name="Ali", locale="te-IN")
    directory = SlackDirectory(slack_client(slack))
    first = await directory.profile("U1")
    assert first is not None and (first.name, first.locale) == ("Ali", "te-IN")
    assert await directory.profile("U1") == first
    assert await directory.profile("U404") is None
    assert await directory.profile("U404") is None  # the failure is remembered for a minute
    assert [c.args["user"] for c in slack.calls("users.info")] == ["U1", "U404"]


async def test_a_slow_users_info_does_not_hold_the_message(slack: FakeSlack) -> None:
    slack.add_user("U1", "alice")
    gate = slack.hold("users.info")
    directory = SlackDirectory(slack_client(slack), timeout_s=0.2)
    assert await directory.profile("U1") is None
    gate.set()


def slack_client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)
