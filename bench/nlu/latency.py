"""Parse latency of two pipelines under the same conditions: their servers side by side.

    .venv/bin/python -m bench.nlu.latency --pipeline stock --pipeline e5-softmax

Trains (or reuses) the demo knowledge base's model for each pipeline, starts one Rasa
server per model, then sends the held-out queries to them in turn, one request at a
time, so a busy moment on the shared machine hits every pipeline alike. Prints and
writes ``bench/nlu/latency__<pipelines>[__<tag>].json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

from bench.nlu.pipelines import pipeline as named_pipeline
from bench.nlu.run import MODELS, RASA_VENV, RESULTS, ROOT, WORK, demo, log
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.training import compile_project, train


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p90": round(ordered[int(len(ordered) * 0.9)], 1),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
    }


async def measure(names: list[str], rounds: int, note: str, tag: str) -> dict[str, Any]:
    source = demo(english_only=False)
    texts = [case.text for case in source.test]
    timings: dict[str, list[float]] = {name: [] for name in names}
    async with AsyncExitStack() as stack:
        clients = {}
        for name in names:
            project = compile_project(
                source.kb,
                pipeline=named_pipeline(name),
                build_dir=WORK / f"latency__{name}",
                core=source.core,
            )
            model = await train(project, models_dir=MODELS, rasa_venv=RASA_VENV, progress=log)
            server = RasaSupervisor(
                rasa_venv=RASA_VENV, model=model, log_file=WORK / "logs" / f"latency__{name}.log"
            )
            await server.start()
            stack.push_async_callback(server.stop)
            await server.wait_ready(300)
            clients[name] = server.client(timeout_s=60)
            stack.push_async_callback(clients[name].close)
        for client in clients.values():
            await client.parse("warm up")  # the first request pays one-off costs
        for round_ in range(rounds):
            for text in texts:
                # A fresh text every round: the e5 featurizer keeps recent messages'
                # vectors, and a repeat would measure that cache, not the model.
                query = text if round_ == 0 else f"{text} {'?' * round_}"
                for name, client in clients.items():
                    started = time.perf_counter()
                    await client.parse(query)
                    timings[name].append((time.perf_counter() - started) * 1000)
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "queries": len(texts) * rounds,
        "ms": {name: _percentiles(values) for name, values in timings.items()},
        "note": note,
        "command": "python -m bench.nlu.latency "
        + " ".join(f"--pipeline {n}" for n in names)
        + f" --rounds {rounds}"
        + (f" --tag {tag}" if tag else ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu.latency", description=__doc__)
    parser.add_argument("--pipeline", action="append", required=True)
    parser.add_argument(
        "--rounds", type=int, default=1, help="passes over the 190 queries (distinct texts)"
    )
    parser.add_argument("--note", default="", help="conditions of the run, for the report")
    parser.add_argument(
        "--tag", default="", help="kept apart from other runs of these pipelines (a file suffix)"
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    result = asyncio.run(measure(args.pipeline, args.rounds, args.note, args.tag))
    # One file per set of pipelines: an e5-only run keeps the side-by-side one.
    suffix = f"__{args.tag}" if args.tag else ""
    out = RESULTS.parent / f"latency__{'+'.join(args.pipeline)}{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
