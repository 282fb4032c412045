"""Channel adapters: platform payloads to and from :mod:`bot.messages`.

Channels never touch storage or intents; they hand inbound messages to the
callback they were given and send what the engine asks them to send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from bot.messages import InboundMessage, OutboundMessage

OnMessage = Callable[[InboundMessage], Awaitable[None]]


class ChannelSendError(Exception):
    """The platform did not take the message; the outbox will retry it.

    ``permanent`` marks failures a retry cannot fix (chat deleted, bot blocked).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RecipientOffline(ChannelSendError):
    """Nobody is connected to receive it now (a closed browser tab): not a failure.

    The reply stays in the outbox, uncounted, until the recipient is back.
    """


@runtime_checkable
class Channel(Protocol):
    name: str

    async def start(self, on_message: OnMessage) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        """Deliver one message; return the platform's message id if it has one."""
        ...


class ChannelRegistry:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def add(self, channel: Channel) -> None:
        if channel.name in self._channels:
            raise ValueError(f"channel '{channel.name}' registered twice")
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._channels.values()))
