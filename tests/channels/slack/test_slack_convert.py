"""The Slack converters, pure: JSON payloads in, InboundMessage out; replies to Block Kit."""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.slack.events import (
    SlackProfile,
    action_to_inbound,
    conversation_key,
    parse_key,
    plain_text,
    profile_from,
    to_inbound,
    with_offered_choice,
)
from bot.channels.slack.format import (
    BUTTONS_BLOCK,
    SECTION_LIMIT,
    escape,
    split_text,
    to_platform,
    with_choice,
)
from bot.messages import Button, OutboundMessage

BOT = "U0BOT"


def dm(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": "D0ALICE",
        "channel_type": "im",
        "user": "U1",
        "text": text,
        "ts": "1712345678.000100",
        **extra,
    }


def mention(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": "C0SUPPORT",
        "user": "U1",
        "text": f"<@{BOT}> {text}",
        "ts": "1712345678.000200",
        **extra,
    }


# --- inbound -------------------------------------------------------------------------


def test_a_dm_becomes_a_message_of_the_dm() -> None:
    profile = SlackProfile(name="Alice", locale="gu-IN")
    inbound = to_inbound(dm("where is my order?"), bot_user_id=BOT, profile=profile)
    assert inbound is not None
    assert inbound.channel == "slack"
    assert inbound.conversation_key == "D0ALICE"
    assert inbound.message_id == "D0ALICE:1712345678.000100"
    assert (inbound.user_id, inbound.user_name, inbound.language_hint) == ("U1", "Alice", "gu-IN")
    assert inbound.text == "where is my order?"


def test_a_mention_is_keyed_by_its_thread() -> None:
    top = to_inbound(mention("where is my order?"), bot_user_id=BOT)
    assert top is not None
    assert top.conversation_key == "C0SUPPORT:1712345678.000200"
    assert top.text == "where is my order?"  # the bot's own mention is not the question
    in_thread = to_inbound(mention("thanks", thread_ts="1712345600.000001"), bot_user_id=BOT)
    assert in_thread is not None and in_thread.conversation_key == "C0SUPPORT:1712345600.000001"
    assert parse_key(in_thread.conversation_key) == ("C0SUPPORT", "1712345600.000001")
    assert parse_key("D0ALICE") == ("D0ALICE", None)
    # A DM has no thread key even when the customer writes inside a thread there.
    assert conversation_key("D0ALICE", "1712345600.000001") == "D0ALICE"


@pytest.mark.parametrize(
    "event",
    [
        dm("hi", bot_id="B0OTHER"),
        dm("hi", subtype="bot_message"),
        dm("hi", user=BOT),
        dm("hi", subtype="message_changed"),
        dm("hi", subtype="channel_join"),
        dm("hi", channel_type="channel"),  # channel chatter: only mentions are for us
        dm("   "),
        {"type": "reaction_added", "user": "U1"},
        dm("hi", user=None),
    ],
    ids=[
        "other-bot",
        "classic-bot",
        "self",
        "edit",
        "join",
        "channel",
        "empty",
        "other",
        "no-user",
    ],
)
def test_what_is_not_a_customer_message_is_ignored(event: dict[str, Any]) -> None:
    assert to_inbound(event, bot_user_id=BOT) is None


def test_a_file_without_text_is_kept_as_an_attachment() -> None:
    files = [
        {"id": "F1", "name": "receipt.png", "mimetype": "image/png", "size": 2048},
        {"id": "F2", "name": "invoice.pdf", "mimetype": "application/pdf", "filetype": "pdf"},
    ]
    inbound = to_inbound(dm("", subtype="file_share", files=files), bot_user_id=BOT)
    assert inbound is not None and inbound.text == ""
    assert [(a.kind, a.file_id, a.file_name) for a in inbound.attachments] == [
        ("photo", "F1", "receipt.png"),
        ("document", "F2", "invoice.pdf"),
    ]
    assert inbound.attachments[0].size == 2048


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (f"<@{BOT}> where is my order?", "where is my order?"),
        ("ask <@U2> or <@U3|bhavin>", "ask @U2 or @bhavin"),
        ("see <#C1|general>", "see #general"),
        ("<!here> help", "@here help"),
        ("order at <https://shop.test/o/1>", "order at https://shop.test/o/1"),
        ("<https://shop.test/o/1|my order>", "my order (https://shop.test/o/1)"),
        ("<http://shop.test|shop.test>", "shop.test"),
        ("fish &amp; chips &lt;3 &gt;", "fish & chips <3 >"),
    ],
)
def test_slack_markup_is_read_as_plain_text(raw: str, plain: str) -> None:
    assert plain_text(raw, bot_user_id=BOT) == plain


def test_a_button_press_becomes_the_buttons_payload() -> None:
    body = {
        "type": "block_actions",
        "user": {"id": "U1", "name": "alice"},
        "channel": {"id": "C0SUPPORT"},
        "container": {"type": "message", "message_ts": "1712345699.000100"},
        "message": {"ts": "1712345699.000100", "thread_ts": "1712345678.000200"},
        "actions": [
            {
                "action_id": "helpdesk_button_1",
                "value": "/human",
                "text": {"type": "plain_text", "text": "Talk to a person"},
            }
        ],
    }
    inbound = action_to_inbound(body)
    assert inbound is not None
    assert (inbound.payload, inbound.text) == ("/human", "Talk to a person")
    assert inbound.conversation_key == "C0SUPPORT:1712345678.000200"
    assert inbound.message_id == "C0SUPPORT:1712345699.000100:choice"
    assert (
        action_to_inbound({**body, "actions": [{"action_id": "elsewhere", "value": "x"}]}) is None
    )
    assert action_to_inbound({**body, "type": "view_submission"}) is None


def test_a_typed_number_maps_to_the_offered_button() -> None:
    offered = (Button("Order status", "/faq order_status"), Button("Talk to a person", "/human"))
    inbound = to_inbound(dm("2"), bot_user_id=BOT)
    assert inbound is not None
    chosen = with_offered_choice(inbound, offered)
    assert (chosen.payload, chosen.text) == ("/human", "Talk to a person")
    assert with_offered_choice(inbound, ()) is inbound
    other = to_inbound(dm("7"), bot_user_id=BOT)
    assert other is not None and with_offered_choice(other, offered) is other


def test_users_info_profile() -> None:
    user = {"name": "alice", "real_name": "Alice A", "locale": "hi-IN", "profile": {}}
    assert profile_from(user) == SlackProfile(name="Alice A", locale="hi-IN")
    user["profile"] = {"display_name": "ali", "real_name": "Alice A"}
    assert profile_from(user).name == "ali"
    assert profile_from({"name": "bob"}) == SlackProfile(name="bob", locale=None)


# --- outbound ------------------------------------------------------------------------


def test_mrkdwn_control_characters_are_escaped() -> None:
    assert escape("Q&A <b> & 5 > 3") == "Q&amp;A &lt;b&gt; &amp; 5 &gt; 3"
    [post] = to_platform(OutboundMessage("<@U1> & <!channel>"))
    assert post["text"] == "&lt;@U1&gt; &amp; &lt;!channel&gt;"  # no mention sneaks through


def test_a_plain_reply_is_one_section() -> None:
    assert to_platform(OutboundMessage("Hello")) == [
        {
            "text": "Hello",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}],
        }
    ]


def test_buttons_are_block_kit_actions_with_a_text_fallback() -> None:
    message = OutboundMessage(
        "Did you mean?",
        buttons=(Button("Returns & refunds", "/faq returns"), Button("x" * 90, "/human")),
    )
    [post] = to_platform(message)
    assert post["text"] == "Did you mean?\n1. Returns &amp; refunds\n2. " + "x" * 90
    actions = post["blocks"][1]
    assert actions["type"] == "actions" and actions["block_id"] == BUTTONS_BLOCK
    first, second = actions["elements"]
    assert first == {
        "type": "button",
        "action_id": "helpdesk_button_0",
        "text": {"type": "plain_text", "text": "Returns & refunds"},  # plain_text: no escaping
        "value": "/faq returns",
    }
    assert len(second["text"]["text"]) == 75 and second["text"]["text"].endswith("…")


def test_many_buttons_fill_several_action_blocks() -> None:
    buttons = tuple(Button(f"Option {i}", f"/faq o{i}") for i in range(30))
    [post] = to_platform(OutboundMessage("Pick one", buttons=buttons))
    sizes = [len(b["elements"]) for b in post["blocks"] if b["type"] == "actions"]
    assert sizes == [25, 5]


def test_a_long_reply_is_split_at_paragraphs_with_buttons_on_the_last_part() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(6)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    posts = to_platform(OutboundMessage(text, buttons=(Button("Talk to a person", "/human"),)))
    assert len(posts) > 1
    for post in posts:
        assert len(post["blocks"][0]["text"]["text"]) <= SECTION_LIMIT
        assert post["blocks"][0]["text"]["text"].startswith("Paragraph")
    assert [any(b["type"] == "actions" for b in p["blocks"]) for p in posts] == [False] * (
        len(posts) - 1
    ) + [True]
    rejoined = " ".join(p["blocks"][0]["text"]["text"] for p in posts)
    assert rejoined.split() == text.split()


def test_splitting_counts_escaped_length_and_cuts_overlong_words() -> None:
    ampersands = "&" * 1000  # 5,000 characters once escaped
    parts = split_text(ampersands)
    assert all(len(escape(p)) <= SECTION_LIMIT for p in parts)
    assert "".join(parts) == ampersands
    word = "x" * 7000
    assert [len(p) for p in split_text(word)] == [3000, 3000, 1000]
    assert split_text("short") == ["short"]


def test_the_choice_replaces_the_buttons() -> None:
    [post] = to_platform(OutboundMessage("Pick", buttons=(Button("A & B", "/faq ab"),)))
    blocks = with_choice(post["blocks"], title="A & B", user_id="U1")
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert blocks[1]["elements"][0]["text"] == "✅ <@U1> chose *A &amp; B*"
