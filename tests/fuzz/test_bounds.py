"""The bounds every channel applies before handing a message over (bot.channels.bounded)."""

from __future__ import annotations

from bot.channels import STORED_SIZES, bounded, storable
from bot.messages import Attachment, InboundMessage
from bot.storage.models import Attachment as AttachmentRow
from bot.storage.models import ChannelIdentity, Conversation, Message


def test_the_sizes_agree_with_the_storage_columns() -> None:
    columns = {
        "conversation_key": Conversation.__table__.c.conversation_key,
        "user_id": ChannelIdentity.__table__.c.external_id,
        "message_id": Message.__table__.c.platform_message_id,
        "user_name": ChannelIdentity.__table__.c.display_name,
        "payload": Message.__table__.c.payload,
        "kind": AttachmentRow.__table__.c.kind,
        "file_id": AttachmentRow.__table__.c.platform_file_id,
        "file_name": AttachmentRow.__table__.c.file_name,
        "mime_type": AttachmentRow.__table__.c.mime_type,
    }
    lengths = {name: getattr(column.type, "length", None) for name, column in columns.items()}
    assert lengths == STORED_SIZES


def inbound(**fields: object) -> InboundMessage:
    base: dict[str, object] = {
        "channel": "telegram",
        "conversation_key": "7",
        "user_id": "7",
        "text": "hello",
        "message_id": "7:1",
    }
    return InboundMessage(**{**base, **fields})  # type: ignore[arg-type]


def test_text_is_cut_and_the_original_length_kept() -> None:
    fitted = bounded(inbound(text="a" * 150), max_text_chars=100)
    assert fitted is not None
    assert (fitted.inbound.text, fitted.original_chars) == ("a" * 100, 150)
    short = bounded(inbound(text="a" * 100), max_text_chars=100)
    assert short is not None and short.original_chars is None


def test_what_no_database_takes_is_cleaned() -> None:
    fitted = bounded(
        inbound(
            text="a\x00b\ud800c",
            user_name="N" * 300 + "\x00",
            language_hint="en-" + "x" * 100,
            attachments=(
                Attachment(
                    kind="photo",
                    file_id="f" * 400,
                    size=2**40,
                    details={"w": "\ud800", "options": [{"text": "yes"}]},
                ),
            ),
        ),
        max_text_chars=4096,
    )
    assert fitted is not None
    message = fitted.inbound
    assert message.text == "ab\ufffdc"
    assert message.user_name == "N" * 200
    assert message.language_hint is not None and len(message.language_hint) == 35
    [attachment] = message.attachments
    assert (len(attachment.file_id or ""), attachment.size) == (300, None)
    assert attachment.details == {"w": "\ufffd", "options": [{"text": "yes"}]}
    assert storable("ok") == "ok"


def test_ids_and_payloads_no_platform_sends_drop_the_message() -> None:
    for fields in (
        {"conversation_key": "k" * 201},
        {"user_id": ""},
        {"message_id": "a\x00b"},
        {"payload": "p" * 501},
    ):
        assert bounded(inbound(**fields), max_text_chars=4096) is None, fields
