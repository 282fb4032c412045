"""Channel adapters: platform payloads to and from :mod:`bot.messages`.

Channels never touch storage or intents; they hand inbound messages to the
callback they were given and send what the engine asks them to send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from starlette.routing import BaseRoute

from bot.messages import InboundMessage, OutboundMessage

OnStored = Callable[[], Awaitable[None]]


class OnMessage(Protocol):
    """Where a channel hands each inbound message: the one callback given to ``start``.

    In the running bot it is ``metered_receive(engine.receive)``. Every channel passes
    ``on_stored`` and every callback awaits it once the message is committed (or known
    to be a redelivery): the moment a channel may acknowledge it to the platform (a
    webhook's 200, a Socket Mode ack, the web chat's ``ack`` frame).
    """

    async def __call__(
        self, inbound: InboundMessage, *, on_stored: OnStored | None = None
    ) -> object: ...


class ChannelSendError(Exception):
    """The platform did not take the message; the outbox will retry it.

    ``permanent`` marks failures a retry cannot fix (chat deleted, bot blocked).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RecipientUnreachable(ChannelSendError):
    """The platform forbids writing to this person (they blocked the bot, left the chat).

    The engine marks the customer unreachable on this channel and stops sending to them;
    the history stays, and writing to the bot again makes them reachable.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


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


@runtime_checkable
class WebhookChannel(Protocol):
    """A channel that also receives over HTTP (a webhook, an events endpoint).

    Its routes are mounted on the one ASGI app next to the web chat and the console.
    """

    def routes(self) -> list[BaseRoute]: ...


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
