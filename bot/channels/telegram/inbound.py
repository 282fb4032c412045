"""Telegram updates to :class:`InboundMessage`: a pure converter, tested with JSON fixtures.

Conversation keys: a private chat is keyed by its chat id (``"123456"``); in a group each
member has their own conversation, keyed ``"<chat id>:<user id>"`` (``"-100987:123456"``),
so two customers in one group never share a ticket or a handoff. :func:`chat_id_of`
maps a key back to the chat to write to.

Dedupe ids (``InboundMessage.message_id``): ``"<chat id>:<message id>"`` for messages and
``"cb:<callback query id>"`` for button presses. Both stay the same however often Telegram
re-sends the update, and unlike ``update_id`` (which Telegram may restart at a random
number after a quiet week) they never repeat for a different message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from telegram import CallbackQuery, Message, MessageEntity, PhotoSize, Update
from telegram.constants import ChatType, MessageAttachmentType

from bot.messages import Attachment, InboundMessage

CHANNEL = "telegram"
GroupReplies = Literal["mentioned", "all"]


class MalformedUpdate(ValueError):
    """An update no Telegram sends (a field of the wrong type): refused with 400, or
    skipped when polled, never retried and never a crash."""


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is on Telegram (from ``getMe``): needed to tell when a group mentions it."""

    id: int
    username: str


def conversation_key(chat_id: int, user_id: int, *, private: bool) -> str:
    return str(chat_id) if private else f"{chat_id}:{user_id}"


def chat_id_of(key: str) -> int:
    """The chat a conversation key writes to; ``ValueError`` for a key that is not ours."""
    return int(key.split(":", 1)[0])


def to_inbound(
    update: Update,
    *,
    bot: BotIdentity,
    group_replies: GroupReplies,
    resolve_payload: Callable[[str], str | None],
) -> InboundMessage | None:
    """The customer message in ``update``, or ``None`` when the bot should not react.

    Ignored on purpose: edited messages (the original was answered already), channel
    posts, messages from bots, service messages (members joining, pins), and group
    messages not addressed to the bot when ``group_replies`` is ``"mentioned"``.
    Raises :class:`MalformedUpdate` for fields of the wrong type.
    """
    try:
        return _convert(update, bot, group_replies, resolve_payload)
    except (TypeError, AttributeError, ValueError, KeyError) as exc:
        raise MalformedUpdate(f"update {update.update_id}: {type(exc).__name__}: {exc}") from exc


def _convert(
    update: Update,
    bot: BotIdentity,
    group_replies: GroupReplies,
    resolve_payload: Callable[[str], str | None],
) -> InboundMessage | None:
    if update.callback_query is not None:
        return _from_callback(update.callback_query, resolve_payload)
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    _check_ids(message.chat.id, message.from_user.id, message.message_id)
    sender = message.from_user
    _check_text(
        message.text, message.caption, sender.first_name, sender.language_code,
        message.media_group_id,
    )  # fmt: skip
    private = message.chat.type == ChatType.PRIVATE
    text = message.text or message.caption or ""
    attachments = _attachments(message)
    if not text and not attachments:
        return None  # a service message: nothing the customer wrote
    if not private:
        if _command_for_another_bot(text, bot):
            return None
        if group_replies == "mentioned" and not _addresses_bot(message, bot):
            return None
        text = _without_mention(text, bot)
    user = message.from_user
    return InboundMessage(
        channel=CHANNEL,
        conversation_key=conversation_key(message.chat.id, user.id, private=private),
        user_id=str(user.id),
        user_name=user.first_name,
        language_hint=user.language_code,
        text=text.strip(),
        message_id=f"{message.chat.id}:{message.message_id}",
        attachments=attachments,
        album=message.media_group_id,
        raw=update.to_dict(),
    )


def _from_callback(
    query: CallbackQuery, resolve_payload: Callable[[str], str | None]
) -> InboundMessage | None:
    message = query.message
    if query.data is None or not isinstance(message, Message) or query.from_user.is_bot:
        return None  # a game button, or a button on a message too old to read
    _check_ids(message.chat.id, query.from_user.id)
    _check_text(query.data, query.id, query.from_user.first_name, query.from_user.language_code)
    title = _button_title(message, query.data)
    payload = resolve_payload(query.data)
    # A shortened payload the bot no longer remembers (it restarted): the button's title
    # still says what the customer wants, so it goes to the NLU as their words.
    text = title or payload or ""
    if not text:
        return None
    private = message.chat.type == ChatType.PRIVATE
    user = query.from_user
    return InboundMessage(
        channel=CHANNEL,
        conversation_key=conversation_key(message.chat.id, user.id, private=private),
        user_id=str(user.id),
        user_name=user.first_name,
        language_hint=user.language_code,
        text=text,
        payload=payload,
        message_id=f"cb:{query.id}",
        raw=query.to_dict(),
    )


def _check_ids(*ids: object) -> None:
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in ids):
        raise MalformedUpdate(f"ids must be integers: {ids!r:.200}")


def _check_text(*values: object) -> None:
    if not all(value is None or isinstance(value, str) for value in values):
        raise MalformedUpdate("text, caption, data and names must be strings")


def _button_title(message: Message, data: str) -> str | None:
    markup = message.reply_markup
    if markup is None:
        return None
    for row in markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _entities(message: Message) -> dict[MessageEntity, str]:
    kinds: list[str | None] = [
        MessageEntity.MENTION,
        MessageEntity.TEXT_MENTION,
        MessageEntity.BOT_COMMAND,
    ]
    if message.text is not None:
        return message.parse_entities(kinds)
    return message.parse_caption_entities(kinds)


def _addresses_bot(message: Message, bot: BotIdentity) -> bool:
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        # A reply inside a forum topic points at the topic's first message; that is
        # not a reply to the bot unless the bot wrote it (checked above).
        return True
    handle = f"@{bot.username}".lower()
    for entity, value in _entities(message).items():
        if entity.type == MessageEntity.MENTION and value.lower() == handle:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            # In a group a bare "/help" is for every bot; "/help@OurBot" only for us.
            return "@" not in value or value.lower().endswith(handle)
    return False


def _command_for_another_bot(text: str, bot: BotIdentity) -> bool:
    match = re.match(r"^/\w+@(\w+)", text)
    return match is not None and match[1].lower() != bot.username.lower()


def _without_mention(text: str, bot: BotIdentity) -> str:
    stripped = re.sub(rf"(?<![\w/])@{re.escape(bot.username)}\b", " ", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


def _attachments(message: Message) -> tuple[Attachment, ...]:
    # MessageAttachmentType is ordered so that the specific kind wins: an animation also
    # carries a document, a venue also carries a location.
    for kind in MessageAttachmentType:
        content = getattr(message, kind.value, None)
        if content:
            return (_attachment(kind.value, content),)
    return ()


def _attachment(kind: str, content: Any) -> Attachment:
    if kind == "photo":
        photo: PhotoSize = _largest(content)
        _check_text(photo.file_id, photo.file_unique_id)
        if photo.file_size is not None:
            _check_ids(photo.file_size)
        return Attachment(
            kind="photo",
            file_id=photo.file_id,
            size=photo.file_size,
            details={
                "file_unique_id": photo.file_unique_id,
                "width": photo.width,
                "height": photo.height,
            },
        )
    if kind in ("location", "venue", "contact", "dice", "poll"):
        return Attachment(kind=kind, details=_plain_details(kind, content))
    # to_dict() gives the Bot API's own field names and units (duration in seconds).
    details = {
        name: value
        for name, value in content.to_dict().items()
        if name not in _FILE_FIELDS and not isinstance(value, dict | list)
    }
    attachment = Attachment(
        kind=kind,
        file_id=getattr(content, "file_id", None),
        file_name=getattr(content, "file_name", None),
        mime_type=getattr(content, "mime_type", None),
        size=getattr(content, "file_size", None),
        details=details,
    )
    _check_text(attachment.file_id, attachment.file_name, attachment.mime_type)
    if attachment.size is not None:
        _check_ids(attachment.size)
    return attachment


_FILE_FIELDS = frozenset({"file_id", "file_name", "mime_type", "file_size"})


def _largest(sizes: Sequence[PhotoSize]) -> PhotoSize:
    _check_ids(*(p.width for p in sizes), *(p.height for p in sizes))
    return max(sizes, key=lambda p: (p.width * p.height, p.file_size or 0))


def _plain_details(kind: str, content: Any) -> dict[str, Any]:
    data: dict[str, Any] = content.to_dict()
    if kind == "venue":
        location = data.pop("location", {})
        data.update(latitude=location.get("latitude"), longitude=location.get("longitude"))
    return data
