"""The Telegram converters on their own: Bot API JSON in, InboundMessage out, and back."""

from __future__ import annotations

import html
from typing import Any

import pytest
from telegram import Update

from bot.channels.telegram.inbound import BotIdentity, chat_id_of, conversation_key, to_inbound
from bot.channels.telegram.outbound import (
    CALLBACK_DATA_LIMIT,
    TEXT_LIMIT,
    CallbackPayloads,
    split_text,
    to_platform,
    utf16_length,
)
from bot.messages import Button, InboundMessage, OutboundMessage

BOT = BotIdentity(id=777, username="VoltCartBot")
ALICE = {"id": 1001, "is_bot": False, "first_name": "Alice", "language_code": "gu"}
PRIVATE = {"id": 1001, "type": "private", "first_name": "Alice"}
GROUP = {"id": -100555, "type": "supergroup", "title": "VoltCart buyers"}


def message(
    text: str | None = None, *, chat: dict[str, Any] = PRIVATE, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"message_id": 42, "date": 1700000000, "chat": chat, "from": ALICE}
    if text is not None:
        body["text"] = text
    return {"update_id": 9001, "message": {**body, **extra}}


def convert(
    data: dict[str, Any],
    *,
    group_replies: str = "mentioned",
    payloads: CallbackPayloads | None = None,
) -> InboundMessage | None:
    resolve = (payloads or CallbackPayloads()).decode
    return to_inbound(
        Update.de_json(data, None),
        bot=BOT,
        group_replies=group_replies,  # type: ignore[arg-type]
        resolve_payload=resolve,
    )


def test_private_text_message() -> None:
    inbound = convert(message("where is my order?"))
    assert inbound is not None
    assert inbound.channel == "telegram"
    assert inbound.conversation_key == "1001"
    assert inbound.user_id == "1001"
    assert inbound.user_name == "Alice"
    assert inbound.language_hint == "gu"
    assert inbound.text == "where is my order?"
    assert inbound.message_id == "1001:42"
    assert inbound.raw["update_id"] == 9001


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "edited_message": message("fixed typo")["message"]},
        {"update_id": 2, "channel_post": {**message("news")["message"], "chat": GROUP}},
        message("beep", **{"from": {"id": 5, "is_bot": True, "first_name": "OtherBot"}}),
        message(None, new_chat_members=[ALICE]),  # a service message
        message(None, pinned_message={"message_id": 1, "date": 0, "chat": PRIVATE}),
    ],
    ids=["edited", "channel-post", "from-a-bot", "member-joined", "pin"],
)
def test_ignored_updates(update: dict[str, Any]) -> None:
    assert convert(update) is None


def test_group_message_needs_a_mention_or_a_reply() -> None:
    plain = message("anyone know about returns?", chat=GROUP)
    assert convert(plain) is None
    assert convert(plain, group_replies="all") is not None

    mention = "@VoltCartBot where is my order?"
    mentioned = message(
        mention, chat=GROUP, entities=[{"type": "mention", "offset": 0, "length": 12}]
    )
    inbound = convert(mentioned)
    assert inbound is not None
    assert inbound.text == "where is my order?"
    assert inbound.conversation_key == "-100555:1001"
    assert inbound.message_id == "-100555:42"

    bot_message = {
        "message_id": 7,
        "date": 0,
        "chat": GROUP,
        "from": {"id": 777, "is_bot": True, "first_name": "VoltCart"},
    }
    reply = message("and the delivery time?", chat=GROUP, reply_to_message=bot_message)
    assert convert(reply) is not None


def test_group_commands_for_us_or_for_everyone_but_not_for_other_bots() -> None:
    def command(text: str) -> dict[str, Any]:
        length = len(text.split()[0])
        return message(
            text, chat=GROUP, entities=[{"type": "bot_command", "offset": 0, "length": length}]
        )

    assert convert(command("/status@VoltCartBot HD-1001")) is not None
    assert convert(command("/help")) is not None
    assert convert(command("/help@SomeOtherBot")) is None
    assert convert(command("/help@SomeOtherBot"), group_replies="all") is None


def test_text_mention_of_the_bot_counts() -> None:
    update = message(
        "VoltCart help please",
        chat=GROUP,
        entities=[{"type": "text_mention", "offset": 0, "length": 8,
                   "user": {"id": 777, "is_bot": True, "first_name": "VoltCart"}}],
    )  # fmt: skip
    assert convert(update) is not None


def test_photo_keeps_the_largest_size_and_the_caption() -> None:
    update = message(
        None,
        caption="my parcel arrived broken",
        photo=[
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90,
             "file_size": 1200},
            {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960,
             "file_size": 154000},
        ],
    )  # fmt: skip
    inbound = convert(update)
    assert inbound is not None
    assert inbound.text == "my parcel arrived broken"
    [photo] = inbound.attachments
    assert (photo.kind, photo.file_id, photo.size) == ("photo", "big", 154000)
    assert photo.details["width"] == 1280
    assert inbound.album is None


def test_an_album_item_carries_its_media_group() -> None:
    photo = [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}]
    inbound = convert(message(None, photo=photo, media_group_id="13579"))
    assert inbound is not None and inbound.album == "13579"


@pytest.mark.parametrize(
    ("fields", "kind", "file_id"),
    [
        ({"document": {"file_id": "doc1", "file_unique_id": "d", "file_name": "invoice.pdf",
                       "mime_type": "application/pdf", "file_size": 5000}}, "document", "doc1"),
        ({"voice": {"file_id": "v1", "file_unique_id": "v", "duration": 4,
                    "mime_type": "audio/ogg", "file_size": 900}}, "voice", "v1"),
        ({"sticker": {"file_id": "st1", "file_unique_id": "st", "type": "regular", "width": 512,
                      "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}},
         "sticker", "st1"),
        ({"animation": {"file_id": "gif1", "file_unique_id": "g", "width": 1, "height": 1,
                        "duration": 1},
          "document": {"file_id": "gif1", "file_unique_id": "g"}}, "animation", "gif1"),
        ({"location": {"latitude": 23.02, "longitude": 72.57}}, "location", None),
    ],
    ids=["document", "voice", "sticker", "animation-not-document", "location"],
)  # fmt: skip
def test_non_text_content_becomes_an_attachment(
    fields: dict[str, Any], kind: str, file_id: str | None
) -> None:
    inbound = convert(message(None, **fields))
    assert inbound is not None
    assert inbound.text == ""
    [attachment] = inbound.attachments
    assert attachment.kind == kind
    assert attachment.file_id == file_id
    if kind == "document":
        assert (attachment.file_name, attachment.mime_type, attachment.size) == (
            "invoice.pdf",
            "application/pdf",
            5000,
        )
    if kind == "voice":
        assert attachment.details["duration"] == 4
    if kind == "location":
        assert attachment.details == {"latitude": 23.02, "longitude": 72.57}


def test_callback_query_carries_the_payload_and_the_button_title() -> None:
    payloads = CallbackPayloads()
    long_payload = "/faq " + "x" * 100
    data = payloads.encode(long_payload)
    bot_message = {
        "message_id": 43,
        "date": 0,
        "chat": PRIVATE,
        "from": {"id": 777, "is_bot": True, "first_name": "VoltCart"},
        "text": "Did you mean one of these?",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Where is my order?", "callback_data": "/faq order_status"}],
                [{"text": "A long one", "callback_data": data}],
            ]
        },
    }

    def press(callback_data: str, query_id: str) -> dict[str, Any]:
        return {
            "update_id": 9002,
            "callback_query": {
                "id": query_id,
                "from": ALICE,
                "chat_instance": "ci",
                "message": bot_message,
                "data": callback_data,
            },
        }

    short = convert(press("/faq order_status", "q1"), payloads=payloads)
    assert short is not None
    assert (short.payload, short.text, short.message_id) == (
        "/faq order_status",
        "Where is my order?",
        "cb:q1",
    )
    assert short.conversation_key == "1001"
    long = convert(press(data, "q2"), payloads=payloads)
    assert long is not None and long.payload == long_payload
    # After a restart the token is unknown: the title goes to the NLU as the customer's words.
    forgotten = convert(press(data, "q3"), payloads=CallbackPayloads())
    assert forgotten is not None
    assert (forgotten.payload, forgotten.text) == (None, "A long one")


def test_conversation_keys_map_back_to_the_chat() -> None:
    assert conversation_key(1001, 1001, private=True) == "1001"
    assert conversation_key(-100555, 1001, private=False) == "-100555:1001"
    assert chat_id_of("1001") == 1001
    assert chat_id_of("-100555:1001") == -100555
    with pytest.raises(ValueError):
        chat_id_of("session-abc")


# --- outbound ----------------------------------------------------------------------------


def test_split_prefers_paragraphs_then_lines_then_sentences() -> None:
    sentence = "This sentence is exactly fifty characters long!!. "
    text = sentence * 120  # 6,000 characters, no line breaks
    parts = split_text(text)
    assert len(parts) == 2
    assert all(utf16_length(p) <= TEXT_LIMIT for p in parts)
    assert parts[0].endswith(".")
    assert " ".join(parts) == text.strip()

    lines = "\n".join(f"line {i}: " + "word " * 20 for i in range(60))
    parts = split_text(lines, limit=1000)
    assert all(len(p) <= 1000 for p in parts)
    assert all(p.startswith("line ") for p in parts)  # every cut at a line break


def test_split_without_any_boundary_cuts_hard_and_counts_utf16() -> None:
    assert [len(p) for p in split_text("x" * 5000)] == [4096, 904]
    emoji = "😀" * 3000  # two UTF-16 units each: 6,000 units
    parts = split_text(emoji)
    assert [utf16_length(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == emoji


def test_split_keeps_short_text_whole() -> None:
    assert split_text("  hello  ") == ["hello"]
    assert split_text("") == []


def test_to_platform_escapes_html_and_puts_buttons_on_the_last_part() -> None:
    payloads = CallbackPayloads()
    reply = OutboundMessage(
        "Use <b>code</b> A&B. " * 300,
        buttons=(Button("Yes", "/faq order_status"), Button("Long", "/faq " + "y" * 90)),
    )
    parts = to_platform(reply, payloads)
    assert len(parts) == 2
    assert parts[0].keyboard is None
    assert "&lt;b&gt;code&lt;/b&gt; A&amp;B." in parts[0].html
    assert "<b>" not in parts[0].html
    assert parts[1].keyboard is not None
    rows = parts[1].keyboard.inline_keyboard
    data = [row[0].callback_data for row in rows]
    assert data[0] == "/faq order_status"
    assert isinstance(data[1], str) and len(data[1].encode()) <= CALLBACK_DATA_LIMIT
    assert payloads.decode(data[1]) == "/faq " + "y" * 90
    assert html.unescape(parts[0].html + " " + parts[1].html) == reply.text.strip()


def test_payload_that_looks_like_a_token_is_tokenized_too() -> None:
    payloads = CallbackPayloads()
    data = payloads.encode("#hashtag")
    assert data != "#hashtag"
    assert payloads.decode(data) == "#hashtag"
    assert payloads.decode("#unknown") is None


def test_payload_memory_is_bounded() -> None:
    payloads = CallbackPayloads(capacity=2)
    tokens = [payloads.encode(f"/faq {'z' * 70}{i}") for i in range(3)]
    assert payloads.decode(tokens[0]) is None
    assert payloads.decode(tokens[2]) is not None


def test_buttons_without_text_still_send_something() -> None:
    [part] = to_platform(OutboundMessage("", buttons=(Button("OK", "/x"),)), CallbackPayloads())
    assert part.html.strip() and part.keyboard is not None


def test_a_survey_scale_shares_rows_and_other_buttons_keep_one_each() -> None:
    from bot.channels.telegram.outbound import keyboard_rows

    def shape(titles: list[str]) -> list[int]:
        return [len(row) for row in keyboard_rows([Button(t, f"/x {t}") for t in titles])]

    assert shape([str(n) for n in range(11)]) == [6, 5]  # NPS 0-10
    assert shape([str(n) for n in range(1, 8)]) == [4, 3]  # CES 1-7
    assert shape([f"{n} ★" for n in range(1, 6)]) == [5]  # CSAT
    assert shape(["Yes", "No", "Stop"]) == [1, 1, 1]  # three or fewer: a column
    assert shape(["Order status", "Returns", "1", "2"]) == [1, 1, 1, 1]  # words: a column
    rows = keyboard_rows([Button(str(n), f"/survey 9 {n}") for n in range(11)])
    assert [b.payload for row in rows for b in row] == [f"/survey 9 {n}" for n in range(11)]
