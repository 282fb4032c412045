"""Message helpers and the terminal channel's pure parts."""

from __future__ import annotations

import io

from bot.channels.terminal import TerminalChannel
from bot.engine import KeyedLocks, decide
from bot.messages import Button, OutboundMessage, buttons_as_text, pick_numbered_button
from bot.nlu import IntentScore, ParseResult

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


def test_decide() -> None:
    def result(intent: str, confidence: float) -> ParseResult:
        return ParseResult("x", intent, confidence, (IntentScore(intent, confidence),))

    known = {"order_status"}.__contains__
    assert (
        decide(result("faq/order_status", 0.9), threshold=0.5, known_faq=known)
        == "faq/order_status"
    )
    assert decide(result("faq/order_status", 0.4), threshold=0.5, known_faq=known) is None
    assert decide(result("faq/removed", 0.9), threshold=0.5, known_faq=known) is None
    assert decide(result("out_of_scope", 0.99), threshold=0.5, known_faq=known) is None
    assert decide(result("greet", 0.8), threshold=0.5, known_faq=known) == "greet"
    assert decide(None, threshold=0.5, known_faq=known) is None


async def test_keyed_locks_are_released() -> None:
    locks = KeyedLocks()
    async with locks.hold(("a", "1")):
        assert len(locks) == 1
    assert len(locks) == 0
