"""Message helpers and the terminal channel's pure parts."""

from __future__ import annotations

import io

from bot.channels.terminal import TerminalChannel
from bot.engine.pipeline import KeyedLocks
from bot.messages import Button, OutboundMessage, buttons_as_text, pick_numbered_button

BUTTONS = (Button("Where is my order?", "/faq order_status"), Button("Talk to a person", "/human"))


def test_buttons_degrade_to_numbered_text() -> None:
    text = buttons_as_text(OutboundMessage("Did you mean?", buttons=BUTTONS), "Pick one.")
    assert text == "Did you mean?\n1. Where is my order?\n2. Talk to a person\nPick one."
    assert pick_numbered_button("2", BUTTONS) == BUTTONS[1]
    assert pick_numbered_button("3", BUTTONS) is None
    assert pick_numbered_button("two", BUTTONS) is None


async def test_terminal_maps_a_number_to_the_offered_button() -> None:
    out = io.StringIO()
    terminal = TerminalChannel(stdin=io.StringIO(), stdout=out, user="t")
    await terminal.send(terminal.conversation_key, OutboundMessage("Pick", buttons=BUTTONS))
    assert "1. Where is my order?" in out.getvalue()
    inbound = terminal.to_inbound("1\n")
    assert inbound is not None and inbound.payload == "/faq order_status"
    assert terminal.to_inbound("   ") is None


async def test_keyed_locks_are_released() -> None:
    locks = KeyedLocks()
    async with locks.hold(("a", "1")):
        assert len(locks) == 1
    assert len(locks) == 0
