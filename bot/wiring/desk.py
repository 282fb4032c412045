"""The agents' side: the desk, the ticket service, the survey job and the Slack desk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.channels import Channel
from bot.desk.canned import CannedReplies
from bot.desk.policy import Clock, HandoffPolicy
from bot.desk.service import Desk
from bot.surveys.jobs import SurveyJobs
from bot.surveys.plan import SurveyPlan
from bot.tickets.rules import TicketPolicy
from bot.tickets.service import TicketService
from bot.wiring.helpdesk import Helpdesk

if TYPE_CHECKING:
    from bot.desk.slack import SlackDesk

log = logging.getLogger(__name__)


def build_desk(helpdesk: Helpdesk, *, clock: Clock | None = None) -> Desk:
    """The agent desk for a helpdesk, writing to customers through its engine."""
    settings = helpdesk.settings
    desk = Desk(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=settings.bot.brand,
        policy=HandoffPolicy.from_settings(settings.handoff),
        clock=clock,
        events=helpdesk.events,
        surveys=SurveyPlan.from_settings(settings.surveys),
    )
    desk.canned = CannedReplies.load(
        Path(settings.handoff.canned_replies), default_language=settings.bot.default_language
    )
    return desk


def build_tickets(helpdesk: Helpdesk, desk: Desk) -> TicketService:
    """The ticket service for a helpdesk: SLA alerts go out on the desk's events (every
    open console), on the desk's clock."""
    service = TicketService(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=helpdesk.settings.bot.brand,
        policy=TicketPolicy.from_settings(helpdesk.settings),
        events=desk.events,
        clock=desk.clock,
        surveys=desk.core.surveys,
    )
    return service


def build_survey_jobs(helpdesk: Helpdesk, desk: Desk) -> SurveyJobs:
    """The survey job (bot/surveys/jobs.py), asking through the engine, on the desk's clock."""
    return SurveyJobs(
        db=helpdesk.db,
        line=helpdesk.engine,
        plan=desk.core.surveys,
        phrases=desk.core.phrases,
        answer_threshold=helpdesk.settings.nlu.answer_threshold,
        clock=desk.clock,
    )


def attach_slack_desk(
    desk: Desk, channels: list[Channel], *, slack_channel: str | None
) -> SlackDesk | None:
    """The Slack desk when ``handoff.slack_channel`` is set and the Slack channel runs."""
    if not slack_channel:
        return None
    from bot.channels.slack.channel import SlackChannel
    from bot.desk.slack import SlackDesk

    slack = next((c for c in channels if isinstance(c, SlackChannel)), None)
    if slack is None:
        log.warning(
            "handoff.slack_channel is set but the Slack channel is not running "
            "(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET); the Slack desk is off"
        )
        return None
    slack_desk = SlackDesk(desk, slack, slack_channel)
    slack_desk.attach()
    return slack_desk
