"""Survey numbers: CSAT, CES, NPS overall and per channel, language, intent and agent; the
low scores to act on; on the dashboard and in the JSON, from seeded answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from starlette.applications import Starlette

from bot.reports.survey_queries import survey_numbers_for_period
from bot.reports.surveys import Answer, summarize_surveys
from bot.storage.api_tokens import ApiTokenRepository
from bot.storage.database import Database
from bot.storage.models import Feedback, SurveyRequest, SurveyResponse
from bot.storage.repositories import AgentRepository, ConversationRepository
from bot.web.api import TicketApi
from tests.support.desk import DeskRig
from tests.support.server import serve
from tests.support.tickets import make_ticket_rig
from tests.web.test_admin_console import logged_in, rig, serve_admin  # noqa: F401

NOW = datetime.now(UTC)  # at import: rows stored with the default time come later


def answer(kind: str, score: int, **fields: object) -> Answer:
    values: dict[str, object] = {
        "channel": "telegram",
        "language": "en",
        "intent": None,
        "agent": None,
        "answered_at": NOW,
    }
    values.update(fields)
    return Answer(kind, score, **values)  # type: ignore[arg-type]


def test_nps_ces_and_csat_by_hand() -> None:
    answers = [
        *(answer("nps", s) for s in (10, 9, 9, 8, 6, 0)),
        *(answer("ces", s, channel="slack") for s in (7, 6, 2)),
        answer("csat", 5, agent="priya"),
        answer("csat", 1, agent="priya", comment="rude"),
    ]
    numbers = summarize_surveys(answers, {"nps": 10, "ces": 3, "csat": 2})
    nps = numbers.overall["nps"]
    # 3 promoters, 1 passive, 2 detractors of 6: (3 - 2) / 6 = +16.7
    assert (nps.promoters, nps.passives, nps.detractors, nps.nps) == (3, 1, 2, 16.7)
    ces = numbers.overall["ces"]
    assert ces.average == 5.0 and ces.good == 2
    assert ces.distribution == {1: 0, 2: 1, 3: 0, 4: 0, 5: 0, 6: 1, 7: 1}
    assert numbers.per_channel["slack"]["ces"].answers == 3
    assert numbers.per_agent["priya"]["csat"].average == 3.0
    assert [(a.kind, a.score) for a in numbers.low_scores] == [
        ("nps", 6),
        ("nps", 0),
        ("ces", 2),
        ("csat", 1),
    ]
    assert numbers.as_json()["nps"]["nps"] == 16.7
    assert numbers.as_json()["asked"] == {"csat": 2, "ces": 3, "nps": 10}


async def seed(db: Database) -> None:
    """Two customers, an agent, answers of each survey, and one rating from before surveys."""
    async with db.transaction() as session:
        agent = await AgentRepository(session).add(name="priya", languages=["en"], max_chats=3)
        repo = ConversationRepository(session)
        web = await repo.get_or_create(
            channel="webchat", conversation_key="w1", user_id="w1", user_name="Wen"
        )
        tg = await repo.get_or_create(
            channel="telegram", conversation_key="t1", user_id="t1", user_name="Tej"
        )
        await session.flush()
        web.language, tg.language = "en", "hi"
        rows = [
            (web, "ces", "bot_resolved", "faq/order_status", None, 7, None),
            (tg, "ces", "bot_resolved", "faq/refunds", None, 2, "Took three tries"),
            (tg, "csat", "agent_resolved", None, agent.id, 4, None),
            (web, "nps", "periodic", None, None, 10, None),
            (tg, "nps", "periodic", None, None, 3, "Delivery is always late"),
        ]
        for number, (conversation, kind, occasion, intent, agent_id, score, comment) in enumerate(
            rows
        ):
            request = SurveyRequest(
                customer_id=conversation.customer_id,
                conversation_id=conversation.id,
                agent_id=agent_id,
                kind=kind,
                occasion=occasion,
                occasion_key=f"seed:{number}",
                channel=conversation.channel,
                language=conversation.language,
                intent=intent,
                asked_at=NOW - timedelta(hours=2),
            )
            session.add(request)
            await session.flush()
            session.add(
                SurveyResponse(
                    request_id=request.id,
                    score=score,
                    comment=comment,
                    created_at=NOW - timedelta(hours=1),
                )
            )
        session.add(
            SurveyRequest(
                customer_id=web.customer_id,
                kind="ces",
                occasion="bot_resolved",
                occasion_key="seed:unanswered",
                channel="webchat",
                asked_at=NOW - timedelta(hours=2),
            )
        )
        session.add(Feedback(conversation_id=web.id, kind="csat", score=2))  # before surveys


async def test_a_periods_answers_read_both_tables(db: Database) -> None:
    await seed(db)
    async with db.transaction() as session:
        numbers = await survey_numbers_for_period(
            session, start=NOW - timedelta(days=1), end=datetime.now(UTC) + timedelta(minutes=5)
        )
        before = await survey_numbers_for_period(
            session, start=NOW - timedelta(days=9), end=NOW - timedelta(days=1)
        )
    assert numbers.asked == {"csat": 1, "ces": 3, "nps": 2}
    assert numbers.overall["ces"].average == 4.5
    assert numbers.overall["nps"].nps == 0.0  # one promoter, one detractor
    csat = numbers.overall["csat"]
    assert (csat.answers, csat.average) == (2, 3.0)  # the survey's 4 and the old rating's 2
    assert numbers.per_agent["priya"]["csat"].average == 4
    assert numbers.per_intent["faq/refunds"]["ces"].average == 2
    assert set(numbers.per_language) == {"en", "hi"}
    assert numbers.per_channel["telegram"]["nps"].detractors == 1
    low = [(a.kind, a.score, a.comment) for a in numbers.low_scores]
    assert sorted(low, key=str) == sorted(
        [
            ("ces", 2, "Took three tries"),
            ("nps", 3, "Delivery is always late"),
            ("csat", 2, None),
        ],
        key=str,
    )
    assert before.overall["ces"].answers == 0


async def test_the_dashboard_and_its_json_show_ces_and_nps(rig: DeskRig, db: Database) -> None:  # noqa: F811
    await seed(db)
    async with serve_admin(rig) as (base, _):
        client = await logged_in(base, "ada")
        page = await client.http.get("/console/admin", params={"days": 7})
        assert page.status_code == 200
        html = page.text
        assert 'data-metric="ces-average">4.5<' in html
        assert 'data-metric="nps">+0<' in html
        assert "1 promoters, 0 passives, 1 detractors of 2" in html
        assert "Delivery is always late" in html and "Took three tries" in html
        data = (await client.http.get("/console/admin/api/numbers", params={"days": 7})).json()
        assert data["surveys"]["ces"]["distribution"]["7"] == 1
        assert data["surveys"]["per_agent"]["priya"]["csat"]["average"] == 4
        await client.close()
        bob = await logged_in(base, "bob")
        assert (await bob.http.get("/console/admin")).status_code == 403
        await bob.close()


async def test_the_rest_api_has_the_survey_numbers(db: Database) -> None:
    await seed(db)
    t = await make_ticket_rig(db)
    async with db.transaction() as session:
        token, _ = await ApiTokenRepository(session).add("bi")
    app = Starlette()
    TicketApi(t.service).install(app)
    async with serve(app) as address:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://{address}", headers=headers) as client:
            data = (await client.get("/api/v1/numbers", params={"days": 7})).json()
    surveys = data["surveys"]
    assert (surveys["nps"]["promoters"], surveys["nps"]["detractors"]) == (1, 1)
    assert surveys["per_channel"]["webchat"]["ces"]["average"] == 7
    assert {a["comment"] for a in surveys["low_scores"]} >= {"Took three tries"}


async def test_the_csat_tile_counts_survey_ratings_with_the_old_ones(db: Database) -> None:
    from bot.reports.numbers_queries import numbers_for_period

    await seed(db)
    async with db.transaction() as session:
        numbers = await numbers_for_period(
            session,
            start=NOW - timedelta(days=1),
            end=datetime.now(UTC) + timedelta(minutes=5),
            answer_threshold=0.7,
        )
    # The survey's 4 (Tej, telegram) and the old /csat 2 (Wen, webchat).
    assert (numbers.csat.count, numbers.csat.total, numbers.csat_average) == (1, 2, 3.0)
