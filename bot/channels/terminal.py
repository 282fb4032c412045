"""``helpdesk chat``: the terminal as a channel, interactive or scripted through a pipe."""

from __future__ import annotations

import asyncio
import getpass
import sys
import uuid
from typing import TextIO

from bot.channels import OnMessage
from bot.messages import (
    Button,
    InboundMessage,
    OutboundMessage,
    buttons_as_text,
    pick_numbered_button,
)

CHOOSE_PROMPT = "(reply with a number)"


class TerminalChannel:
    """Reads one message per line and prints replies; buttons become numbered options."""

    name = "terminal"

    def __init__(
        self,
        *,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
        user: str | None = None,
        session: str | None = None,
    ) -> None:
        self._in = stdin
        self._out = stdout
        self.user = user or getpass.getuser()
        # A fresh session per run unless asked to continue one.
        self.conversation_key = session or f"{self.user}-{uuid.uuid4().hex[:8]}"
        self._offered: tuple[Button, ...] = ()
        self._on_message: OnMessage | None = None
        self.interactive = stdin.isatty()

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message

    async def stop(self) -> None:
        self._on_message = None

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        self._offered = message.buttons
        prefix = "bot> " if self.interactive else ""
        self._out.write(prefix + buttons_as_text(message, CHOOSE_PROMPT) + "\n")
        self._out.flush()
        return None

    def to_inbound(self, line: str) -> InboundMessage | None:
        text = line.strip()
        if not text:
            return None
        button = pick_numbered_button(text, self._offered)
        return InboundMessage(
            channel=self.name,
            conversation_key=self.conversation_key,
            user_id=self.user,
            user_name=self.user,
            text=button.title if button else text,
            payload=button.payload if button else None,
            message_id=uuid.uuid4().hex,
        )

    async def run(self) -> None:
        """Feed lines until end of input; each line waits for its replies (keeps order)."""
        assert self._on_message is not None, "start() the channel first"
        loop = asyncio.get_running_loop()
        while True:
            if self.interactive:
                self._out.write("you> ")
                self._out.flush()
            line = await loop.run_in_executor(None, self._in.readline)
            if not line:
                break
            if line.strip() in {"/quit", "/exit"}:
                break
            inbound = self.to_inbound(line)
            if inbound is not None:
                self._offered = ()
                await self._on_message(inbound)
