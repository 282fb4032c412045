"""Runs and supervises a local Rasa server (``.venv-rasa``), restarting it if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from pathlib import Path

from bot.nlu.client import RasaClient
from bot.nlu.training import rasa_environment, rasa_executable

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RasaSupervisor:
    """Starts ``rasa run`` on 127.0.0.1 with a fresh auth token and keeps it alive."""

    def __init__(
        self,
        *,
        rasa_venv: Path,
        model: Path,
        port: int = 0,
        log_file: Path = Path("build/logs/rasa.log"),
    ) -> None:
        self.rasa = rasa_executable(rasa_venv)
        self.model = model
        self.port = port or free_port()
        # A per-run token: nothing else on the machine can query or swap our model. Hex, so
        # it never starts with "-" (Rasa's argument parser would read that as an option).
        self.token = secrets.token_hex(24)
        self.log_file = log_file
        self.restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def client(self, *, timeout_s: float = 5.0) -> RasaClient:
        return RasaClient(self.url, token=self.token, timeout_s=timeout_s)

    async def start(self) -> None:
        self._stopping = False
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="rasa-supervisor")

    async def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as sink:
            self._process = await asyncio.create_subprocess_exec(
                str(self.rasa),
                "run",
                "--enable-api",
                f"--auth-token={self.token}",
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--model",
                str(self.model),
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=rasa_environment(serving=True),
                start_new_session=True,
            )
        log.info("rasa server starting (pid %s) on %s", self._process.pid, self.url)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping:
            assert self._process is not None
            started = time.monotonic()
            code = await self._process.wait()
            if self._stopping:
                return
            # A server that ran a while before dying gets a fresh backoff.
            if time.monotonic() - started > 60:
                failures = 0
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            failures += 1
            self.restarts += 1
            log.error(
                "rasa server exited with %s; restarting in %.0fs (see %s)",
                code,
                delay,
                self.log_file,
            )
            await asyncio.sleep(delay)
            if not self._stopping:
                await self._spawn()

    async def wait_ready(self, timeout_s: float = 180.0) -> None:
        client = self.client(timeout_s=2.0)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if await client.ready():
                    log.info("rasa server ready on %s", self.url)
                    return
                await asyncio.sleep(0.5)
        finally:
            await client.close()
        raise TimeoutError(f"rasa server not ready after {timeout_s:.0f}s; see {self.log_file}")

    def kill(self) -> None:
        """Kill the server as a crash would (tests use this); the supervisor restarts it."""
        if self._process and self._process.returncode is None:
            self._process.kill()

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
