"""A survey on Slack: the real bolt app and Web API client against the fake Slack; the
CES question's buttons pressed as block actions, a low score's comment typed in the DM."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from bot.channels.slack.format import escape
from bot.storage.database import Database
from bot.storage.models import SurveyRequest, SurveyResponse
from bot.surveys.plan import SurveyPlan
from tests.support.desk import SCRIPT, make_rig
from tests.support.fake_slack import FakeSlack
from tests.support.server import serve
from tests.support.tickets import channel_app, http_slack


async def test_ces_on_slack_counts_once_and_keeps_the_comment(db: Database) -> None:
    async with FakeSlack() as slack:
        slack.add_user("U1", "alice", locale="en-US")
        channel = http_slack(slack)
        rig = await make_rig(db, channel=channel)
        rig.nlu.script = {**SCRIPT, "thanks": "thanks"}
        rig.engine.options = dataclasses.replace(rig.engine.options, surveys=SurveyPlan.default())

        app = channel_app(rig.engine, channel)
        try:
            async with serve(app) as address:
                url = f"http://{address}/slack/events"

                async def replies(count: int) -> list[dict[str, Any]]:
                    calls = await slack.wait_for(
                        "chat.postMessage", count, where=lambda c: c.args["channel"] == "DU1"
                    )
                    return [c.args for c in calls]

                await slack.post_event(url, slack.dm("U1", "where is my order"))
                await replies(1)
                await slack.post_event(url, slack.dm("U1", "thanks"))
                posted = await replies(3)
                question = posted[-1]
                assert question["text"].startswith(escape(rig.phrase("ces_request")))
                [actions] = [b for b in question["blocks"] if b["type"] == "actions"]
                assert [e["text"]["text"] for e in actions["elements"]] == [
                    str(n) for n in range(1, 8)
                ]
                ts = next(m["ts"] for m in slack.posted("DU1") if m["text"] == question["text"])
                press = slack.press("DU1", ts, user="U1", index=1)  # "2": hard
                # A late second press, from a client that still shows the buttons.
                again = slack.press("DU1", ts, user="U1", index=6)
                assert (await slack.post(url, press, interactive=True)).status_code == 200
                posted = await replies(4)
                assert posted[-1]["text"].startswith(escape(rig.phrase("survey_comment_request")))
                assert (await slack.post(url, again, interactive=True)).status_code == 200
                await slack.post_event(url, slack.dm("U1", "I had to ask twice"))
                posted = await replies(5)
                assert posted[-1]["text"] == escape(rig.phrase("survey_comment_thanks"))
        finally:
            await channel.stop()
    async with db.transaction() as session:
        [request] = await session.scalars(select(SurveyRequest))
        answers = [(r.score, r.comment) for r in await session.scalars(select(SurveyResponse))]
    assert (request.kind, request.channel) == ("ces", "slack")
    assert answers == [(2, "I had to ask twice")]
