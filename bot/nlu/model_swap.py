"""Hot model swaps with no failed message: parses wait while Rasa loads a new model.

Rasa's ``PUT /model`` loads the new model and then replaces the old one, but the load
runs on Rasa's event loop: for the seconds it takes, Rasa answers nothing, and parses
would hit the bot's NLU timeout. So while a swap runs, new parses wait for it here,
and a parse caught in flight is asked again once the swap is over. A customer sees a
reply a few seconds late during a swap, never the "technical trouble" one.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from bot.nlu.client import NluClient, NluResponseError, NluUnavailable, ParseResult

log = logging.getLogger(__name__)

SWAP_GRACE_S = 30.0
"""A parse that times out this soon after a swap is asked again (the new model warming up)."""


class HotSwapNlu:
    """An :class:`~bot.nlu.client.NluClient` around a Rasa server whose model can be swapped."""

    def __init__(
        self,
        inner: NluClient,
        *,
        base_url: str,
        token: str | None,
        load_timeout_s: float = 600.0,
    ) -> None:
        self.inner = inner
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.load_timeout_s = load_timeout_s
        self._idle = asyncio.Event()
        self._idle.set()
        self._swap = asyncio.Lock()
        self._generation = 0
        self._swapped_at = -SWAP_GRACE_S

    @property
    def swapping(self) -> bool:
        return not self._idle.is_set()

    async def load_model(self, model_path: str) -> None:
        """``PUT /model`` with a timeout long enough for a real load; parses wait meanwhile."""
        async with self._swap:
            self._idle.clear()
            try:
                params = {"token": self._token} if self._token else {}
                async with httpx.AsyncClient(timeout=self.load_timeout_s) as http:
                    try:
                        response = await http.put(
                            f"{self.base_url}/model",
                            params=params,
                            json={"model_file": model_path},
                        )
                    except httpx.HTTPError as exc:
                        raise NluUnavailable(
                            f"Rasa at {self.base_url}: model swap failed: {type(exc).__name__}"
                        ) from exc
                    if response.status_code >= 400:
                        raise NluResponseError(
                            f"Rasa PUT /model failed: HTTP {response.status_code}: "
                            f"{response.text[:200]}"
                        )
                    await self._warm_up(http, params)
            finally:
                self._generation += 1
                self._swapped_at = time.monotonic()
                self._idle.set()

    async def _warm_up(self, http: httpx.AsyncClient, params: dict[str, str]) -> None:
        # The first parse on a new model loads its lazy parts (the sentence-embedding
        # engine takes seconds): pay that here, while customers' parses still wait.
        try:
            await http.post(f"{self.base_url}/model/parse", params=params, json={"text": "hello"})
        except httpx.HTTPError as exc:
            log.warning("warm-up parse after the model swap failed: %s", type(exc).__name__)

    async def parse(self, text: str) -> ParseResult:
        await self._idle.wait()
        generation = self._generation
        try:
            return await self.inner.parse(text)
        except NluUnavailable:
            overlapped = self.swapping or generation != self._generation
            recent = time.monotonic() - self._swapped_at < SWAP_GRACE_S
            if not (overlapped or recent):
                raise  # a real outage, not a swap
            # Sent just before a swap began: Rasa was busy loading. Ask again after it.
            log.info("parse overlapped a model swap; asking again once it is loaded")
            await self._idle.wait()
            return await self.inner.parse(text)

    async def ready(self) -> bool:
        return await self.inner.ready()

    async def close(self) -> None:
        await self.inner.close()
