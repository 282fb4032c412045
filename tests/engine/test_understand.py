"""The understand step alone: what is read from a message, and the turn's one decision."""

from __future__ import annotations

from dataclasses import replace

from bot.engine.turn import Understanding
from bot.engine.understand import Reader
from bot.nlu.client import IntentScore, NluUnavailable, ParseResult
from bot.nlu.decision import Thresholds, decide
from bot.nlu.language import LanguageGuess
from bot.storage.models import Conversation, Message
from tests.conftest import engine_options
from tests.support.turns import CATALOGUE, KB, inbound, understood

OPTIONS = replace(engine_options(), thresholds=Thresholds(confidence=0.55))


class OneAnswerNlu:
    """Answers every parse with one result (or fails), counting the calls."""

    def __init__(self, result: ParseResult | None = None) -> None:
        self.result = result
        self.calls: list[str] = []

    async def parse(self, text: str) -> ParseResult:
        self.calls.append(text)
        if self.result is None:
            raise NluUnavailable("Rasa at http://127.0.0.1:1 unreachable: ConnectError")
        return replace(self.result, text=text)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def reader(nlu: OneAnswerNlu) -> Reader:
    return Reader(nlu, KB, CATALOGUE, OPTIONS)


async def test_a_confident_faq_is_acted_on() -> None:
    nlu = OneAnswerNlu(understood("faq/order_status", 0.9))
    got = await reader(nlu).read(inbound("where is my order"), None)
    assert nlu.calls == ["where is my order"]
    assert got.decision is not None and got.decision.reason == "confident"
    assert got.acted_intent == "faq/order_status"
    assert (got.guess.language, got.reply_language) == ("en", "en")


async def test_an_unsure_read_is_recorded_but_not_acted_on() -> None:
    low = await reader(OneAnswerNlu(understood("faq/order_status", 0.3))).read(
        inbound("order??"), None
    )
    gone = await reader(OneAnswerNlu(understood("faq/no_such_entry", 0.99))).read(
        inbound("tell me about the old thing"), None
    )
    assert (low.decision and low.decision.reason, low.acted_intent) == ("low_confidence", None)
    assert (gone.decision and gone.decision.reason, gone.acted_intent) == ("unknown_faq", None)


async def test_a_button_skips_the_model() -> None:
    nlu = OneAnswerNlu(understood("greet"))
    got = await reader(nlu).read(inbound("Return policy", payload="/faq return_policy"), None)
    assert nlu.calls == []
    assert got.result is not None and got.result.from_command
    assert got.decision is not None and got.decision.reason == "command"
    assert got.acted_intent == "faq/return_policy"
    assert got.negative is None  # a choice, not words: no frustration signs


async def test_content_without_words_is_not_read() -> None:
    nlu = OneAnswerNlu(understood("greet"))
    got = await reader(nlu).read(inbound(""), None)
    assert nlu.calls == [] and got.content_only
    assert (got.result, got.decision, got.negative, got.acted_intent) == (None, None, None, None)


async def test_a_message_an_open_dialogue_takes_skips_the_nlu_but_not_the_signs() -> None:
    nlu = OneAnswerNlu(understood("greet"))
    got = await reader(nlu).read(inbound("this is USELESS!!!"), None, read=False)
    assert nlu.calls == [] and got.result is None and got.decision is None
    assert got.negative is not None and got.negative.negative


async def test_an_nlu_outage_is_an_error_not_a_failure() -> None:
    got = await reader(OneAnswerNlu(None)).read(inbound("where is my order"), None)
    assert got.result is None and got.decision is None
    assert got.nlu_error is not None and "unreachable" in got.nlu_error


async def test_the_language_follows_the_script_and_the_reply_a_known_language() -> None:
    got = await reader(OneAnswerNlu(understood("greet"))).read(inbound("મારો ઓર્ડર ક્યાં છે?"), "en")
    assert (got.guess.language, got.reply_language) == ("gu", "gu")


def test_the_record_keeps_the_decision_on_the_message() -> None:
    result = ParseResult(
        text="where is my order",
        intent="faq/order_status",
        confidence=0.5,
        ranking=(IntentScore("faq/order_status", 0.5), IntentScore("greet", 0.2)),
    )
    decision = decide(result, thresholds=OPTIONS.thresholds, known_faq=lambda _: True)
    reading = Understanding(LanguageGuess("en", "model"), "en", result, None, None, False, decision)
    message, conversation = Message(), Conversation()
    reading.record(message, conversation)
    assert message.intent == "faq/order_status" and message.confidence == 0.5
    assert message.nlu is not None
    assert (message.nlu["decision"], message.nlu["language_source"]) == ("low_confidence", "model")
    assert conversation.language == "en"
