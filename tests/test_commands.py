"""The command and button grammar: every payload a factory builds parses back."""

from __future__ import annotations

import pytest

from bot import commands
from bot.commands import Command, HelpfulVote
from bot.nlu.client import parse_command


def test_every_csat_button_parses_back_to_its_score() -> None:
    buttons = commands.csat_buttons()
    assert [b.title for b in buttons] == [f"{n} ★" for n in range(1, 6)]
    assert [commands.parse_csat(b.payload) for b in buttons] == [1, 2, 3, 4, 5]


def test_a_csat_score_outside_one_to_five_is_neither_built_nor_read() -> None:
    with pytest.raises(ValueError):
        commands.csat_payload(6)
    assert commands.parse_csat("/csat 0") is None
    assert commands.parse_csat("/csat 5 stars") is None
    assert commands.parse_csat(None) is None


@pytest.mark.parametrize("helpful", [True, False])
def test_a_helpful_vote_parses_back(helpful: bool) -> None:
    payload = commands.helpful_payload(42, helpful=helpful)
    assert commands.parse_helpful(payload) == HelpfulVote(42, helpful)


def test_a_malformed_vote_is_not_a_vote() -> None:
    assert commands.parse_helpful("/helpful abc yes") is None
    assert commands.parse_helpful("/helpful 4 maybe") is None
    assert commands.parse_helpful(None) is None


def test_faq_cancel_and_human_payloads_parse_as_commands() -> None:
    assert commands.parse(commands.faq_payload("order_status")) == Command("faq", "order_status")
    assert commands.parse(commands.faq_payload("order_status")).faq_id == "order_status"  # type: ignore[union-attr]
    assert commands.parse(commands.CANCEL) == Command("cancel")
    assert commands.parse(commands.HUMAN).intent == "human_handoff"  # type: ignore[union-attr]


def test_slash_commands_and_their_intents() -> None:
    assert commands.parse("/status HD-1042") == Command("status", "HD-1042")
    assert commands.parse("  /help@VoltCartBot  ") == Command("help")
    assert commands.parse("/ticket the jar\ncracked") == Command("ticket", "the jar\ncracked")
    assert {name: Command(name).intent for name in ("start", "help", "ticket", "status")} == {
        "start": "greet",
        "help": "greet",
        "ticket": "create_ticket",
        "status": "ticket_status",
    }
    assert commands.parse("where is my order") is None
    assert commands.parse("/Status") is None  # lower-case names only, as before
    assert Command("nonsense").intent is None


def test_the_one_is_a_command_rule() -> None:
    assert commands.is_command("/status")
    assert commands.is_command("  /human")
    assert commands.is_command("4 ★", "/csat 4")  # a button, whatever its title
    assert not commands.is_command("my order / parcel is late")
    assert not commands.is_command("")


def test_every_button_payload_reads_as_a_certain_result() -> None:
    """What the engine's understand step gets for each button the bot offers."""
    pressed = {
        commands.csat_payload(4): ("csat", {"score": "4"}),
        commands.helpful_payload(7, helpful=False): (
            "helpful",
            {"message_id": "7", "vote": "no"},
        ),
        commands.faq_payload("return_policy"): ("faq/return_policy", {"argument": "return_policy"}),
        commands.HUMAN: ("human_handoff", {}),
    }
    for payload, (intent, entities) in pressed.items():
        result = parse_command("button title", payload=payload)
        assert result is not None and result.from_command, payload
        assert result.intent == intent and result.confidence == 1.0
        assert {e["entity"]: e["value"] for e in result.entities} == entities


def test_ratings_and_votes_count_only_from_buttons() -> None:
    # Typed, they are not commands the bot knows: the model reads them like any text.
    assert parse_command("/csat 5") is None
    assert parse_command("/helpful 3 yes") is None
    assert parse_command("/nonsense") is None
