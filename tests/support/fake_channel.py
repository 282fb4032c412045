"""A channel for tests: push a customer message in, read what the bot sent."""

from __future__ import annotations

import itertools
import uuid

from bot.channels import ChannelSendError, OnMessage
from bot.messages import InboundMessage, OutboundMessage


class FakeChannel:
    name = "fake"

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutboundMessage]] = []
        self.fail_sends = 0  # the next N sends fail, as during a platform outage
        self._on_message: OnMessage | None = None
        self._ids = itertools.count(1)

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message

    async def stop(self) -> None:
        self._on_message = None

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        if self.fail_sends > 0:
            self.fail_sends -= 1
            raise ChannelSendError("platform outage (simulated)")
        self.sent.append((conversation_key, message))
        return f"fake-{next(self._ids)}"

    def message(
        self,
        text: str,
        *,
        user: str = "alice",
        message_id: str | None = None,
        payload: str | None = None,
        hint: str | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            channel=self.name,
            conversation_key=f"chat-{user}",
            user_id=user,
            user_name=user.title(),
            text=text,
            payload=payload,
            message_id=message_id or uuid.uuid4().hex,
            language_hint=hint,
        )

    async def push(self, text: str, **kwargs: object) -> list[OutboundMessage]:
        """Deliver a customer message the way a platform would; return the replies sent."""
        assert self._on_message is not None, "channel not started"
        before = len(self.sent)
        await self._on_message(self.message(text, **kwargs))  # type: ignore[arg-type]
        return [message for _, message in self.sent[before:]]

    def sent_to(self, user: str) -> list[OutboundMessage]:
        return [m for key, m in self.sent if key == f"chat-{user}"]
