"""An NLU client behind a gate: parsing waits until the test opens it."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.nlu.client import ParseResult


class GatedNlu:
    """The real NLU client behind a gate; ``parsing`` counts parses that reached it,
    ``reached`` is set by the first."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.parsing = 0
        self.reached = asyncio.Event()

    async def parse(self, text: str) -> ParseResult:
        self.parsing += 1
        self.reached.set()
        await self.gate.wait()
        return await self.inner.parse(text)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
