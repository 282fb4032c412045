"""The public page a survey link in a mail opens: ``/survey/<request>/<value>?e=..&s=..``.

Opening the link (GET) records nothing: it shows the question, the chosen answer and a
Send button (and, for a low score or a follow-up's "no", a box for the customer's words).
Mail security scanners open every link in a mail to inspect it; recording on GET would
let them answer surveys. Send (POST, the same signed address) records the answer once,
exactly as a chat button does (:mod:`bot.surveys.answers`): a second press, or a press
long after, counts nothing more. After a low score without words, the page asks for them.
A follow-up's "yes" closes the ticket and, as in the chat, asks the survey for a closed
ticket when one is configured (its answers as signed links on the page); "no" reopens it
with the words. Either is announced to the consoles once committed.
A link whose signature or expiry does not check out gets 403 and changes nothing.
"""

from __future__ import annotations

import html
from datetime import datetime
from urllib.parse import parse_qs

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from bot.channels.email.survey_links import STOP_VALUE, SurveyLinks
from bot.events import DeskEvent, DeskEvents, EventKind
from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Conversation, SurveyRequest, Ticket, utcnow
from bot.storage.surveys import FOLLOW_UP_KIND, SurveyStore
from bot.surveys.answers import (
    COMMENT_LIMIT,
    add_comment,
    add_customer_words,
    close_after_follow_up,
    opt_out,
    record_answer,
    reopen_after_follow_up,
)
from bot.surveys.asking import Phrases, ask_survey
from bot.surveys.plan import SCALES, Occasion, SurveyPlan

__all__ = ["SurveyPage"]

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # the signed address must not leak to other sites
    "Cache-Control": "no-store",
}


MAX_FORM_BYTES = 4 * COMMENT_LIMIT * 3  # the comment, URL-encoded, with room to spare


async def _words(request: Request) -> str:
    """The form's ``words`` (URL-encoded; the page posts nothing else), bounded."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            break  # an oversized comment is cut, not refused: the score still counts
    fields = parse_qs(body.decode("utf-8", errors="replace")[:MAX_FORM_BYTES])
    return fields.get("words", [""])[0]


class SurveyPage:
    def __init__(
        self,
        *,
        db: Database,
        links: SurveyLinks,
        catalogue: Catalogue,
        brand: str,
        plan: SurveyPlan,
        events: DeskEvents | None = None,
    ) -> None:
        self.db = db
        self.links = links
        self.catalogue = catalogue
        self.brand = brand
        self.plan = plan
        self.events = events
        """The desk's events: a ticket the page closed or reopened, for the consoles."""

    def routes(self) -> list[BaseRoute]:
        return [
            Route(
                "/survey/{request_id:int}/{value}",
                self.handle,
                methods=["GET", "POST"],
                name="survey_answer",
            )
        ]

    async def handle(self, request: Request) -> HTMLResponse:
        request_id = int(request.path_params["request_id"])
        value = str(request.path_params["value"])
        expires = request.query_params.get("e", "")
        signature = request.query_params.get("s", "")
        async with self.db.transaction() as session:
            survey = await SurveyStore(session).request(request_id)
        language = self._language(survey)
        if survey is None or not self.links.valid(request_id, value, expires, signature):
            return self._page(language, [self._say("survey_link_invalid", language)], 403)
        if request.method == "GET":
            return await self._confirm(survey, value, language)
        words = (await _words(request)).strip()[:COMMENT_LIMIT]
        return await self._record(survey, value, words, language)

    # --- the two steps -----------------------------------------------------------------------

    async def _confirm(self, survey: SurveyRequest, value: str, language: str) -> HTMLResponse:
        async with self.db.transaction() as session:
            answered = await SurveyStore(session).response(survey.id)
            ticket = await session.get(Ticket, survey.ticket_id) if survey.ticket_id else None
        if answered is not None:
            # Answered already (this link or another): only the words for a low score remain.
            counted = str(answered.score) if answered.score is not None else ""
            lines = [self._say("survey_thanks", language)]
            if self._asks_words(survey, counted, answered.comment):
                return self._page(language, lines, form=self._form(survey, counted, language))
            return self._page(language, lines)
        reference = ticket.reference if ticket is not None else ""
        lines = [self._question(survey, language, reference or "")]
        if value != STOP_VALUE:
            lines.append(self._say("survey_link_answer", language, answer=self._title(value)))
        return self._page(language, lines, form=self._form(survey, value, language))

    async def _record(
        self, survey: SurveyRequest, value: str, words: str, language: str
    ) -> HTMLResponse:
        now = utcnow()
        async with self.db.transaction() as session:
            if value == STOP_VALUE:
                await opt_out(session, survey.customer_id, now)
                return self._page(language, [self._say("surveys_stopped", language)])
            recorded = await record_answer(
                session,
                customer_id=survey.customer_id,
                request_id=survey.id,
                value=value,
                message_id=None,
                now=now,
            )
            if recorded.request is None:
                return self._page(language, [self._say("survey_link_invalid", language)], 403)
            if survey.kind == FOLLOW_UP_KIND:
                page, changed = await self._follow_up(
                    session, survey, value, words, recorded.counted
                )
            else:
                page, changed, counted = None, None, None
                if survey.kind == "csat" and survey.conversation_id is not None:
                    conversation = await session.get(Conversation, survey.conversation_id)
                    if conversation is not None and recorded.counted:
                        conversation.csat_requested_at = None  # the chat's buttons are moot
                response = await SurveyStore(session).response(survey.id)
                if words and await add_comment(session, request_id=survey.id, text=words):
                    return self._page(language, [self._say("survey_comment_thanks", language)])
                counted = response.score if response is not None else None
        if changed is not None and self.events is not None:  # committed: announce it
            self.events.publish(DeskEvent(EventKind.TICKET, None, {"ticket_id": changed}))
        if page is not None:
            return page
        if counted is not None and self._asks_words(survey, str(counted), None):
            # A low score without words: ask for them (the same signed address takes them).
            lines = [self._say("survey_thanks", language)]
            return self._page(language, lines, form=self._form(survey, str(counted), language))
        return self._page(language, [self._say("survey_thanks", language)])

    async def _follow_up(
        self, session: AsyncSession, survey: SurveyRequest, value: str, words: str, counted: bool
    ) -> tuple[HTMLResponse, int | None]:
        """The follow-up's page, and the ticket it closed or reopened (if it changed one)."""
        language = self._language(survey)
        if not counted or survey.ticket_id is None:
            return self._page(language, [self._say("survey_thanks", language)]), None
        now = utcnow()
        if value == "yes":
            closed = await close_after_follow_up(session, survey.ticket_id, now)
            lines = [self._say("followup_glad", language)]
            if closed is None:
                return self._page(language, lines), None
            question = await self._closing_survey(session, survey, closed, now)
            return self._page(language, lines, form=self._links(question)), closed.id
        ticket = await reopen_after_follow_up(session, survey.ticket_id, now)
        if ticket is not None and words:
            await add_customer_words(session, ticket.id, words, now)
        reference = ticket.reference if ticket is not None else ""
        page = self._page(
            language, [self._say("ticket_reply_added", language, reference=reference)]
        )
        return page, ticket.id if ticket is not None else None

    async def _closing_survey(
        self, session: AsyncSession, survey: SurveyRequest, ticket: Ticket, now: datetime
    ) -> OutboundMessage | None:
        """The survey for a closed ticket, as the chat's "yes" asks it (same occasion key,
        so it is asked once however the customer answered the follow-up)."""
        if survey.conversation_id is None:
            return None
        conversation = await session.get(Conversation, survey.conversation_id)
        if conversation is None:
            return None
        return await ask_survey(
            session,
            self.plan,
            Phrases(self.catalogue, self.brand),
            conversation=conversation,
            occasion=Occasion.TICKET_CLOSED,
            key=f"ticket:{ticket.id}",
            now=now,
            ticket_id=ticket.id,
            agent_id=ticket.assignee_id,
        )

    def _links(self, question: OutboundMessage | None) -> str:
        """A survey question with its answers as signed links to this page."""
        if question is None:
            return ""
        urls = self.links.for_buttons(question.buttons) or {}
        answers = "".join(
            f'<li><a href="{html.escape(urls[b.payload])}">{html.escape(b.title)}</a></li>'
            for b in question.buttons
            if b.payload in urls
        )
        return f"<p>{html.escape(question.text)}</p><ul>{answers}</ul>"

    # --- pieces ----------------------------------------------------------------------------------

    def _asks_words(self, survey: SurveyRequest, value: str, comment: str | None) -> bool:
        if comment is not None or survey.kind == FOLLOW_UP_KIND or not value.isdigit():
            return False
        return self.plan.wants_comment(survey.kind, int(value))

    def _form(self, survey: SurveyRequest, value: str, language: str) -> str:
        box = ""
        if survey.kind == FOLLOW_UP_KIND and value == "no":
            box = self._box(self._say("survey_link_words", language))
        elif self._asks_words(survey, value, None):
            box = self._box(self._say("survey_link_comment", language))
        send = html.escape(self._say("survey_link_send", language))
        # No action: the form posts to this very (signed) address.
        return f'<form method="post">{box}<p><button type="submit">{send}</button></p></form>'

    @staticmethod
    def _box(label: str) -> str:
        return (
            f'<p><label for="words">{html.escape(label)}</label></p>'
            f'<p><textarea id="words" name="words" rows="5" maxlength="{COMMENT_LIMIT}">'
            "</textarea></p>"
        )

    def _question(self, survey: SurveyRequest, language: str, reference: str) -> str:
        if survey.kind == FOLLOW_UP_KIND:
            return self._say("followup_request", language, reference=reference)
        scale = SCALES.get(survey.kind)
        return self._say(scale.question, language) if scale else ""

    def _title(self, value: str) -> str:
        return {"yes": "✓", "no": "✗"}.get(value, value)

    def _language(self, survey: SurveyRequest | None) -> str:
        language = survey.language if survey is not None else None
        if language and self.catalogue.has(language):
            return language
        return self.catalogue.default_language

    def _say(self, key: str, language: str, **values: object) -> str:
        return self.catalogue.get(key, language, brand=self.brand, **values)

    def _page(
        self, language: str, lines: list[str], status: int = 200, *, form: str = ""
    ) -> HTMLResponse:
        body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
        page = (
            f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.brand)}</title></head>"
            '<body style="font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em">'
            f"<h1>{html.escape(self.brand)}</h1>{body}{form}</body></html>"
        )
        return HTMLResponse(page, status_code=status, headers=_HEADERS)
