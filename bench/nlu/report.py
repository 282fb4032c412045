"""Render ``bench/nlu/results/*.json`` as the NLU sections of ``bench/RESULTS.md``.

    .venv/bin/python -m bench.nlu.report            # print the markdown
    .venv/bin/python -m bench.nlu.report --write    # replace the "## NLU" sections

Only sections whose title starts with "## NLU" are replaced; the rest of the file
(other benchmarks) is kept as it is.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bench.nlu.run import RESULTS, ROOT

ORDER = ["demo", "demo-en", "clinc150", "banking77", "bitext", "stackfaq"]
PIPELINE_ORDER = ["stock", "e5-softmax", "e5-lexical", "e5-diet", "config"]
INTRO_FILE = Path(__file__).with_name("RESULTS_INTRO.md")


def _rows() -> list[dict[str, Any]]:
    rows = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESULTS.glob("*.json"))]

    def key(row: dict[str, Any]) -> tuple[int, int, str]:
        base = row["dataset"].split("-")[0] if row["dataset"] != "demo-en" else "demo-en"
        d = ORDER.index(base) if base in ORDER else len(ORDER)
        p = (
            PIPELINE_ORDER.index(row["pipeline_name"])
            if row["pipeline_name"] in PIPELINE_ORDER
            else 9
        )
        return d, p, row["dataset"]

    return sorted(rows, key=key)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _t(row: dict[str, Any]) -> str:
    t = row.get("thresholds", {}).get("thresholds")
    if not t:
        return "-"
    return f"{t['confidence']:g} / {t['margin']:g} / {t['similarity']:g}"


def _mem(row: dict[str, Any]) -> str:
    return f"{row.get('train_peak_mb', '-')} / {row.get('serve_peak_mb', '-')}"


def _load(row: dict[str, Any]) -> str:
    """The 1-minute load average when the row started: times are comparable only alike."""
    load = row.get("load_average_at_start")
    return f"{load[0]:.1f}" if load else "-"


def intent_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| data set | pipeline | in-scope acc | OOS recall | acc (argmax) "
        "| thresholds conf / margin / sim | train s | retrain s | parse p50 / p99 ms "
        "| peak MB train / serve | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "test_argmax" not in row:
            continue
        test, argmax = row["test"], row["test_argmax"]
        lines.append(
            f"| {row['dataset']} | {row['pipeline_name']} | {_pct(test['in_scope_accuracy'])} "
            f"| {_pct(test['oos_recall'])} | {_pct(argmax['accuracy'])} | {_t(row)} "
            f"| {row['train_s']} | {row.get('retrain_after_edit_s', '-')} "
            f"| {_latency(row)} | {_mem(row)} | {_load(row)} |"
        )
    return lines


def _latency(row: dict[str, Any]) -> str:
    ms = row["parse_ms"]
    return "n/a (cached)" if ms.get("p50") is None else f"{ms['p50']} / {ms['p99']}"


def faq_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| data set | pipeline | accuracy@1 | MRR@10 | train s | parse p50 / p99 ms "
        "| peak MB train / serve | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if "accuracy_at_1" not in row["test"]:
            continue
        test = row["test"]
        lines.append(
            f"| {row['dataset']} | {row['pipeline_name']} | {_pct(test['accuracy_at_1'])} "
            f"| {_pct(test['mrr_at_10'])} | {row['train_s']} "
            f"| {row['parse_ms']['p50']} / {row['parse_ms']['p99']} | {_mem(row)} "
            f"| {_load(row)} |"
        )
    return lines


def language_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| data set | pipeline | en | gu | te | ka | hi | OOS recall (all) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        per = row["test"].get("per_language")
        if not per or row["dataset"] not in ("demo", "demo-en"):
            continue
        cells = " | ".join(
            _pct(per.get(lang, {}).get("in_scope_accuracy"))
            for lang in ("en", "gu", "te", "ka", "hi")
        )
        oos = _pct(row["test"]["oos_recall"])
        lines.append(f"| {row['dataset']} | {row['pipeline_name']} | {cells} | {oos} |")
    return lines


def latency_lines() -> list[str]:
    runs = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(RESULTS.parent.glob("latency*.json"))
    ]
    if not runs:
        return ["(not measured)"]
    lines = ["| run | pipeline | p50 ms | p90 ms | p99 ms |", "|---|---|---|---|---|"]
    for data in sorted(runs, key=lambda d: d["started"]):
        for name, ms in data["ms"].items():
            lines.append(
                f"| {data['started']} | {name} | {ms['p50']} | {ms['p90']} | {ms['p99']} |"
            )
    lines.append("")
    for data in sorted(runs, key=lambda d: d["started"]):
        note = f" {data['note']}." if data.get("note") else ""
        lines.append(
            f"- {data['started']}: `{data['command']}`, {data['queries']} queries per "
            f"pipeline, requests alternating between servers; load average at the end "
            f"{data['load_average_at_end']}.{note}"
        )
    return lines


def commands(rows: list[dict[str, Any]]) -> list[str]:
    seen = dict.fromkeys(f"`{row['command']}` ({row['started']})" for row in rows)
    return [f"- {c}" for c in seen]


def render() -> str:
    rows = _rows()
    intro = INTRO_FILE.read_text(encoding="utf-8").rstrip() + "\n\n" if INTRO_FILE.exists() else ""
    parts = [
        "## NLU: the benchmark (bench/nlu)",
        "",
        intro.rstrip(),
        "",
        "### Intent classification and out-of-scope detection (test splits)",
        "",
        *intent_table(rows),
        "",
        "### Per language (demo knowledge base, eval/demo_heldout.yml): in-scope accuracy",
        "",
        *language_table(rows),
        "",
        "### FAQ retrieval (StackFAQ)",
        "",
        *faq_table(rows),
        "",
        "### Parse latency, same conditions (demo knowledge base, held-out queries over HTTP)",
        "",
        *latency_lines(),
        "",
        "### Commands that produced these rows",
        "",
        *commands(rows),
        "",
    ]
    return "\n".join(parts)


def write(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    sections = re.split(r"(?m)^(?=## )", text)
    kept = [s for s in sections if not s.startswith("## NLU")]
    head, rest = kept[0], kept[1:]
    path.write_text(head + render() + "\n" + "".join(rest), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nlu.report", description=__doc__)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    if args.write:
        write(ROOT / "bench" / "RESULTS.md")
    else:
        print(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
