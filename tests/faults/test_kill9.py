"""The real bot killed with SIGKILL mid-stream: no customer message lost, none answered twice.

30 web chat customers ask 10 questions each; the bot (``helpdesk run``) is killed once
half of them are answered and started again. Counted at the client by reply id, as the
widget shows them. ``bench/faults.py`` runs the same with more customers and kills.
"""

from __future__ import annotations

import pytest

from bot.nlu.rasa_server import RasaSupervisor, free_port
from bot.storage.database import Database
from tests.faults.kill9 import run

pytestmark = pytest.mark.rasa


async def test_kill_9_mid_stream_loses_nothing_and_sends_nothing_twice(
    db: Database, rasa: RasaSupervisor
) -> None:
    figures = await run(
        database_url=db.url,
        nlu_url=rasa.url,
        nlu_token=rasa.token,
        port=free_port(),
        sessions=30,
        messages=10,
        kills=1,
    )
    print(figures)
    assert figures.kills == 1
    assert figures.answered == 300
    assert (figures.lost, figures.duplicated, figures.wrong) == (0, 0, 0)
    assert figures.problems == []
