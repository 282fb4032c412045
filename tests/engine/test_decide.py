"""The decide and dispatch steps alone, over a real database: who answers a turn."""

from __future__ import annotations

from sqlalchemy import select

from bot.commands import HUMAN
from bot.engine.decide import Decider
from bot.engine.dispatch import dispatch
from bot.engine.frustration import Signs, signs
from bot.engine.turn import Understanding
from bot.intents import DIALOGUES, TurnContext
from bot.messages import Attachment, InboundMessage, OutboundMessage
from bot.nlu.decision import Thresholds, decide
from bot.nlu.language import LanguageGuess
from bot.ports import TurnView
from bot.storage.database import Database
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import ConversationState, Dialogue, HandoffEvent
from tests.support.turns import inbound, load, phrase, stored, turn, understood

ENGLISH = LanguageGuess("en", "model")


def reading(
    intent: str | None = "greet",
    *,
    negative: Signs | None = None,
    nlu_error: str | None = None,
    content_only: bool = False,
) -> Understanding:
    result = understood(intent) if intent is not None else None
    decision = decide(result, thresholds=Thresholds(), known_faq=lambda _: True) if result else None
    return Understanding(ENGLISH, "en", result, nlu_error, negative, content_only, decision)


async def test_nothing_special_leaves_the_turn_to_the_handler(db: Database) -> None:
    message = inbound("hello")
    async with turn(db, message) as ctx:
        assert await Decider(DIALOGUES)(message, ctx, reading()) is None


async def test_a_photo_gets_one_polite_reply_per_album(db: Database) -> None:
    photo = Attachment(kind="photo", file_id="f")
    first = inbound("", attachments=(photo,), album="a1")
    second = inbound("", attachments=(photo,), album="a1")
    decider = Decider(DIALOGUES)
    async with turn(db, first) as ctx:
        replies = await decider(first, ctx, reading(None, content_only=True))
    assert [r.text for r in replies or []] == [phrase("unsupported_content")]
    # The bot cannot see the photo; a person can: the reply offers one.
    assert [(b.title, b.payload) for r in replies or [] for b in r.buttons] == [
        (phrase("talk_to_person"), HUMAN)
    ]
    async with turn(db, second) as ctx:
        assert await decider(second, ctx, reading(None, content_only=True)) == []


async def test_an_open_dialogue_takes_the_message_from_the_table_it_is_given(
    db: Database,
) -> None:
    heard: list[str] = []

    async def survey(
        message: InboundMessage, ctx: TurnContext, dialogue: Dialogue
    ) -> list[OutboundMessage]:
        heard.append(f"{dialogue.step}:{message.text}")
        return [OutboundMessage("noted")]

    opening = inbound("start the survey")
    async with turn(db, opening) as ctx:
        await DialogueRepository(ctx.session).open(
            ctx.conversation.id, name="survey", step="q1", data={}
        )
    answer = inbound("blue")
    async with turn(db, answer) as ctx:
        replies = await Decider({"survey": survey})(answer, ctx, reading(None))
    assert heard == ["q1:blue"]
    assert [r.text for r in replies or []] == ["noted"]


class TicketWaiting:
    """A follow-up that takes the turns the bot would not know what to do with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    async def follow_up(self, turn: TurnView) -> list[OutboundMessage] | None:
        self.seen.append((turn.message.text, turn.intent))
        return [OutboundMessage("added to your ticket")] if turn.intent is None else None


async def test_a_follow_up_hears_the_acted_intent_and_may_take_the_turn(db: Database) -> None:
    tickets = TicketWaiting()
    decider = Decider(DIALOGUES, (tickets,))
    sure, unsure = inbound("hello"), inbound("the part is still loose")
    async with turn(db, sure) as ctx:
        assert await decider(sure, ctx, reading("greet")) is None
    async with turn(db, unsure) as ctx:
        replies = await decider(unsure, ctx, reading("out_of_scope"))
    assert tickets.seen == [("hello", "greet"), ("the part is still loose", None)]
    assert [r.text for r in replies or []] == ["added to your ticket"]


async def test_follow_ups_wait_while_the_nlu_is_down(db: Database) -> None:
    tickets = TicketWaiting()
    message = inbound("anyone there?")
    async with turn(db, message) as ctx:
        replies = await Decider(DIALOGUES, (tickets,))(
            message, ctx, reading(None, nlu_error="Rasa unreachable")
        )
    assert tickets.seen == []  # asked nothing without knowing what the bot understood
    assert [r.text for r in replies or []] == [phrase("nlu_unavailable")]


async def angry_before(db: Database) -> None:
    """An earlier message that counts as negative by what its turn recorded."""
    angry = "this is useless!!!"
    earlier_id = await stored(db, inbound(angry))
    async with db.transaction() as session:
        earlier, _ = await load(session, earlier_id)
        earlier.nlu = {"negative": list(signs(angry).reasons)}


async def test_repeated_anger_hands_the_chat_to_a_person(db: Database) -> None:
    decider = Decider(DIALOGUES)
    await angry_before(db)
    message = inbound("still useless, you are terrible")
    async with turn(db, message) as ctx:
        ctx.conversation.low_confidence_streak = 1
        replies = await decider(message, ctx, reading("greet", negative=signs(message.text)))
        assert ctx.conversation.low_confidence_streak == 0
    assert [r.text for r in replies or []] == [phrase("handoff_frustration")]
    async with db.transaction() as session:
        [event] = (await session.scalars(select(HandoffEvent))).all()
    assert (event.to_state, event.reason) == (ConversationState.QUEUED, "frustration")


async def test_one_angry_message_is_not_enough(db: Database) -> None:
    # Not handed over: an apology and a person on offer (never "thanks for the feedback").
    message = inbound("this is useless!!!")
    async with turn(db, message) as ctx:
        negative = signs(message.text)
        replies = await Decider(DIALOGUES)(message, ctx, reading(negative=negative))
    assert [r.text for r in replies or []] == [phrase("feedback_negative")]
    async with db.transaction() as session:
        assert (await session.scalars(select(HandoffEvent))).all() == []


async def test_an_angry_request_goes_to_its_handler(db: Database) -> None:
    message = inbound("where is my order, this is ridiculous")
    async with turn(db, message) as ctx:
        negative = signs(message.text)
        understood = reading("faq/order_status", negative=negative)
        assert await Decider(DIALOGUES)(message, ctx, understood) is None


async def test_with_detection_off_anger_is_answered_as_usual(db: Database) -> None:
    await angry_before(db)
    message = inbound("still useless, you are terrible")
    async with turn(db, message) as ctx:
        decider = Decider(DIALOGUES, detects_frustration=False)
        assert await decider(message, ctx, reading(negative=signs(message.text))) is None


async def test_dispatch_runs_the_acted_intents_handler_and_ends_the_unsure_streak(
    db: Database,
) -> None:
    message = inbound("hello")
    async with turn(db, message) as ctx:
        ctx.conversation.low_confidence_streak = 1
        replies = await dispatch(message, ctx, "greet")
        assert ctx.conversation.low_confidence_streak == 0
    assert [r.text for r in replies] == [phrase("greet")]


async def test_dispatch_of_an_unsure_turn_clarifies_and_counts_it(db: Database) -> None:
    message = inbound("blorp")
    async with turn(db, message, nlu=understood("out_of_scope", 0.4)) as ctx:
        replies = await dispatch(message, ctx, None)
        assert ctx.conversation.low_confidence_streak == 1
    assert replies[0].text == phrase("clarify")
