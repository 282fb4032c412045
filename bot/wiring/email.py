"""The email channel's extras: signed survey links, chat customers' ticket notices by
email (a job), and the survey page the links lead to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from bot.channels import Channel
from bot.desk.service import Desk
from bot.settings import ConfigError, Secrets, Settings
from bot.tickets.service import TicketService
from bot.wiring.helpdesk import Helpdesk

if TYPE_CHECKING:
    from bot.channels.email.survey_links import SurveyLinks


def survey_links(settings: Settings, secrets: Secrets) -> SurveyLinks | None:
    """Signed survey links in mail: with ``channels.email.survey_links.base_url`` and
    ``SURVEY_LINK_SECRET``; otherwise a mail's survey is answered with a number."""
    from bot.channels.email.survey_links import SurveyLinks

    configured = settings.channels.email.survey_links
    secret = secrets.survey_link_secret
    if configured.base_url is None or secret is None:
        return None
    if len(secret.get_secret_value()) < 32:
        raise ConfigError("SURVEY_LINK_SECRET: at least 32 characters (e.g. openssl rand -hex 32)")
    return SurveyLinks(
        base_url=configured.base_url,
        secret=secret.get_secret_value().encode(),
        valid_s=configured.valid_days * 86400,
    )


def wire_email(
    helpdesk: Helpdesk,
    channels: list[Channel],
    tickets: TicketService,
    desk: Desk | None = None,
) -> list[BaseRoute]:
    """With the email channel running: chat customers' ticket notifications (and agents'
    replies in live chats, through ``desk``) by email when their chat cannot take them (a
    job, once per cluster), and the survey links' page."""
    from bot.channels.email.channel import EmailChannel

    email = next((c for c in channels if isinstance(c, EmailChannel)), None)
    if email is None:
        return []
    notices = helpdesk.settings.channels.email.notices
    if notices.enabled and notices.events:
        from bot.tickets.email_notices import EmailNotices

        tickets.email_notices = frozenset(notices.events)
        if desk is not None:
            desk.core.email_notices = frozenset(notices.events)
        job = EmailNotices(
            db=helpdesk.db,
            line=helpdesk.engine,
            catalogue=helpdesk.catalogue,
            settings=notices,
            clock=tickets.clock,
        )
        helpdesk.tasks.every("email-notices", notices.check_every_s, job.run, once_per_cluster=True)
    if email.survey_links is None:
        return []
    from bot.web.survey_page import SurveyPage

    page = SurveyPage(
        db=helpdesk.db,
        links=email.survey_links,
        catalogue=helpdesk.catalogue,
        brand=helpdesk.settings.bot.brand,
        plan=tickets.surveys,
        events=tickets.events,  # the page's closed or reopened ticket, for the consoles
    )
    return page.routes()
