"""The Rasa client against a real Rasa server; what happens when Rasa dies."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.nlu.client import NluResponseError, NluUnavailable, RasaClient, parse_command
from bot.nlu.rasa_server import RasaSupervisor, free_port
from bot.nlu.training import rasa_environment
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.storage.models import Delivery, Direction, Message
from tests.conftest import ROOT, make_engine
from tests.support.fake_channel import FakeChannel
from tests.support.waiting import wait_until


async def test_unreachable_rasa_is_a_typed_error() -> None:
    client = RasaClient(f"http://127.0.0.1:{free_port()}", token="x", timeout_s=1)
    started = time.monotonic()
    with pytest.raises(NluUnavailable):
        await client.parse("hello")
    assert time.monotonic() - started < 3
    assert await client.ready() is False
    await client.close()


def test_commands_skip_the_model() -> None:
    result = parse_command("/faq order_status")
    assert result is not None and result.intent == "faq/order_status" and result.confidence == 1.0
    assert parse_command("/human").intent == "human_handoff"  # type: ignore[union-attr]
    assert parse_command("/status HD-1042").entities[0]["value"] == "HD-1042"  # type: ignore[union-attr]
    assert parse_command("/nonsense") is None
    assert parse_command("where is my order") is None


@pytest.mark.rasa
async def test_parse_maps_faq_intents(rasa: RasaSupervisor) -> None:
    client = rasa.client()
    try:
        result = await client.parse("how can I track my order")
        assert result.intent == "faq/order_status"
        assert result.faq_id == "order_status"
        assert 0.0 < result.confidence <= 1.0
        assert result.ranking[0].name == "faq/order_status"
        assert all(not s.name.startswith("faq__") for s in result.ranking)
    finally:
        await client.close()


@pytest.mark.rasa
def test_the_server_embeds_with_one_passive_openmp_thread(rasa: RasaSupervisor) -> None:
    # Two spinning OpenMP threads put 100 ms stalls into the server's parses
    # (bench/RESULTS.md); the runtime reads these only at process start.
    assert rasa.pid is not None
    raw = Path(f"/proc/{rasa.pid}/environ").read_bytes().split(b"\0")
    server_env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    assert server_env["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS", "1")
    assert server_env["OMP_WAIT_POLICY"] == os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    # Training keeps every core for its embedding batches.
    assert "OMP_NUM_THREADS" not in rasa_environment() or "OMP_NUM_THREADS" in os.environ


@pytest.mark.rasa
async def test_a_wrong_token_is_a_response_error(rasa: RasaSupervisor) -> None:
    client = RasaClient(rasa.url, token="wrong", timeout_s=5)
    with pytest.raises(NluResponseError, match="401"):
        await client.parse("hello")
    await client.close()


@pytest.mark.rasa
async def test_killed_rasa_loses_no_message_and_recovers(tmp_path: Path, test_model: Path) -> None:
    # A server and a database of its own: this test kills the server.
    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=test_model, log_file=ROOT / ".cache" / "rasa-kill.log"
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    await upgrade_async(url)
    db = Database(url)
    channel = FakeChannel()
    nlu = supervisor.client(timeout_s=5)
    engine = make_engine(db, nlu, channel)
    await channel.start(engine.receive)
    await supervisor.start()
    try:
        await supervisor.wait_ready(240)
        before = await channel.push("where is my order", user="kill")
        assert before[0].text.startswith("You can track your order")

        supervisor.kill()
        # The supervisor counts a restart once it has seen the process exit.
        await wait_until(lambda: supervisor.restarts == 1, within=10, what="Rasa gone")
        during = await channel.push("how do I reset my password", user="kill")
        assert [r.text for r in during] == [engine.catalogue.get("nlu_unavailable", "en")]
        async with db.transaction() as session:
            stored = (
                await session.scalars(
                    select(Message).where(Message.text == "how do I reset my password")
                )
            ).one()
        assert stored.direction == Direction.IN and stored.delivery == Delivery.PROCESSED
        assert stored.nlu is not None and "error" in stored.nlu

        await supervisor.wait_ready(240)  # the supervisor restarted it
        assert supervisor.restarts == 1
        after = await channel.push("where is my order", user="kill")
        assert after[0].text.startswith("You can track your order")
    finally:
        await nlu.close()
        await supervisor.stop()
        await db.dispose()
