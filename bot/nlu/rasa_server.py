"""Runs and supervises a local Rasa server (``.venv-rasa``), restarting it if it dies.

The server dies with the bot: on Linux it is started with a parent-death signal
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so even a ``kill -9`` of the bot takes it along.
It runs in a session of its own (a Ctrl-C in the terminal reaches the bot, which stops
it in order). With a fixed ``nlu.rasa_port`` a server left behind anyway (by an older
version, or one whose bot died between fork and ``prctl``) is found at the next start,
by its pidfile or its command line, and replaced; another program on that port is a
clear error instead of a bot that never gets ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.nlu.client import RasaClient
from bot.nlu.training import rasa_environment, rasa_executable

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)

# Rasa 3.6 takes its auth token only as ``--auth-token`` (no environment variable, no file),
# and any user can read a command line (``ps``). So the server starts through this launcher:
# it takes the token from the environment (readable by this user only), drops it there so
# Rasa's own children do not inherit it, and hands it to Rasa's argument parser in-process,
# where ``/proc/<pid>/cmdline`` never shows it. The Rasa script runs in the same process.
TOKEN_VARIABLE = "HELPDESK_RASA_AUTH_TOKEN"
LAUNCHER = (
    "import os, runpy, sys\n"
    f"token = os.environ.pop({TOKEN_VARIABLE!r})\n"
    "sys.argv = [*sys.argv[1:], '--auth-token=' + token]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _interpreter(venv: Path, script: Path) -> str:
    """The Python that runs ``script``: the venv's own, else the one its ``#!`` line names."""
    python = venv / "bin" / "python"
    if python.exists():
        return str(python)
    with script.open(encoding="utf-8", errors="replace") as head:
        shebang = head.readline()
    return shebang[2:].split()[0] if shebang.startswith("#!") else sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RasaPortTaken(RuntimeError):
    """The fixed Rasa port is held by a program that is not a Rasa server of ours."""


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel kill the child when the bot dies (Linux only).

    The signal is tied to the thread that forks: asyncio forks in the event loop's
    thread, which lives as long as the bot. If the bot died before ``prctl`` took
    effect the child is already an orphan, and exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _serves_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` is a ``rasa run`` of this user on ``port`` (by its command line)."""
    try:
        proc = Path(f"/proc/{pid}")
        if proc.stat().st_uid != os.getuid():
            return False
        args = proc.joinpath("cmdline").read_bytes().decode(errors="replace").split("\0")
    except (OSError, ValueError):
        return False
    for i, arg in enumerate(args[:-1]):
        if Path(arg).name == "rasa" and args[i + 1] == "run":
            rest = args[i + 2 :]
            return ("--port", str(port)) in itertools.pairwise(rest)
    return False


async def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` comes true within ``seconds`` (another process: no event to await)."""
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"  # dead, waiting for its parent (or init) to reap it


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
        self.python = _interpreter(rasa_venv, self.rasa)
        self.model = model
        self.fixed_port = port != 0
        self.port = port or free_port()
        # Next to the log: which server this bot started on a fixed port, for the next start.
        self.pidfile = log_file.with_name(f"rasa-{self.port}.pid")
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

    def command(self) -> list[str]:
        """The server's command line (a stale server is recognised by it); no token in it."""
        return [
            self.python,
            "-c",
            LAUNCHER,
            str(self.rasa),
            "run",
            "--enable-api",
            "--interface",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--model",
            str(self.model),
        ]

    def environment(self) -> dict[str, str]:
        """The server's environment: Rasa's, and the token for the launcher to take."""
        return {**rasa_environment(serving=True), TOKEN_VARIABLE: self.token}

    async def start(self) -> None:
        self._stopping = False
        if self.fixed_port:
            await self._replace_stale()
        await self._spawn()
        self._watch = asyncio.create_task(self._supervise(), name="rasa-supervisor")

    async def _spawn(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as sink:
            self._process = await asyncio.create_subprocess_exec(
                *self.command(),
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=self.environment(),
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        if self.fixed_port:
            self.pidfile.write_text(f"{self._process.pid}\n", encoding="utf-8")
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

    async def _replace_stale(self) -> None:
        """Stop a Rasa of ours left on the fixed port; :class:`RasaPortTaken` for anything else."""
        if port_free(self.port):
            return
        candidates = []
        with contextlib.suppress(OSError, ValueError):
            candidates.append(int(self.pidfile.read_text().split()[0]))
        with contextlib.suppress(OSError):
            candidates += [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        stale = next((pid for pid in candidates if _serves_port(pid, self.port)), None)
        if stale is None:
            raise RasaPortTaken(
                f"port {self.port} is in use by a program that is not a Rasa server of this "
                "bot; free it, or set nlu.rasa_port to another port (0: any free one)"
            )
        log.warning("a stale rasa server (pid %s) holds port %s; replacing it", stale, self.port)
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                # Its own session (as we start it): the whole group, anything it forked too.
                if os.getpgid(stale) == stale:
                    os.killpg(stale, sig)
                else:
                    os.kill(stale, sig)
            if await _within(wait_s, lambda: _gone(stale)):
                break
        # The listening socket closes with the process; the kernel may take a moment.
        if not await _within(5.0, lambda: port_free(self.port)):
            raise RasaPortTaken(f"port {self.port} is still in use after stopping pid {stale}")

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
        if self.fixed_port:
            self.pidfile.unlink(missing_ok=True)
