"""The outbox alone: a reply is stored, then sent and marked; a failed one waits for the retry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from bot.channels import ChannelRegistry, ChannelSendError, RecipientOffline, RecipientUnreachable
from bot.engine.locks import KeyedLocks
from bot.engine.outbox import MAX_SEND_ATTEMPTS, Outbox
from bot.messages import Button, OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Delivery, Direction, Message
from bot.storage.repositories import ConversationRepository
from tests.support.fake_channel import FakeChannel
from tests.support.turns import inbound, stored

KEY = "chat-alice"


class RefusingChannel(FakeChannel):
    """A platform that refuses every message with one error."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.tries = 0

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        self.tries += 1
        raise self.error


def outbox_for(db: Database, channel: FakeChannel) -> Outbox:
    registry = ChannelRegistry()
    registry.add(channel)
    return Outbox(db=db, channels=registry, hold=KeyedLocks().hold)


async def store(db: Database, outbox: Outbox, replies: Sequence[OutboundMessage]) -> list[int]:
    """Put replies to alice in the outbox, as a turn or an agent does, and commit."""
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="fake", conversation_key=KEY
        )
    if conversation is None:  # alice wrote first
        await stored(db, inbound("hello"))
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="fake", conversation_key=KEY
        )
        assert conversation is not None
        return await outbox.store_outbound(session, conversation, replies, language="en")


async def outbound(db: Database) -> list[Message]:
    async with db.transaction() as session:
        stmt = select(Message).where(Message.direction == Direction.OUT).order_by(Message.id)
        return list((await session.scalars(stmt)).all())


async def test_a_reply_is_stored_before_it_is_sent_and_marked_after(db: Database) -> None:
    channel = FakeChannel()
    outbox = outbox_for(db, channel)
    reply = OutboundMessage("Hello!", buttons=(Button("Talk to a person", "/human"),))
    rows = await store(db, outbox, [reply])
    [pending] = await outbound(db)
    assert (pending.delivery, pending.buttons, channel.sent) == (
        Delivery.PENDING,
        [{"title": "Talk to a person", "payload": "/human"}],
        [],
    )
    assert await outbox.deliver(rows) == 1
    assert channel.sent == [(KEY, reply)]  # buttons survive the round trip through the row
    [sent] = await outbound(db)
    assert (sent.delivery, sent.platform_message_id, sent.attempts) == (
        Delivery.SENT,
        "fake-1",
        1,
    )
    assert await outbox.deliver(rows) == 0  # never sent twice


async def test_a_platform_error_leaves_the_reply_for_the_retry(db: Database) -> None:
    channel = FakeChannel()
    channel.fail_sends = 1
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.deliver(rows) == 0
    [waiting] = await outbound(db)
    assert (waiting.delivery, waiting.attempts) == (Delivery.PENDING, 1)
    assert waiting.last_error == "platform outage (simulated)"
    assert await outbox.flush() == 1
    assert [m.text for _, m in channel.sent] == ["Hello!"]


async def test_a_permanent_failure_is_marked_and_not_retried(db: Database) -> None:
    channel = RefusingChannel(ChannelSendError("chat not found", permanent=True))
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.deliver(rows) == 0
    [failed] = await outbound(db)
    assert (failed.delivery, failed.last_error) == (Delivery.FAILED, "chat not found")
    assert await outbox.flush() == 0
    assert channel.tries == 1


async def test_a_customer_who_blocked_the_bot_is_not_written_to_again(db: Database) -> None:
    channel = RefusingChannel(RecipientUnreachable("bot was blocked by the user"))
    outbox = outbox_for(db, channel)
    first = await store(db, outbox, [OutboundMessage("Hello!")])
    await outbox.deliver(first)
    second = await store(db, outbox, [OutboundMessage("Still there?")])
    await outbox.deliver(second)
    assert channel.tries == 1  # the second reply never reached the platform
    assert [m.delivery for m in await outbound(db)] == [Delivery.FAILED, Delivery.FAILED]
    async with db.transaction() as session:
        assert await ConversationRepository(session).is_unreachable(
            channel="fake", conversation_key=KEY
        )


async def test_a_closed_browser_tab_is_waited_for_uncounted(db: Database) -> None:
    channel = RefusingChannel(RecipientOffline("web chat session is not connected"))
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.deliver(rows) == 0
    [waiting] = await outbound(db)
    assert (waiting.delivery, waiting.attempts) == (Delivery.PENDING, 0)


async def test_the_retry_gives_up_after_its_attempts(db: Database) -> None:
    channel = RefusingChannel(ConnectionError("platform down"))
    outbox = outbox_for(db, channel)
    await store(db, outbox, [OutboundMessage("Hello!")])
    for _ in range(MAX_SEND_ATTEMPTS):
        await outbox.flush()
    [given_up] = await outbound(db)
    assert (given_up.delivery, given_up.attempts) == (Delivery.FAILED, MAX_SEND_ATTEMPTS)
    assert given_up.last_error == "ConnectionError: platform down"


async def test_flush_sends_what_waits_in_order_and_only_once(db: Database) -> None:
    channel = FakeChannel()
    channel.fail_sends = 3
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage(t) for t in ("one", "two", "three")])
    assert await outbox.deliver(rows) == 0
    assert await outbox.flush(channel="fake", conversation_key=KEY) == 3
    assert [m.text for _, m in channel.sent] == ["one", "two", "three"]
    assert await outbox.flush() == 0


async def test_without_its_channel_running_a_reply_stays_stored(db: Database) -> None:
    outbox = Outbox(db=db, channels=ChannelRegistry(), hold=KeyedLocks().hold)
    rows = await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.deliver(rows) == 0
    [waiting] = await outbound(db)
    assert (waiting.delivery, waiting.attempts) == (Delivery.PENDING, 0)


async def test_flush_of_one_conversation_leaves_the_others(db: Database) -> None:
    channel = FakeChannel()
    outbox = outbox_for(db, channel)
    await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.flush(channel="fake", conversation_key="chat-nobody") == 0
    assert channel.sent == []
    assert await outbox.flush(channel="fake", conversation_key=KEY) == 1


async def test_a_turns_replies_go_out_in_order_and_are_marked_together(db: Database) -> None:
    channel = FakeChannel()
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage(t) for t in ("one", "two")])
    replies = [(row, OutboundMessage(t)) for row, t in zip(rows, ("one", "two"), strict=True)]
    assert await outbox.send_all(replies, "fake", KEY, fresh=True) == 2
    assert [m.text for _, m in channel.sent] == ["one", "two"]
    marked = await outbound(db)
    assert [(m.delivery, m.platform_message_id, m.attempts) for m in marked] == [
        (Delivery.SENT, "fake-1", 1),
        (Delivery.SENT, "fake-2", 1),
    ]
    assert await outbox.send_all(replies, "fake", KEY) == 0  # read back: sent already


async def test_after_a_failed_reply_the_next_waits_behind_it(db: Database) -> None:
    channel = FakeChannel()
    channel.fail_sends = 1
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage(t) for t in ("one", "two")])
    replies = [(row, OutboundMessage(t)) for row, t in zip(rows, ("one", "two"), strict=True)]
    assert await outbox.send_all(replies, "fake", KEY, fresh=True) == 0
    assert channel.sent == []  # "two" did not overtake "one"
    assert [m.delivery for m in await outbound(db)] == [Delivery.PENDING, Delivery.PENDING]
    assert await outbox.flush() == 2
    assert [m.text for _, m in channel.sent] == ["one", "two"]


async def test_a_reply_given_up_does_not_hold_back_the_next(db: Database) -> None:
    class RefusingFirst(FakeChannel):
        async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
            if message.text == "too long":
                raise ChannelSendError("message is too long", permanent=True)
            return await super().send(conversation_key, message)

    channel = RefusingFirst()
    outbox = outbox_for(db, channel)
    rows = await store(db, outbox, [OutboundMessage(t) for t in ("too long", "fine")])
    replies = [(r, OutboundMessage(t)) for r, t in zip(rows, ("too long", "fine"), strict=True)]
    assert await outbox.send_all(replies, "fake", KEY, fresh=True) == 1
    assert [m.delivery for m in await outbound(db)] == [Delivery.FAILED, Delivery.SENT]


async def test_a_recipient_not_connected_here_is_told_to_whoever_asks(db: Database) -> None:
    told: list[tuple[str, str]] = []
    registry = ChannelRegistry()
    registry.add(RefusingChannel(RecipientOffline("web chat session is not connected")))
    outbox = Outbox(
        db=db,
        channels=registry,
        hold=KeyedLocks().hold,
        on_offline=lambda channel, key: told.append((channel, key)),
    )
    rows = await store(db, outbox, [OutboundMessage("Hello!")])
    assert await outbox.deliver(rows) == 0
    assert told == [("fake", KEY)]
