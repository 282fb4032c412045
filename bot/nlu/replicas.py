"""Several Rasa servers as one NLU: parses spread round-robin, a dead replica skipped.

``nlu.url`` may name several Rasa servers serving the same model. Each parse goes to
the next replica in turn. A replica that cannot answer (connection refused, timeout, no
model loaded yet: :class:`~bot.nlu.client.NluUnavailable`) is set aside for a short
back-off, doubling while it stays down, and the same parse is asked of the next replica
at once: a customer whose parse met a dead replica gets the answer from a live one, a
little late, never an error. Only when every replica fails does the parse raise
``NluUnavailable`` (and the engine keeps the message for when the NLU is back). After
its back-off a replica gets the next parse again, so one that came back is used again.

Models: :meth:`RasaReplicas.load_model` puts a model on every live replica that does not
serve it yet (``GET /status`` names the served file; models are named by the hash of
their inputs, so the same name means the same model). Replicas load one after another:
while one loads (Rasa answers nothing for those seconds) this worker's parses go to the
others. The file must be at the same path for the replicas as for the bot (a shared
volume, ``nlu.models_dir``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import httpx

from bot.nlu.client import NluResponseError, NluUnavailable, ParseResult, RasaClient

log = logging.getLogger(__name__)

BACKOFF_S = 1.0
"""A replica that failed is skipped this long, doubling while it keeps failing ..."""
MAX_BACKOFF_S = 15.0
"""... up to this: a replica back from the dead gets traffic again within this long."""
LOAD_TIMEOUT_S = 600.0
"""A real model load takes seconds to a minute on a busy machine."""


@dataclass(eq=False)
class Replica:
    """One Rasa server and what this worker knows of its health."""

    url: str
    client: RasaClient
    failures: int = 0
    down_until: float = 0.0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    """Clear while this worker loads a model into the replica (its parses go elsewhere)."""
    swap: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.idle.set()

    @property
    def loading(self) -> bool:
        return not self.idle.is_set()


@dataclass
class SwapReport:
    """Where a model went: per replica URL."""

    model: str
    loaded: list[str] = field(default_factory=list)
    """Replicas that were serving another model (or none) and now serve this one."""
    current: list[str] = field(default_factory=list)
    """Replicas that already served it."""
    down: list[str] = field(default_factory=list)
    """Replicas that did not answer; they get the model on a later try."""
    failed: dict[str, str] = field(default_factory=dict)
    """Replicas that answered but refused the model (e.g. the file is not on their disk)."""

    @property
    def serving(self) -> list[str]:
        return [*self.loaded, *self.current]


class RasaReplicas:
    """An :class:`~bot.nlu.client.NluClient` and model loader over several Rasa servers."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        token: str | None,
        timeout_s: float = 5.0,
        backoff_s: float = BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        load_timeout_s: float = LOAD_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("RasaReplicas needs at least one URL")
        self.replicas = [
            Replica(url.rstrip("/"), RasaClient(url, token=token, timeout_s=timeout_s))
            for url in urls
        ]
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._clock = clock
        self._params = {"token": token} if token else {}
        self._next = 0
        # Status checks and model loads: a long read timeout for the load, a short connect
        # timeout so a replica that is gone costs little.
        self._admin = httpx.AsyncClient(timeout=httpx.Timeout(load_timeout_s, connect=2.0))

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def is_up(self, url: str) -> bool:
        """Whether this worker sends parses to the replica at ``url`` (not backed off)."""
        replica = next(r for r in self.replicas if r.url == url.rstrip("/"))
        return replica.down_until <= self._clock()

    # --- parsing ---------------------------------------------------------------------

    async def parse(self, text: str) -> ParseResult:
        problems: list[str] = []
        for replica in self._order():
            if replica.loading:
                # Every replica before it failed: waiting out the swap beats an error.
                await replica.idle.wait()
            try:
                result = await replica.client.parse(text)
            except NluUnavailable as exc:
                self._failed(replica)
                problems.append(str(exc))
                continue
            self._answered(replica)
            return result
        raise NluUnavailable("no Rasa replica answered: " + "; ".join(problems))

    def _order(self) -> list[Replica]:
        """This parse's turn: replicas up first, round-robin; then loading, then backed off."""
        start = self._next
        self._next = (self._next + 1) % len(self.replicas)
        turn = self.replicas[start:] + self.replicas[:start]
        now = self._clock()
        up = [r for r in turn if r.down_until <= now and not r.loading]
        loading = [r for r in turn if r.down_until <= now and r.loading]
        # Last resort when all else failed: the one expected back soonest first.
        down = sorted((r for r in turn if r.down_until > now), key=lambda r: r.down_until)
        return [*up, *loading, *down]

    def _failed(self, replica: Replica) -> None:
        now = self._clock()
        if replica.down_until > now:
            return  # already set aside by a parse that failed alongside this one
        replica.failures += 1
        delay = min(self.backoff_s * 2 ** (replica.failures - 1), self.max_backoff_s)
        replica.down_until = now + delay
        if replica.failures == 1:
            log.warning("rasa replica %s is down; skipping it", replica.url)

    def _answered(self, replica: Replica) -> None:
        if replica.failures:
            log.info("rasa replica %s is back", replica.url)
        replica.failures = 0
        replica.down_until = 0.0

    async def ready(self) -> bool:
        """True while at least one replica answers with a model loaded."""
        answers = await asyncio.gather(*(r.client.ready() for r in self.replicas))
        for replica, ready in zip(self.replicas, answers, strict=True):
            if ready:
                self._answered(replica)
        return any(answers)

    async def close(self) -> None:
        await self._admin.aclose()
        for replica in self.replicas:
            await replica.client.close()

    # --- models ----------------------------------------------------------------------

    async def load_model(self, model_path: str) -> None:
        """Serve ``model_path`` on every live replica; raise if none serves it after.

        A replica that is down is left for the model keeping to reach once it is back;
        one that refuses the model is an error (the file is missing on its side).
        """
        report = await self.keep_model(model_path)
        if report.failed:
            raise NluResponseError(
                "rasa replicas refused the model: "
                + "; ".join(f"{url}: {why}" for url, why in report.failed.items())
            )
        if not report.serving:
            raise NluUnavailable(f"no rasa replica is up to load {model_path}")

    async def keep_model(self, model_path: str) -> SwapReport:
        """Load ``model_path`` where a replica serves another model or none; never raises."""
        report = SwapReport(model=PurePath(model_path).name)
        for replica in self.replicas:
            async with replica.swap:  # the watcher's swap and the keeper's take turns
                try:
                    served = await self.served_model(replica)
                    if served == report.model:
                        report.current.append(replica.url)
                        continue
                    await self._load(replica, model_path)
                except NluUnavailable as exc:
                    log.warning("rasa replica %s: no model swap now: %s", replica.url, exc)
                    report.down.append(replica.url)
                except NluResponseError as exc:
                    log.error("rasa replica %s refused %s: %s", replica.url, model_path, exc)
                    report.failed[replica.url] = str(exc)
                else:
                    log.info("rasa replica %s now serves %s", replica.url, report.model)
                    report.loaded.append(replica.url)
        return report

    async def served_model(self, replica: Replica) -> str | None:
        """The model file a replica serves (its name), or None when it has none loaded."""
        response = await self._call(replica, "GET", "/status", limit_s=5.0, no_model_ok=True)
        if response.status_code == 409:  # up, but no model loaded yet
            return None
        data = _json(response, replica)
        model = data.get("model_file")
        return PurePath(str(model)).name if model else None

    async def _load(self, replica: Replica, model_path: str) -> None:
        replica.idle.clear()
        try:
            await self._call(replica, "PUT", "/model", json={"model_file": model_path})
            # The first parse on a new model loads its lazy parts (the sentence-embedding
            # engine takes seconds): pay that here, before customers' parses come back.
            try:
                await self._call(replica, "POST", "/model/parse", json={"text": "hello"})
            except (NluUnavailable, NluResponseError) as exc:
                log.warning("warm-up parse on %s failed: %s", replica.url, exc)
            self._answered(replica)
        finally:
            replica.idle.set()

    async def _call(
        self,
        replica: Replica,
        method: str,
        path: str,
        *,
        json: Any = None,
        limit_s: float | None = None,
        no_model_ok: bool = False,
    ) -> httpx.Response:
        extra: dict[str, Any] = {} if limit_s is None else {"timeout": limit_s}
        try:
            response = await self._admin.request(
                method, replica.url + path, params=self._params, json=json, **extra
            )
        except httpx.HTTPError as exc:
            raise NluUnavailable(f"{replica.url} unreachable: {type(exc).__name__}") from exc
        if response.status_code in (502, 503, 504):
            raise NluUnavailable(f"{replica.url} not ready: HTTP {response.status_code}")
        if response.status_code == 409 and not no_model_ok:
            raise NluUnavailable(f"{replica.url} has no model loaded")
        if response.status_code >= 400 and response.status_code != 409:
            raise NluResponseError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}"
            )
        return response


def _json(response: httpx.Response, replica: Replica) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise NluResponseError(f"{replica.url}: response is not JSON") from exc
    if not isinstance(data, dict):
        raise NluResponseError(f"{replica.url}: unexpected response shape")
    return data
