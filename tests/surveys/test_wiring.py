"""``helpdesk run`` wires the surveys: the engine's turns, the desk, the tickets, the
saved replies, and the surveys job once per cluster."""

from __future__ import annotations

from pathlib import Path

from bot.app import build_helpdesk, build_web_app
from bot.channels import Channel
from bot.channels.webchat import WebChatChannel
from bot.settings import Secrets
from bot.storage.database import Database
from bot.surveys.plan import Occasion
from tests.conftest import ROOT, TEST_KB, project_settings


async def test_the_web_app_asks_surveys_and_runs_the_job_once_per_cluster(
    db: Database, tmp_path: Path
) -> None:
    settings = project_settings()
    settings = settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": "http://127.0.0.1:9"}),
            "database": settings.database.model_copy(update={"url": db.url}),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
            "handoff": settings.handoff.model_copy(
                update={"canned_replies": str(ROOT / "canned_replies.yml")}
            ),
        }
    )
    channels: list[Channel] = [WebChatChannel()]
    helpdesk = build_helpdesk(settings, Secrets.model_validate({}), channels=channels, model=None)
    try:
        build_web_app(helpdesk, channels, progress=lambda _: None)
        jobs = {job.name: job for job in helpdesk.tasks._jobs}
        assert jobs["surveys"].once_per_cluster
        assert jobs["surveys"].every_s == settings.surveys.check_every_s
        plan = helpdesk.engine.options.surveys
        assert plan is not None and plan.survey_for(Occasion.BOT_RESOLVED, "webchat") is not None
        desk = helpdesk.engine.desk
        assert desk is not None
        assert "refund_timing" in desk.canned.replies  # type: ignore[attr-defined]
    finally:
        await helpdesk.db.dispose()
