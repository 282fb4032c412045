"""Surveys: CES after a bot answer (thanks, or the customer left), CSAT after an agent,
throttles, /stop, answers counted once, a low score's comment, NPS rounds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.i18n import Catalogue
from bot.settings import Settings, SurveysSettings
from bot.storage.database import Database
from bot.storage.models import Customer, SurveyRequest, SurveyResponse
from bot.surveys.asking import Phrases
from bot.surveys.jobs import SurveyJobs
from bot.surveys.plan import SurveyPlan
from tests.support.desk import SCRIPT, DeskRig, FakeClock, make_rig


def plan(**changes: object) -> SurveyPlan:
    return SurveyPlan.from_settings(SurveysSettings.model_validate(changes))


async def survey_rig(db: Database, surveys: SurveyPlan | None = None) -> DeskRig:
    rig = await make_rig(db)
    rig.nlu.script = {**SCRIPT, "thanks": "thanks", "bye": "goodbye"}
    rig.engine.options = dataclasses.replace(rig.engine.options, surveys=surveys or plan())
    return rig


def jobs(rig: DeskRig, clock: FakeClock, surveys: SurveyPlan | None = None) -> SurveyJobs:
    return SurveyJobs(
        db=rig.db,
        line=rig.engine,
        plan=surveys or plan(),
        phrases=Phrases(rig.engine.catalogue, "VoltCart"),
        answer_threshold=0.7,
        clock=clock,
    )


async def requests(rig: DeskRig) -> list[SurveyRequest]:
    async with rig.db.transaction() as session:
        return list(await session.scalars(select(SurveyRequest).order_by(SurveyRequest.id)))


async def responses(rig: DeskRig) -> list[tuple[int | None, str | None, str | None]]:
    async with rig.db.transaction() as session:
        rows = await session.scalars(select(SurveyResponse).order_by(SurveyResponse.id))
        return [(r.score, r.answer, r.comment) for r in rows]


async def test_thanks_after_an_answer_asks_ces_once_and_a_low_score_gets_a_comment(
    db: Database,
) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    assert await rig.push("thanks") == [rig.phrase("thanks"), rig.phrase("ces_request")]
    [request] = await requests(rig)
    assert (request.kind, request.occasion, request.intent) == (
        "ces",
        "bot_resolved",
        "faq/order_status",
    )
    buttons = rig.sent()[-1].buttons
    assert [b.payload for b in buttons] == [f"/survey {request.id} {n}" for n in range(1, 8)]

    assert await rig.push("2", payload=buttons[1].payload) == [rig.phrase("survey_comment_request")]
    assert await rig.push("Too many steps to find the link") == [
        rig.phrase("survey_comment_thanks")
    ]
    # Pressed again, or another score later: counted once.
    assert await rig.push("7", payload=buttons[6].payload) == [rig.phrase("survey_thanks")]
    assert await responses(rig) == [(2, None, "Too many steps to find the link")]
    # Thanks again: the same answer is not asked about twice.
    assert await rig.push("thanks") == [rig.phrase("thanks")]
    assert len(await requests(rig)) == 1


async def test_a_good_score_is_thanked_and_asks_no_comment(db: Database) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    await rig.push("bye")
    [request] = await requests(rig)
    assert await rig.push("6", payload=f"/survey {request.id} 6") == [rig.phrase("survey_thanks")]
    assert await responses(rig) == [(6, None, None)]


async def test_another_customers_or_an_out_of_scale_answer_does_not_count(db: Database) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    await rig.push("thanks")
    [request] = await requests(rig)
    assert await rig.push("5", user="bob", payload=f"/survey {request.id} 5") == [
        rig.phrase("survey_thanks")
    ]
    assert await rig.push("9", payload=f"/survey {request.id} 9") == [rig.phrase("survey_thanks")]
    assert await responses(rig) == []


async def test_thanks_without_an_answer_before_asks_nothing(db: Database) -> None:
    rig = await survey_rig(db)
    await rig.push("hello")
    assert await rig.push("thanks") == [rig.phrase("thanks")]
    assert await requests(rig) == []


async def test_one_survey_per_customer_per_period_then_the_agent_only_closes(
    db: Database,
) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    await rig.push("thanks")
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.resolve(priya, conversation.id)
    assert rig.sent()[-1].text == rig.phrase("conversation_resolved")
    assert [r.kind for r in await requests(rig)] == ["ces"]


async def test_stop_means_no_more_surveys(db: Database) -> None:
    rig = await survey_rig(db)
    assert await rig.push("/stop") == [rig.phrase("surveys_stopped")]
    await rig.push("where is my order")
    assert await rig.push("thanks") == [rig.phrase("thanks")]
    priya = await rig.add_agent("priya")
    await rig.push("/human")
    conversation = await rig.conversation()
    await rig.desk.claim(priya, conversation.id)
    await rig.desk.resolve(priya, conversation.id)
    assert rig.sent()[-1].text == rig.phrase("conversation_resolved")
    assert await requests(rig) == []


async def test_a_customer_who_left_after_an_answer_is_asked_after_the_quiet_time(
    db: Database,
) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    await rig.push("hello", user="bob")  # no FAQ answer: nothing to ask about
    clock = FakeClock(datetime.now(UTC))
    job = jobs(rig, clock)
    clock.advance(minutes=10)
    assert (await job.run()).bot_resolved == 0
    clock.advance(minutes=25)
    assert (await job.run()).bot_resolved == 1
    assert rig.sent()[-1].text == rig.phrase("ces_request")
    assert rig.sent("bob")[-1].text == rig.phrase("greet")
    clock.advance(minutes=5)
    assert (await job.run()).bot_resolved == 0  # asked once, whatever runs after
    [request] = await requests(rig)
    assert request.occasion == "bot_resolved"


async def test_an_answer_voted_not_helpful_is_not_asked_about(db: Database) -> None:
    rig = await survey_rig(db)
    rig.engine.options = dataclasses.replace(rig.engine.options, ask_helpful=True)
    await rig.push("where is my order")
    vote = next(b for b in rig.sent()[-1].buttons if b.payload.endswith(" no"))
    await rig.push(vote.title, payload=vote.payload)
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=40))
    assert (await jobs(rig, clock).run()).bot_resolved == 0


async def test_nps_round_asks_known_customers_at_most_every_90_days(db: Database) -> None:
    surveys = plan(nps={"enabled": True, "when": ["periodic"]}, min_days_between=0)
    rig = await survey_rig(db, surveys)
    await rig.push("hello")
    clock = FakeClock(datetime.now(UTC) + timedelta(hours=1))
    job = jobs(rig, clock, surveys)
    assert (await job.run()).nps == 0  # a new customer: not yet
    async with rig.db.transaction() as session:
        await session.execute(
            update(Customer).values(created_at=datetime.now(UTC) - timedelta(days=60))
        )
    assert (await job.run()).nps == 1
    assert rig.sent()[-1].text == rig.phrase("nps_request")
    assert [b.payload.split()[-1] for b in rig.sent()[-1].buttons] == [str(n) for n in range(11)]
    clock.advance(days=1)
    assert (await job.run()).nps == 0
    await rig.push("8", payload=rig.sent()[-1].buttons[8].payload)
    assert await responses(rig) == [(8, None, None)]


async def test_every_survey_question_is_in_every_language() -> None:
    catalogue = Catalogue.load(default_language="en")
    for language in ("en", "gu", "te", "ka", "hi"):
        for key in ("csat_request", "ces_request", "nps_request", "followup_request"):
            text = catalogue.get(key, language, brand="VoltCart", reference="HD-1")
            assert language == "en" or text != catalogue.get(
                key, "en", brand="VoltCart", reference="HD-1"
            )


def test_an_occasion_belongs_to_one_survey() -> None:
    with pytest.raises(ValueError, match="agent_resolved is asked by both csat and ces"):
        Settings.model_validate({"surveys": {"ces": {"when": ["agent_resolved"]}}})


async def test_customers_already_asked_never_hold_the_others_back(db: Database) -> None:
    rig = await survey_rig(db)
    await rig.push("where is my order")
    await rig.push("where is my order", user="bob")
    await rig.push("where is my order", user="cleo")
    clock = FakeClock(datetime.now(UTC) + timedelta(minutes=40))
    job = jobs(rig, clock)
    job.batch = 1  # one answer looked at per run: the asked ones must drop out of it
    assert [(await job.run()).bot_resolved for _ in range(4)] == [1, 1, 1, 0]
    assert {rig.sent(user)[-1].text for user in ("alice", "bob", "cleo")} == {
        rig.phrase("ces_request")
    }
