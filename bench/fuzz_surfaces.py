"""The fault-and-fuzz suite's inbound surfaces at length: Telegram webhook updates,
Slack events and actions, REST API bodies, each on SQLite and PostgreSQL.

Runs ``tests/fuzz`` with many more Hypothesis examples than CI does (``FUZZ_EXAMPLES``)
and prints, per surface and database, the inputs tried, the statuses answered and the
first bodies that got a 5xx (none, when it passes):

    .venv/bin/python -m bench.fuzz_surfaces                  # 500 examples per test
    .venv/bin/python -m bench.fuzz_surfaces --examples 2000 --json build/fuzz.json

Needs what the tests need: PostgreSQL on 127.0.0.1:5432 and the Rasa virtualenv.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = [
    "tests/fuzz/test_fuzz_telegram.py",
    "tests/fuzz/test_fuzz_slack.py",
    "tests/fuzz/test_fuzz_api.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="examples per test and database")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "fuzz.jsonl"
        env = {**os.environ, "FUZZ_EXAMPLES": str(args.examples), "FUZZ_REPORT": str(report)}
        started = time.monotonic()
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
        result = subprocess.run(command, env=env, check=False)
        elapsed = time.monotonic() - started
        lines = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    print(
        f"\n{args.examples} examples per test, {elapsed:.0f} s, pytest exit {result.returncode}\n"
    )
    print("| surface | inputs tried | statuses | 5xx |")
    print("|---|---|---|---|")
    for line in lines:
        statuses = ", ".join(f"{code}: {n}" for code, n in line["statuses"].items())
        fivexx = sum(n for code, n in line["statuses"].items() if int(code) >= 500)
        print(f"| {line['surface']} | {line['tried']} | {statuses} | {fivexx} |")
        for body in line["server_errors"]:
            print(f"  5xx for: {body}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(lines, indent=2))
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
