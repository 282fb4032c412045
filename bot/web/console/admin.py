"""The admin pages of the console: the numbers, unanswered questions, the KB's state.

``/console/admin``                  dashboard: numbers and charts for a period
``/console/admin/api/numbers``      the same numbers as JSON (``?start=&end=`` or ``?days=``)
``/console/admin/unanswered``       the unanswered-questions report, with draft FAQ entries
``/console/admin/kb``               the knowledge base: entries per language (``?q=&missing=``),
                                    errors (file:line), model swaps

Only agents with the ``admin`` role see them (``helpdesk agent add --role admin``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.knowledge.coverage import coverage, source_link
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.kb_watch import KnowledgeWatcher
from bot.reports.numbers import Numbers
from bot.reports.numbers_queries import numbers_for_period
from bot.reports.period import BadPeriod, period_from
from bot.reports.survey_queries import survey_numbers_for_period
from bot.reports.surveys import SurveyNumbers
from bot.reports.unanswered import (
    Embedder,
    default_embedder,
    draft_faq_entry,
    split_out_of_scope,
)
from bot.reports.unanswered_queries import unanswered_questions
from bot.reports.unanswered_report import (
    MAX_QUESTIONS,
    REPORT_BUDGET_S,
    CachedEmbedder,
    unanswered_report,
)
from bot.storage.database import Database
from bot.web.console.auth import Login, Sessions
from bot.web.console.charts import daily_bars, horizontal_bars
from bot.web.console.pages import SECURITY_HEADERS, render, secure

DECLINED_SHOWN = 50
"""Declined (out-of-scope) questions the unanswered page lists, the latest first."""


class AdminPages:
    """Route handlers; ``watcher`` is None when the knowledge base is not watched."""

    def __init__(
        self,
        *,
        db: Database,
        sessions: Sessions,
        kb: LiveKnowledgeBase,
        answer_threshold: float,
        default_language: str,
        watcher: KnowledgeWatcher | None = None,
        embedder: Embedder | None = None,
        cluster_similarity: float | None = None,
        max_questions: int = MAX_QUESTIONS,
        budget_s: float = REPORT_BUDGET_S,
        languages: Sequence[str] = (),
        kb_source_url: str | None = None,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.kb = kb
        self.answer_threshold = answer_threshold
        self.default_language = default_language
        # The KB page's columns (``bot.languages``); the default language at least.
        self.languages = tuple(languages) or (default_language,)
        self.kb_source_url = kb_source_url
        self.watcher = watcher
        self._embedder = CachedEmbedder(embedder) if embedder is not None else None
        self.cluster_similarity = cluster_similarity
        self.max_questions = max_questions
        self.budget_s = budget_s
        # One report at a time: parallel loads would only share the CPU (and the cache).
        self._reporting = asyncio.Lock()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/admin", self.dashboard),
            Route("/admin/api/numbers", self.numbers_api),
            Route("/admin/unanswered", self.unanswered),
            Route("/admin/kb", self.knowledge_base),
        ]

    async def _admin(self, request: Request) -> Login | Response:
        login = await self.sessions.current(request)
        if login is None:
            return RedirectResponse("/console/login", status_code=303)
        if login.role != "admin":
            return secure(Response("admins only", status_code=403))
        return login

    async def _numbers(self, request: Request) -> tuple[Numbers, SurveyNumbers, datetime, datetime]:
        start, end = period_from(dict(request.query_params), today=datetime.now(UTC).date())
        async with self.db.transaction() as session:
            numbers = await numbers_for_period(
                session, start=start, end=end, answer_threshold=self.answer_threshold
            )
            surveys = await survey_numbers_for_period(session, start=start, end=end)
        return numbers, surveys, start, end

    async def numbers_api(self, request: Request) -> Response:
        login = await self._admin(request)
        if not isinstance(login, Login):
            return login
        try:
            numbers, surveys, _, _ = await self._numbers(request)
        except BadPeriod as exc:
            return JSONResponse({"error": str(exc)}, status_code=400, headers=SECURITY_HEADERS)
        data = numbers.as_json() | {"surveys": surveys.as_json()}
        return JSONResponse(data, headers=SECURITY_HEADERS)

    async def dashboard(self, request: Request) -> Response:
        login = await self._admin(request)
        if not isinstance(login, Login):
            return login
        try:
            numbers, surveys, start, end = await self._numbers(request)
        except BadPeriod as exc:
            return secure(Response(str(exc), status_code=400))
        charts = {
            "daily": daily_bars([(d.isoformat(), c, x) for d, c, x in numbers.daily]),
            "reasons": horizontal_bars(list(numbers.handoff_reasons.items())),
            "channels": horizontal_bars(
                [(name, s.deflected / s.conversations) for name, s in numbers.per_channel.items()],
                unit="%",
            ),
            "languages": horizontal_bars(
                [(name, s.conversations) for name, s in numbers.per_language.items()]
            ),
        }
        return render(
            "admin_dashboard.html",
            login=login,
            n=numbers,
            surveys=surveys,
            charts=charts,
            start=start.date().isoformat(),
            end=(end - timedelta(days=1)).date().isoformat(),
            back="/console/admin",
        )

    def embedder(self) -> CachedEmbedder:
        if self._embedder is None:
            self._embedder = CachedEmbedder(default_embedder())
        return self._embedder

    async def unanswered(self, request: Request) -> Response:
        login = await self._admin(request)
        if not isinstance(login, Login):
            return login
        try:
            start, end = period_from(dict(request.query_params), today=datetime.now(UTC).date())
        except BadPeriod as exc:
            return secure(Response(str(exc), status_code=400))
        async with self.db.transaction() as session:
            items = await unanswered_questions(
                session,
                start=start,
                end=end,
                answer_threshold=self.answer_threshold,
                default_language=self.default_language,
            )
        # Declined chit-chat is listed apart, never grouped into draft FAQ entries.
        items, declined = split_out_of_scope(items)
        # Embedding is CPU work (a few ms a question): keep the event loop serving chats.
        # The work is bounded (bot/reports/unanswered_report.py), so a load that is
        # abandoned, or a shutdown, waits for at most one budget.
        async with self._reporting:
            embedder = await asyncio.to_thread(self.embedder)
            report = await asyncio.to_thread(
                unanswered_report,
                items,
                embedder,
                threshold=self.cluster_similarity,
                max_questions=self.max_questions,
                budget_s=self.budget_s,
            )
        taken = set(self.kb.current.entries)
        drafts: list[dict[str, Any]] = []
        for group in report.groups:
            yaml_text = draft_faq_entry(group, default_language=self.default_language, taken=taken)
            drafts.append({"group": group, "yaml": yaml_text})
        return render(
            "admin_unanswered.html",
            login=login,
            drafts=drafts,
            total=len(items),
            declined=declined[-DECLINED_SHOWN:][::-1],
            declined_total=len(declined),
            report=report,
            embedder=embedder.name,
            start=start.date().isoformat(),
            end=(end - timedelta(days=1)).date().isoformat(),
            back="/console/admin/unanswered",
        )

    async def knowledge_base(self, request: Request) -> Response:
        login = await self._admin(request)
        if not isinstance(login, Login):
            return login
        status = self.watcher.status if self.watcher else None
        query = request.query_params.get("q", "")[:200]
        missing = request.query_params.get("missing", "")[:16]
        listing = coverage(
            self.kb.current,
            languages=self.languages,
            directory=self.kb.directory,
            query=query,
            missing=missing,
        )
        return render(
            "admin_kb.html",
            login=login,
            entries=len(self.kb.current),
            listing=listing,
            query=query,
            missing=missing,
            configured=self.languages,
            links={e.id: source_link(self.kb_source_url, e) for e in listing.entries},
            default_language=self.default_language,
            errors=status.errors if status else self.kb.last_errors,
            status=status,
            directory=str(self.kb.directory),
            back="/console/admin/kb",
        )
