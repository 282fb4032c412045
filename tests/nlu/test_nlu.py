"""The Rasa client against a real Rasa server; what happens when Rasa dies."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.nlu.client import NluResponseError, NluUnavailable, RasaClient, parse_command
from bot.nlu.rasa_server import RasaPortTaken, RasaSupervisor, free_port
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
async def test_the_token_is_not_on_the_servers_command_line(rasa: RasaSupervisor) -> None:
    # Any user on the machine can read a command line (ps); the token must not be there.
    assert rasa.pid is not None
    cmdline = Path(f"/proc/{rasa.pid}/cmdline").read_bytes()
    assert rasa.token.encode() not in cmdline
    assert not any(arg.startswith(b"--auth-token") for arg in cmdline.split(b"\0"))
    # Yet the server still demands it: our token parses, another is refused.
    client, stranger = rasa.client(), RasaClient(rasa.url, token="wrong", timeout_s=5)
    try:
        assert (await client.parse("how can I track my order")).intent == "faq/order_status"
        with pytest.raises(NluResponseError, match="401"):
            await stranger.parse("how can I track my order")
    finally:
        await client.close()
        await stranger.close()


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
        # Kept waiting for the NLU: answered for real once it is back (bot/engine).
        assert stored.direction == Direction.IN and stored.delivery == Delivery.WAITING_NLU
        assert stored.nlu is not None and "error" in stored.nlu

        await supervisor.wait_ready(240)  # the supervisor restarted it
        assert supervisor.restarts == 1
        after = await channel.push("where is my order", user="kill")
        # The waiting message is answered first, then the new one.
        assert after[0].text.startswith("To reset your password")
        assert after[1].text.startswith("You can track your order")
    finally:
        await nlu.close()
        await supervisor.stop()
        await db.dispose()


# --- a supervised Rasa dies with the bot; a stale one on the port is replaced ------------------

# A stand-in for ``rasa run``: a real server, started by the supervisor exactly as Rasa is,
# that holds its port and answers /status only to the token it was started with. (A real
# Rasa takes ~20 s to start; what matters here is the process and its port.)
STAND_IN = """\
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
token = next(a.split("=", 1)[1] for a in args if a.startswith("--auth-token="))


class Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ours = f"token={token}" in self.path
        self.send_response(200 if ours else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"model_file": "stand-in.tar.gz"}' if ours else b"{}")

    def log_message(self, *args: object) -> None:
        pass


HTTPServer(("127.0.0.1", port), Status).serve_forever()
"""

# A bot process in miniature: it supervises the stand-in, says the server's pid, then waits.
BOT = """\
import asyncio, sys
from pathlib import Path
from bot.nlu.rasa_server import RasaSupervisor

async def main() -> None:
    venv, port, log = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    rasa = RasaSupervisor(rasa_venv=venv, model=Path("m.tar.gz"), port=port, log_file=log)
    await rasa.start()
    await rasa.wait_ready(20)
    print(rasa.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def stand_in_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    rasa = venv / "bin" / "rasa"
    rasa.write_text(f"#!{sys.executable}\n{STAND_IN}", encoding="utf-8")
    rasa.chmod(0o755)
    return venv


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie may wait a while for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_the_supervised_server_dies_with_a_killed_bot(tmp_path: Path) -> None:
    venv, port = stand_in_venv(tmp_path), free_port()
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        BOT,
        str(venv),
        str(port),
        str(tmp_path / "rasa.log"),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert bot.stdout is not None
    line = await asyncio.wait_for(bot.stdout.readline(), timeout=30)
    server = int(line)
    assert running(server)
    bot.kill()  # kill -9: no shutdown code runs
    await bot.wait()
    try:
        await wait_until(lambda: not running(server), within=10, what="the server gone")
    finally:
        if running(server):
            os.kill(server, signal.SIGKILL)


async def test_a_stale_server_on_the_fixed_port_is_replaced(tmp_path: Path) -> None:
    venv, port = stand_in_venv(tmp_path), free_port()
    log = tmp_path / "rasa.log"
    # What a crashed older bot left behind: its server, in a session of its own, with its
    # own token (parses with ours would get 401), holding the port; no pidfile.
    old = RasaSupervisor(rasa_venv=venv, model=Path("m.tar.gz"), port=port, log_file=log)
    orphan = await asyncio.create_subprocess_exec(
        *old.command(), env=old.environment(), start_new_session=True
    )
    rasa = RasaSupervisor(rasa_venv=venv, model=Path("m.tar.gz"), port=port, log_file=log)
    try:
        probe = old.client(timeout_s=2)
        await wait_until(probe.ready, within=20, what="the stale server listening")
        await probe.close()
        await rasa.start()
        await rasa.wait_ready(20)  # ready to *our* token: our own server answers
        assert await asyncio.wait_for(orphan.wait(), timeout=5) == -signal.SIGTERM
        assert rasa.pid != orphan.pid and rasa.pid is not None and running(rasa.pid)
        assert (tmp_path / f"rasa-{port}.pid").read_text().split()[0] == str(rasa.pid)
    finally:
        await rasa.stop()
        if orphan.returncode is None:
            orphan.kill()
            await orphan.wait()
    assert not (tmp_path / f"rasa-{port}.pid").exists()


async def test_the_stand_in_gets_the_token_but_not_on_its_command_line(tmp_path: Path) -> None:
    rasa = RasaSupervisor(
        rasa_venv=stand_in_venv(tmp_path), model=Path("m.tar.gz"), log_file=tmp_path / "rasa.log"
    )
    await rasa.start()
    try:
        await rasa.wait_ready(20)  # the stand-in answers only to the token it was given
        assert rasa.pid is not None
        cmdline = Path(f"/proc/{rasa.pid}/cmdline").read_bytes()
        assert rasa.token.encode() not in cmdline
        assert not any(arg.startswith(b"--auth-token") for arg in cmdline.split(b"\0"))
    finally:
        await rasa.stop()


async def test_another_program_on_the_fixed_port_is_a_clear_error(tmp_path: Path) -> None:
    venv = stand_in_venv(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        rasa = RasaSupervisor(
            rasa_venv=venv, model=Path("m.tar.gz"), port=port, log_file=tmp_path / "rasa.log"
        )
        with pytest.raises(RasaPortTaken, match=f"port {port} is in use"):
            await rasa.start()
