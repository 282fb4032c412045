"""The bot's own intents claim a message only on their own evidence (bot/nlu/evidence.py)."""

from __future__ import annotations

import pytest

from bot.nlu.client import IntentScore, ParseResult, parse_command
from bot.nlu.decision import Thresholds, decide
from bot.nlu.evidence import has_evidence, require_evidence
from bot.nlu.training import load_core_intents

NEEDS_EVIDENCE = ("ticket_status", "human_handoff", "feedback", "create_ticket")


@pytest.mark.parametrize("intent", NEEDS_EVIDENCE)
def test_every_training_example_shows_its_evidence(intent: str) -> None:
    [core] = [c for c in load_core_intents() if c.name == intent]
    missing = [t for texts in core.examples.values() for t in texts if not has_evidence(intent, t)]
    assert missing == []


@pytest.mark.parametrize(
    ("intent", "text", "claims"),
    [
        ("ticket_status", "any update on where my parcel is?", False),
        ("ticket_status", "my laptop broke after 3 months, is it covered", False),
        ("ticket_status", "any update on HD-1042?", True),
        ("ticket_status", "what happened to my complaint", True),
        ("ticket_status", "मेरी शिकायत का क्या हुआ", True),
        ("ticket_status", "mera ticket kab close hoga", True),
        ("human_handoff", "where can I visit you in person", False),
        ("human_handoff", "can I talk to a person", True),
        ("human_handoff", "where is your shop, can I come by", False),
        ("human_handoff", "मुझे किसी इंसान से बात करनी है", True),
        ("human_handoff", "ოპერატორთან დამაკავშირეთ", True),
        ("feedback", "I don't like this phone, how do I send it back?", False),
        ("feedback", "આ ફોન મને ગમતો નથી, હું તેને કેવી રીતે પાછો મોકલું?", False),
        ("feedback", "ఈ ఫోన్ నాకు నచ్చలేదు, దీన్ని ఎలా తిరిగి పంపాలి?", False),
        ("feedback", "how do I leave feedback?", True),
        ("feedback", "your service is great", True),
        ("create_ticket", "मुझे रजिस्टर करना है", False),
        ("create_ticket", "ახალი ანგარიშის შექმნა მინდა", False),
        ("create_ticket", "I want to cancel my order", False),
        ("create_ticket", "in case it arrives late, can I cancel?", False),
        ("create_ticket", "I want to report a problem with my order", True),
        ("create_ticket", "please escalate this", True),
        ("create_ticket", "საჩივრის შეტანა მინდა", True),
        ("create_ticket", "నా ఆర్డర్‌లో సమస్య ఉంది, రిపోర్ట్ చేయాలి", True),
        ("create_ticket", "mujhe ek problem report karni hai", True),
        ("greet", "any update on where my parcel is?", True),  # other intents need none
    ],
)
def test_evidence(intent: str, text: str, claims: bool) -> None:
    assert has_evidence(intent, text) is claims


def result(text: str, *scores: tuple[str, float]) -> ParseResult:
    ranking = tuple(IntentScore(n, c) for n, c in scores)
    return ParseResult(text, ranking[0].name, ranking[0].confidence, ranking, similarity=0.9)


def test_an_intent_without_evidence_gives_way_to_the_runner_up() -> None:
    parsed = result(
        "any update on where my parcel is?",
        ("ticket_status", 0.669),
        ("faq/order_status", 0.11),
        ("out_of_scope", 0.06),
    )
    claimed = require_evidence(parsed)
    assert claimed.intent == "faq/order_status"
    assert claimed.confidence == pytest.approx(0.11 / 0.17)
    assert [s.name for s in claimed.ranking] == ["faq/order_status", "out_of_scope"]
    assert claimed.similarity is None  # it was the struck intent's
    decision = decide(parsed, thresholds=Thresholds(confidence=0.19), known_faq=lambda _: True)
    assert decision.answers and decision.intent == "faq/order_status"


def test_evidence_keeps_what_it_has_no_reason_to_touch() -> None:
    own = result("any update on HD-1042", ("ticket_status", 0.9), ("faq/order_status", 0.1))
    assert require_evidence(own) is own
    command = parse_command("/status HD-1001")
    assert command is not None and require_evidence(command) is command
    alone = result("any update on my parcel", ("ticket_status", 0.9))
    assert require_evidence(alone) is alone  # nothing else to give way to
