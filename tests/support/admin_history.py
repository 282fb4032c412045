"""A conversation history with known numbers (worked out by hand in test_analytics.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage.database import Database
from bot.storage.models import (
    Conversation,
    ConversationState,
    Customer,
    Delivery,
    Direction,
    FaqVote,
    Feedback,
    HandoffEvent,
    Message,
    Ticket,
)

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC)
NOW = T0 + timedelta(days=2)
THRESHOLD = 0.55


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class History:
    """Builds rows with explicit times, as the bot would have stored them."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.customer: Customer | None = None

    async def conversation(self, key: str, channel: str, language: str, at: datetime) -> int:
        customer = Customer(display_name=key)
        self.session.add(customer)  # type: ignore[attr-defined]
        await self.session.flush()  # type: ignore[attr-defined]
        self.customer = customer
        conv = Conversation(
            customer_id=customer.id,
            channel=channel,
            conversation_key=key,
            language=language,
            created_at=at,
            state=ConversationState.BOT,
        )
        self.session.add(conv)  # type: ignore[attr-defined]
        await self.session.flush()  # type: ignore[attr-defined]
        return conv.id

    async def msg(
        self,
        conv: int,
        at: datetime,
        *,
        inbound: bool,
        intent: str | None = None,
        confidence: float | None = None,
        command: bool = False,
        sender: str | None = None,
    ) -> int:
        row = Message(
            conversation_id=conv,
            channel="x",
            direction=Direction.IN if inbound else Direction.OUT,
            sender=sender or ("customer" if inbound else "bot"),
            text="...",
            delivery=Delivery.PROCESSED if inbound else Delivery.SENT,
            intent=intent,
            confidence=confidence,
            nlu={"intent": intent, "command": command} if intent else None,
            created_at=at,
        )
        self.session.add(row)  # type: ignore[attr-defined]
        await self.session.flush()  # type: ignore[attr-defined]
        return row.id

    def handoff(self, conv: int, at: datetime, to: ConversationState, reason: str) -> None:
        self.session.add(  # type: ignore[attr-defined]
            HandoffEvent(
                conversation_id=conv,
                from_state=ConversationState.BOT,
                to_state=to,
                reason=reason,
                actor="test",
                created_at=at,
            )
        )


async def build_history(db: Database) -> None:
    async with db.transaction() as session:
        h = History(session)
        # c1 web/en: FAQ answered at +2 s, nothing else -> deflected; first response 2 s.
        c1 = await h.conversation("c1", "webchat", "en", s(0))
        await h.msg(c1, s(0), inbound=True, intent="faq/order_status", confidence=0.9)
        await h.msg(c1, s(2), inbound=False)
        # c2 telegram/gu: FAQ answered, then "not helpful" -> not deflected; first response 4 s.
        c2 = await h.conversation("c2", "telegram", "gu", s(0))
        q2 = await h.msg(c2, s(0), inbound=True, intent="faq/return_policy", confidence=0.9)
        await h.msg(c2, s(4), inbound=False)
        session.add(
            FaqVote(
                conversation_id=c2,
                question_message_id=q2,
                faq_id="return_policy",
                helpful=False,
                created_at=s(10),
            )
        )
        # c3 web/en: two low-confidence turns -> queued (low_confidence) at +31 s, an agent
        # claims at +91 s, writes at +151 s (human first response 120 s), resolves at +600 s,
        # CSAT 5. First response 1 s. The FAQ intent under the threshold is no answer.
        c3 = await h.conversation("c3", "webchat", "en", s(0))
        await h.msg(c3, s(0), inbound=True, intent="faq/order_status", confidence=0.3)
        await h.msg(c3, s(1), inbound=False)
        await h.msg(c3, s(30), inbound=True, intent="out_of_scope", confidence=0.8)
        await h.msg(c3, s(31), inbound=False)
        h.handoff(c3, s(31), ConversationState.QUEUED, "low_confidence")
        h.handoff(c3, s(91), ConversationState.AGENT, "agent_claimed")
        await h.msg(c3, s(151), inbound=False, sender="agent")
        h.handoff(c3, s(600), ConversationState.RESOLVED, "resolved")
        session.add(Feedback(conversation_id=c3, kind="csat", score=5, created_at=s(700)))
        # c4 telegram/en: FAQ answered at +3 s, customer back after 2 h -> reopened.
        c4 = await h.conversation("c4", "telegram", "en", s(0))
        await h.msg(c4, s(0), inbound=True, intent="faq/order_status", confidence=0.95)
        await h.msg(c4, s(3), inbound=False)
        await h.msg(c4, s(7200), inbound=True, intent="out_of_scope", confidence=0.9)
        await h.msg(c4, s(7201), inbound=False)
        # c5 slack/hi: "/faq shipping" button (a command) answered, then a ticket -> not deflected.
        c5 = await h.conversation("c5", "slack", "hi", s(0))
        await h.msg(c5, s(0), inbound=True, intent="faq/shipping", confidence=1.0, command=True)
        await h.msg(c5, s(1), inbound=False)
        assert h.customer is not None
        session.add(
            Ticket(
                customer_id=h.customer.id,
                conversation_id=c5,
                subject="t1",
                created_at=s(60),
                first_response_due=s(3600),
                first_responded_at=s(1800),  # met
                resolution_due=s(86400),  # not resolved, due before NOW: breached
            )
        )
        session.add(
            Ticket(
                customer_id=h.customer.id,
                conversation_id=None,
                subject="t2",
                created_at=s(120),
                first_response_due=s(3600),
                first_responded_at=s(7200),  # breached
                resolution_due=s(10 * 86400),  # open, not yet due: undecided
            )
        )
        # c6 web/en: FAQ answered, "helpful" -> deflected; first response 1 s.
        c6 = await h.conversation("c6", "webchat", "en", s(0))
        q6 = await h.msg(c6, s(0), inbound=True, intent="faq/order_status", confidence=0.9)
        await h.msg(c6, s(1), inbound=False)
        session.add(
            FaqVote(
                conversation_id=c6,
                question_message_id=q6,
                faq_id="order_status",
                helpful=True,
                created_at=s(5),
            )
        )
        # c7: before the period -> not counted at all.
        c7 = await h.conversation("c7", "webchat", "en", START - timedelta(days=3))
        await h.msg(c7, START - timedelta(days=3), inbound=True, intent="faq/x", confidence=0.9)
        # c8 web/en: asks for a person (queued, customer_asked) at +1 s, never claimed; CSAT 2.
        c8 = await h.conversation("c8", "webchat", "en", s(0))
        await h.msg(c8, s(0), inbound=True, intent="human_handoff", confidence=0.99)
        await h.msg(c8, s(1), inbound=False)
        h.handoff(c8, s(1), ConversationState.QUEUED, "customer_asked")
        session.add(Feedback(conversation_id=c8, kind="csat", score=2, created_at=s(900)))
