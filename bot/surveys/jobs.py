"""The survey job: the periodic side of surveys, run once per cluster.

Each run, in its own transactions, and each question through the outbox:

1. **customers who left after an answer**: a customer message the bot answered from the
   knowledge base, after which the customer wrote nothing for ``quiet_minutes`` (and at
   most ``look_back_hours`` ago, so a first start never surveys old chats), gets the
   bot-resolved survey, unless they voted the answer "not helpful";
2. **follow-ups**: a ticket resolved ``follow_up.after_days`` ago (up to a week later, to
   cover downtime) and still resolved is asked whether the problem stayed solved;
3. **NPS rounds**: customers known for ``nps_first_after_days``, active in the last 30
   days and quiet now, get the NPS question (at most every ``nps_every_days``).

Every question is keyed by its occasion (unique), so a run that overlaps another, or a
second worker, asks nothing twice; throttles and opt-outs are checked in
:func:`bot.surveys.asking.ask_survey`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.policy import Clock, CustomerLine, SystemClock
from bot.nlu.decision import was_acted_on
from bot.storage.database import Database
from bot.storage.models import Conversation, ConversationState, FaqVote, aware
from bot.storage.repositories import ConversationRepository
from bot.storage.surveys import SurveyStore
from bot.surveys.asking import Phrases, ask_follow_up, ask_survey
from bot.surveys.plan import Occasion, SurveyPlan

log = logging.getLogger(__name__)

FOLLOW_UP_GRACE = timedelta(days=7)
NPS_ACTIVE_WITHIN = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Asked:
    """What one run asked: counts per kind of question (the tests and the log read it)."""

    bot_resolved: int = 0
    follow_ups: int = 0
    nps: int = 0


class SurveyJobs:
    def __init__(
        self,
        *,
        db: Database,
        line: CustomerLine,
        plan: SurveyPlan,
        phrases: Phrases,
        answer_threshold: float,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.line = line
        self.plan = plan
        self.phrases = phrases
        self.answer_threshold = answer_threshold
        self.clock: Clock = clock or SystemClock()
        self.batch = 500
        """Answers looked at per run; the asked and the throttled are not among them."""

    async def run(self) -> Asked:
        """One round of all three; returns what it asked."""
        asked = Asked(
            bot_resolved=await self.ask_who_left(),
            follow_ups=await self.follow_up_resolved(),
            nps=await self.nps_round(),
        )
        if asked != Asked():
            log.info("surveys asked: %s", asked)
        return asked

    async def ask_who_left(self) -> int:
        if self.plan.by_occasion.get(Occasion.BOT_RESOLVED) is None:
            return 0
        now = self.clock.now()
        rows: list[int] = []
        async with self.db.transaction() as session:
            found = await SurveyStore(session).answered_and_left(
                since=now - self.plan.look_back,
                until=now - self.plan.quiet,
                surveyed_since=now - self.plan.min_between,
                limit=self.batch,
            )
            for question, conversation in found:
                if not was_acted_on(
                    intent=question.intent,
                    confidence=question.confidence,
                    nlu=question.nlu,
                    answer_threshold=self.answer_threshold,
                ):
                    continue
                vote = await session.scalar(
                    select(FaqVote.helpful).where(FaqVote.question_message_id == question.id)
                )
                if vote is False:
                    continue  # "not helpful": not resolved by the bot
                rows += await self._ask(
                    session,
                    conversation,
                    now,
                    occasion=Occasion.BOT_RESOLVED,
                    key=f"answer:{question.id}",
                    intent=question.intent,
                )
        await self.line.deliver(rows)
        return len(rows)

    async def follow_up_resolved(self) -> int:
        after = self.plan.follow_up_after
        if after is None:
            return 0
        now = self.clock.now()
        rows: list[int] = []
        async with self.db.transaction() as session:
            tickets = await SurveyStore(session).resolved_for_follow_up(
                since=now - after - FOLLOW_UP_GRACE, until=now - after
            )
            for ticket in tickets:
                assert ticket.conversation_id is not None
                conversation = await ConversationRepository(session).get_for_update(
                    ticket.conversation_id
                )
                if conversation is None or conversation.state in (
                    ConversationState.QUEUED,
                    ConversationState.AGENT,
                ):
                    continue  # a person has the chat now: not the moment to ask
                question = await ask_follow_up(
                    session,
                    self.plan,
                    self.phrases,
                    conversation=conversation,
                    ticket_id=ticket.id,
                    reference=ticket.reference or "",
                    now=now,
                )
                if question is not None:
                    rows += await self.line.store_outbound(
                        session,
                        conversation,
                        [question],
                        language=self.phrases.language(conversation),
                    )
        await self.line.deliver(rows)
        return len(rows)

    async def nps_round(self) -> int:
        if self.plan.by_occasion.get(Occasion.PERIODIC) is None:
            return 0
        now = self.clock.now()
        rows: list[int] = []
        async with self.db.transaction() as session:
            candidates = await SurveyStore(session).nps_candidates(
                active_since=now - NPS_ACTIVE_WITHIN,
                known_before=now - self.plan.nps_first_after,
                surveyed_since=now - self.plan.min_between,
                nps_since=now - self.plan.nps_every,
            )
            for conversation in candidates:
                if now - aware(conversation.updated_at) < self.plan.quiet:
                    continue  # mid-conversation: later
                rows += await self._ask(
                    session,
                    conversation,
                    now,
                    occasion=Occasion.PERIODIC,
                    key=f"{conversation.customer_id}:{now.date().isoformat()}",
                )
        await self.line.deliver(rows)
        return len(rows)

    async def _ask(
        self,
        session: AsyncSession,
        conversation: Conversation,
        now: datetime,
        *,
        occasion: Occasion,
        key: str,
        intent: str | None = None,
    ) -> list[int]:
        question = await ask_survey(
            session,
            self.plan,
            self.phrases,
            conversation=conversation,
            occasion=occasion,
            key=key,
            now=now,
            intent=intent,
        )
        if question is None:
            return []
        return await self.line.store_outbound(
            session, conversation, [question], language=self.phrases.language(conversation)
        )
