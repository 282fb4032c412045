"""The scripts the images run, run for real: the health checks against the real app and a
real Rasa, and the Rasa launcher that keeps its token off the command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import httpx
import pytest

from bot.engine.pipeline import Engine
from bot.nlu.rasa_server import free_port
from bot.nlu.training import rasa_environment
from bot.web.app import create_web_app
from tests.conftest import ROOT
from tests.support.server import serve

SCRIPTS = ROOT / "deploy" / "docker"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


async def run(python: Path | str, script: str, *args: str, env: dict[str, str]) -> int:
    """The exit status of ``python deploy/docker/<script> args`` (asynchronously: the
    server it talks to runs on this event loop)."""
    process = await asyncio.create_subprocess_exec(
        str(python),
        str(SCRIPTS / script),
        *args,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=60)


async def test_bot_health_check_is_healthy_only_when_healthz_says_ready() -> None:
    state = {"ready": False}

    async def readiness() -> dict[str, object]:
        return dict(state)

    app = create_web_app(engine=cast(Engine, object()), webchat=None, readiness=readiness)
    async with serve(app) as address:
        env = {**os.environ, "HELPDESK_WEB__PORT": address.rsplit(":", 1)[1]}
        assert await run(sys.executable, "healthcheck.py", "bot", env=env) == 1  # 503
        state["ready"] = True
        assert await run(sys.executable, "healthcheck.py", "bot", env=env) == 0
    # Nothing listening any more.
    assert await run(sys.executable, "healthcheck.py", "bot", env=env) == 1
    assert await run(sys.executable, "healthcheck.py", "nonsense", env=env) == 2


@contextlib.asynccontextmanager
async def rasa_replica(model: Path, models: Path, token: str) -> AsyncIterator[tuple[int, int]]:
    """deploy/docker/rasa_serve.py as the Rasa image runs it: (its pid, its port)."""
    models.mkdir()
    (models / model.name).symlink_to(model)
    port = free_port()
    env = {
        **rasa_environment(serving=True),  # PYTHONPATH: the checkout, as /app in the image
        "RASA_TOKEN": token,
        "RASA_PORT": str(port),
        "RASA_MODELS": str(models),
    }
    log = (ROOT / ".cache" / "rasa-serve-test.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(RASA_PYTHON),
        str(SCRIPTS / "rasa_serve.py"),
        "--interface",
        "127.0.0.1",
        env=env,
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process.pid, port
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


@pytest.mark.rasa
async def test_rasa_image_serves_the_newest_model_with_the_token_kept_off_its_command_line(
    test_model: Path, tmp_path: Path
) -> None:
    token = secrets.token_hex(16)
    async with rasa_replica(test_model, tmp_path / "models", token) as (pid, port):
        check_env = {**os.environ, "RASA_TOKEN": token, "RASA_PORT": str(port)}
        healthy = False
        for _ in range(480):  # TensorFlow's import alone takes a while on a busy machine
            if await run(RASA_PYTHON, "healthcheck.py", "rasa", env=check_env) == 0:
                healthy = True
                break
            await asyncio.sleep(0.5)
        assert healthy, "the Rasa replica never became healthy (.cache/rasa-serve-test.log)"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            status = await client.get("/status", params={"token": token})
            assert Path(status.json()["model_file"]).name == test_model.name
            assert (await client.get("/status")).status_code == 401
            assert (await client.get("/status", params={"token": "wrong"})).status_code == 401
            assert (await client.get("/")).status_code == 200  # the liveness probe's path
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert token.encode() not in command_line
        assert b"rasa_serve.py" in command_line
        wrong = {**check_env, "RASA_TOKEN": "wrong"}
        assert await run(RASA_PYTHON, "healthcheck.py", "rasa", env=wrong) == 1


async def test_rasa_launcher_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"{RASA_PYTHON} is missing: run `make setup`")
    env = {k: v for k, v in os.environ.items() if k != "RASA_TOKEN"}
    assert await run(RASA_PYTHON, "rasa_serve.py", env=env) == 1
    assert await run(RASA_PYTHON, "rasa_serve.py", env={**env, "RASA_TOKEN": "-x"}) == 1
