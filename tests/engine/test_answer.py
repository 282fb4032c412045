"""The answer step alone: one transaction decides, dispatches and stores the replies."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import ChannelRegistry
from bot.engine.answer import Answer, Answering
from bot.engine.decide import Decider
from bot.engine.gate import open_turn
from bot.engine.locks import KeyedLocks
from bot.engine.outbox import Outbox
from bot.engine.turn import Understanding
from bot.handoff import HandoffDesk
from bot.intents import DIALOGUES
from bot.messages import InboundMessage, OutboundMessage
from bot.nlu.decision import Thresholds, decide
from bot.nlu.language import LanguageGuess
from bot.ports import FollowUps, TurnView
from bot.storage.database import Database
from bot.storage.models import Conversation, ConversationState, Delivery, Direction, Message
from tests.conftest import engine_options
from tests.support.turns import CATALOGUE, KB, inbound, load, phrase, stored, understood


def reading(intent: str) -> Understanding:
    result = understood(intent)
    decision = decide(result, thresholds=Thresholds(), known_faq=lambda _: True)
    return Understanding(LanguageGuess("en", "model"), "en", result, None, None, False, decision)


class AdmittingDesk:
    """A desk that answers every newly queued chat with its place in the queue."""

    detects_frustration = True

    def __init__(self) -> None:
        self.admitted: list[int] = []

    async def admit(
        self,
        session: AsyncSession,
        conversation: Conversation,
        *,
        replies: Sequence[OutboundMessage],
        language: str,
    ) -> list[OutboundMessage]:
        self.admitted.append(conversation.id)
        return [OutboundMessage("You're number 1 in the queue.")]

    async def customer_message(self, conversation: Conversation, message: Message) -> None:
        raise AssertionError("the answer step relays nothing")

    async def turn_finished(
        self, conversation_id: int, *, state_changed: bool, changed_tickets: Sequence[int] = ()
    ) -> None:
        raise AssertionError("the answer step finishes nothing")


class Recorder:
    """A follow-up that records the view of the turn it was given and lets it pass."""

    def __init__(self) -> None:
        self.views: list[TurnView] = []

    async def follow_up(self, turn: TurnView) -> list[OutboundMessage] | None:
        self.views.append(turn)
        return None


async def answer(
    db: Database,
    message: InboundMessage,
    understanding: Understanding,
    *,
    desk: HandoffDesk | None = None,
    follow_ups: Sequence[FollowUps] = (),
    claimed_meanwhile: bool = False,
) -> Answer:
    message_id = await stored(db, message)
    opened = await open_turn(
        db, message, message_id, language=lambda *_: LanguageGuess("en", "model")
    )
    if claimed_meanwhile:  # an agent took the chat while the NLU was reading
        async with db.transaction() as session:
            _, conversation = await load(session, message_id)
            conversation.state = ConversationState.AGENT
    answering = Answering(
        db=db,
        outbox=Outbox(db=db, channels=ChannelRegistry(), hold=KeyedLocks().hold),
        decider=Decider(DIALOGUES, follow_ups),
        desk=desk,
        kb=KB,
        catalogue=CATALOGUE,
        options=engine_options(),
    )
    return await answering.answer(message, opened, understanding)


async def outbox_rows(db: Database) -> list[Message]:
    async with db.transaction() as session:
        stmt = select(Message).where(Message.direction == Direction.OUT).order_by(Message.id)
        return list((await session.scalars(stmt)).all())


async def test_the_replies_are_stored_with_the_record_of_the_turn(db: Database) -> None:
    done = await answer(db, inbound("hello"), reading("greet"))
    assert [r.text for r in done.replies] == [phrase("greet")]
    [row] = await outbox_rows(db)
    assert (done.rows, row.text, row.delivery) == ([row.id], phrase("greet"), Delivery.PENDING)
    async with db.transaction() as session:
        message, _ = await load(session, done.message.id)
    assert message.delivery == Delivery.PROCESSED
    assert message.nlu is not None and message.nlu["decision"] == "confident"
    assert not done.taken_over and not done.state_changed


async def test_a_chat_claimed_while_the_nlu_read_is_not_answered(db: Database) -> None:
    done = await answer(db, inbound("hello"), reading("greet"), claimed_meanwhile=True)
    assert done.taken_over and done.replies == []
    assert await outbox_rows(db) == []
    async with db.transaction() as session:
        message, _ = await load(session, done.message.id)
    # Still recorded: the agent sees what the bot read.
    assert message.delivery == Delivery.PROCESSED and message.intent == "greet"


async def test_a_chat_queued_in_this_turn_is_admitted_by_the_desk(db: Database) -> None:
    desk = AdmittingDesk()
    done = await answer(db, inbound("/human"), reading("human_handoff"), desk=desk)
    assert desk.admitted == [done.conversation.id]
    assert [r.text for r in done.replies] == ["You're number 1 in the queue."]
    assert [r.text for r in await outbox_rows(db)] == ["You're number 1 in the queue."]
    assert done.state_changed and done.conversation.state == ConversationState.QUEUED


async def test_a_follow_up_sees_a_narrow_view_of_the_turn(db: Database) -> None:
    recorder = Recorder()
    done = await answer(db, inbound("hello"), reading("greet"), follow_ups=[recorder])
    [view] = recorder.views
    assert (view.conversation_id, view.message_id) == (done.conversation.id, done.message.id)
    assert (view.message.text, view.language, view.intent) == ("hello", "en", "greet")
    assert [r.text for r in done.replies] == [phrase("greet")]  # it let the turn pass
