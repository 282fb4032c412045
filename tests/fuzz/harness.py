"""Hypothesis against servers living on the test's own event loop, and what it tried.

Hypothesis runs a plain function per example; the servers under test (the web app, the
engine, the databases) live on the test's event loop. So the ``@given`` function runs
in a worker thread (:func:`fuzz_in_thread`) and hands each request to the loop.

``FUZZ_EXAMPLES`` sets the examples per test (default :data:`CI_EXAMPLES`, small so CI
stays fast; ``bench/fuzz_surfaces.py`` runs more). With ``FUZZ_REPORT`` set to a file,
each test appends one JSON line: inputs tried, statuses seen, the first 5xx bodies.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CI_EXAMPLES = 40
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", str(CI_EXAMPLES)))
T = TypeVar("T")

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Every character, lone surrogates and NUL included (Hypothesis leaves surrogates out
# unless asked): what a JSON body can carry, as "\ud800" or "\u0000".
ANY_CHAR = st.characters(codec=None, exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=60) | st.sampled_from(
    ["", "\x00", "\ud800", "a\x00b", " =1+1", "/helpful 99999999999999999999999 yes", "x" * 600]
)
NUMBERS = (
    st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 2**31, 2**63, 10**30, 1e308])
)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | NUMBERS | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=12,
)
"""Any JSON value: what an odd field gets in place of its real value."""


def deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


JUNK_BODIES = st.binary(max_size=200) | st.sampled_from(
    [b"", b"null", b"[1]", b'"x"', b"7", b"{", b"\xff\xfe", deep(5000), b"[" * 3000 + b"]" * 3000]
)


def mutated(base: dict[str, Any], fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with one to three of ``fields`` (dotted paths) replaced by any JSON value."""

    def apply(changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(json.dumps(base))
        for path, value in sorted(changes.items()):  # parents first
            *parents, leaf = path.split(".")
            target: Any = result
            for part in parents:
                target = target.get(part) if isinstance(target, dict) else None
            if isinstance(target, dict):  # a parent already replaced: nothing to change
                target[leaf] = value
        return result

    changes = st.dictionaries(st.sampled_from(fields), JSON, min_size=1, max_size=3)
    return changes.map(apply)


@dataclass
class Tally:
    """What one surface was sent and answered: the figures for bench/RESULTS.md."""

    surface: str
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)

    def record(self, status: int, sent: object) -> None:
        self.statuses[status] += 1
        if status >= 500 and len(self.server_errors) < 5:
            self.server_errors.append(repr(sent)[:300])

    @property
    def tried(self) -> int:
        return sum(self.statuses.values())

    def report(self) -> None:
        path = os.environ.get("FUZZ_REPORT")
        if not path:
            return
        line = {
            "surface": self.surface,
            "tried": self.tried,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors": self.server_errors,
        }
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


class Bridge:
    """Runs coroutines on the test's loop from Hypothesis' worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, work: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout_s)


async def fuzz_in_thread(test: Callable[[Bridge], None]) -> None:
    """Run a ``@given`` test (taking the bridge) in a thread while the loop serves."""
    bridge = Bridge(asyncio.get_running_loop())
    await asyncio.to_thread(test, bridge)


Post = Callable[[bytes], Awaitable[int]]
