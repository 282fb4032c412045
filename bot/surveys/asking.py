"""Putting a survey or a follow-up to a customer, inside the caller's transaction.

Whoever resolves something (the desk, the ticket service, the bot's own turn, the survey
job) calls :func:`ask_survey` in the transaction of that change; it returns the question
to store in the outbox with the rest, or ``None`` when the customer is not to be asked:
no survey for this occasion or channel, the customer opted out (``/stop``), a survey in
the last ``min_days_between`` days (NPS: ``nps_every_days``), or this very occasion asked
about already (the unique ``occasion_key``: also across workers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import STOP, survey_payload
from bot.i18n import Catalogue
from bot.messages import Button, OutboundMessage
from bot.storage.models import Conversation, SurveyRequest
from bot.storage.surveys import FOLLOW_UP_KIND, SurveyStore
from bot.surveys.plan import Occasion, Scale, SurveyPlan


@dataclass(frozen=True, slots=True)
class Phrases:
    """The catalogue and brand, to word a question in the customer's language."""

    catalogue: Catalogue
    brand: str

    def get(self, key: str, language: str, **values: object) -> str:
        return self.catalogue.get(key, language, brand=self.brand, **values)

    def language(self, conversation: Conversation) -> str:
        language = conversation.language
        if language and self.catalogue.has(language):
            return language
        return self.catalogue.default_language


def score_buttons(scale: Scale, request_id: int) -> tuple[Button, ...]:
    star = " ★" if scale.kind == "csat" else ""
    return tuple(
        Button(f"{score}{star}", survey_payload(request_id, score)) for score in scale.scores
    )


async def ask_survey(
    session: AsyncSession,
    plan: SurveyPlan,
    phrases: Phrases,
    *,
    conversation: Conversation,
    occasion: Occasion,
    key: str,
    now: datetime,
    agent_id: int | None = None,
    ticket_id: int | None = None,
    intent: str | None = None,
) -> OutboundMessage | None:
    """The survey question for this occasion, its request stored; or ``None`` (see above).

    ``key`` names the occasion uniquely (``agent_resolved:<conversation>:<event>``,
    ``ticket:<id>``, ``answer:<message id>``, ``nps:<customer>:<day>``).
    """
    survey = plan.survey_for(occasion, conversation.channel)
    if survey is None:
        return None
    store = SurveyStore(session)
    customer_id = conversation.customer_id
    if await store.opted_out(customer_id):
        return None
    last = await store.last_asked(customer_id)
    if last is not None and now - last < plan.min_between:
        return None
    if survey.scale.kind == "nps":
        last_nps = await store.last_asked(customer_id, kind="nps")
        if last_nps is not None and now - last_nps < plan.nps_every:
            return None
    language = phrases.language(conversation)
    request = SurveyRequest(
        customer_id=customer_id,
        conversation_id=conversation.id,
        ticket_id=ticket_id,
        agent_id=agent_id,
        kind=survey.scale.kind,
        occasion=occasion.value,
        occasion_key=f"{occasion.value}:{key}"[:120],
        channel=conversation.channel,
        language=language,
        intent=intent,
        asked_at=now,
    )
    if not await store.add_request(request):
        return None
    question = phrases.get(survey.scale.question, language)
    return OutboundMessage(question, buttons=score_buttons(survey.scale, request.id))


async def ask_follow_up(
    session: AsyncSession,
    plan: SurveyPlan,
    phrases: Phrases,
    *,
    conversation: Conversation,
    ticket_id: int,
    reference: str,
    now: datetime,
) -> OutboundMessage | None:
    """ "Did HD-1042 stay solved?" with yes / no / don't ask me again; once per ticket."""
    if plan.follow_up_after is None:
        return None
    if plan.follow_up_channels and conversation.channel not in plan.follow_up_channels:
        return None
    store = SurveyStore(session)
    if await store.opted_out(conversation.customer_id):
        return None
    language = phrases.language(conversation)
    request = SurveyRequest(
        customer_id=conversation.customer_id,
        conversation_id=conversation.id,
        ticket_id=ticket_id,
        kind=FOLLOW_UP_KIND,
        occasion=Occasion.TICKET_FOLLOW_UP.value,
        occasion_key=f"{Occasion.TICKET_FOLLOW_UP.value}:{ticket_id}",
        channel=conversation.channel,
        language=language,
        asked_at=now,
    )
    if not await store.add_request(request):
        return None
    buttons = (
        Button(phrases.get("followup_yes", language), survey_payload(request.id, "yes")),
        Button(phrases.get("followup_no", language), survey_payload(request.id, "no")),
        Button(phrases.get("surveys_stop_button", language), STOP),
    )
    text = phrases.get("followup_request", language, reference=reference)
    return OutboundMessage(text, buttons=buttons)
