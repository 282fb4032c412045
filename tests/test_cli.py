"""The ``helpdesk`` command as a user runs it: a real process, real files, a real Rasa."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge.loader import load_knowledge_base
from tests.conftest import MODEL_CACHE, ROOT, TEST_KB

HELPDESK = [sys.executable, "-m", "bot.cli"]


def run(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HELPDESK, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_kb_check_passes_on_the_demo_knowledge_base() -> None:
    result = run(["kb", "check"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_kb_check_reports_file_and_line_and_fails(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text(
        "faqs:\n  - id: x\n    questions: {en: [hi]}\n", encoding="utf-8"
    )
    result = run(["kb", "check", "--kb", str(tmp_path)])
    assert result.returncode == 1
    assert f"{tmp_path / 'bad.yml'}:2: FAQ 'x' is missing 'answer'" in result.stdout


def test_a_bad_config_value_exits_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("web:\n  port: -4\n", encoding="utf-8")
    result = run(["--config", str(config), "kb", "check"])
    assert result.returncode == 2
    assert "web.port" in result.stderr


def test_a_misconfigured_channel_stops_run_with_a_clear_error(tmp_path: Path) -> None:
    # Slack in Socket Mode needs SLACK_APP_TOKEN: checked before anything starts.
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s3cret",
        "HELPDESK_CHANNELS__SLACK__MODE": "socket",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
    }
    clean = {k: v for k, v in os.environ.items() if k != "SLACK_APP_TOKEN"}
    result = subprocess.run(
        [*HELPDESK, "run"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "SLACK_APP_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_agents(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert run(["db", "upgrade"], env=env).returncode == 0
    # No terminal on stdin: `agent add` must not wait for a password prompt.
    added = run(
        ["agent", "add", "priya", "--languages", "gu,en", "--max-chats", "4"], env=env, stdin=""
    )
    assert added.returncode == 0, added.stderr
    listed = run(["agent", "list"], env=env)
    assert "priya\tagent\tgu,en\tmax 4" in listed.stdout
    assert run(["agent", "add", "priya"], env=env, stdin="").returncode == 1


def _test_kb_env(tmp_path: Path) -> dict[str, str]:
    # The test KB and the shared model cache: the session's trained model is reused.
    return {
        "HELPDESK_KNOWLEDGE_BASE__PATH": str(TEST_KB),
        "HELPDESK_NLU__MODELS_DIR": str(MODEL_CACHE),
        "HELPDESK_NLU__BUILD_DIR": str(tmp_path / "build"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
    }


@pytest.mark.rasa
def test_chat_answers_piped_lines_in_their_language(tmp_path: Path, test_model: Path) -> None:
    kb = load_knowledge_base(TEST_KB)
    result = run(
        ["chat"],
        env=_test_kb_env(tmp_path),
        stdin="hello\nwhere is my order?\nમારો ઓર્ડર ક્યાં છે?\n",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model up to date" in result.stderr  # no retraining for unchanged inputs
    out = result.stdout
    assert kb.entries["order_status"].answers["en"] in out
    assert kb.entries["order_status"].answers["gu"] in out
    assert out.index(kb.entries["order_status"].answers["en"]) < out.index(
        kb.entries["order_status"].answers["gu"]
    )


@pytest.mark.rasa
def test_nlu_eval_writes_the_documented_report(tmp_path: Path, test_model: Path) -> None:
    tests = tmp_path / "tests.yml"
    tests.write_text(
        "- text: where is my order please\n  expect: faq/order_status\n"
        "- text: મારો ઓર્ડર ક્યાં છે\n  expect: faq/order_status\n"
        "- text: what is the capital of peru\n  expect: out_of_scope\n",
        encoding="utf-8",
    )
    report = tmp_path / "report.json"
    result = run(
        ["-v", "nlu", "eval", "--kb", str(TEST_KB), "--tests", str(tests), "--json", str(report)],
        env=_test_kb_env(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Even at debug level, the Rasa auth token (a query parameter) never reaches the log.
    assert "parse" in result.stderr or "rasa" in result.stderr.lower()
    assert "token=" not in result.stderr + result.stdout
    data = json.loads(report.read_text(encoding="utf-8"))
    for key in (
        "n",
        "accuracy",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "per_language",
    ):
        assert key in data
    assert data["n"] == 3
    assert {"en", "gu"} <= set(data["per_language"])
    first = data["predictions"][0]
    assert set(first) >= {"text", "expect", "got", "confidence", "language"}
    assert first["got"] == "faq/order_status"
    assert data["predictions"][1]["language"] == "gu"


def test_nlu_tune_passes_its_options_and_records_them_beside_the_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`helpdesk nlu tune` (once `python -m bot.nlu.thresholds`): the search itself is
    tested in tests/nlu; here a stand-in for the training run checks the command's wiring."""
    from bot import cli
    from bot.nlu import tuning
    from bot.nlu.decision import Thresholds
    from bot.nlu.thresholds import Choice

    config = tmp_path / "config.yml"
    config.write_text((ROOT / "config.yml").read_text(encoding="utf-8"), encoding="utf-8")
    asked: dict[str, object] = {}
    choice = Choice(Thresholds(0.42, 0.05, 0.8), 0.75, 0.91, 120, True)

    async def tune(settings: object, **options: object) -> tuple[Choice, list[object]]:
        asked.update(options)
        return choice, []

    monkeypatch.setattr(tuning, "tune", tune)
    # In this process: leave the test run's logging as it is.
    monkeypatch.setattr(cli, "quiet_http_client_logs", lambda: None)
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    report = tmp_path / "tune.json"
    argv = ["nlu", "tune", "--config", str(config), "--folds", "9", "--every", "4"]
    assert cli.main([*argv, "--min-oos-recall", "0.8", "--json", str(report), "--write"]) == 0

    assert (asked["every"], asked["folds"], asked["min_oos_recall"]) == (4, 4, 0.8)
    assert json.loads(report.read_text(encoding="utf-8"))["thresholds"]["confidence"] == 0.42
    written = config.read_text(encoding="utf-8")
    assert "  answer_threshold: 0.42\n" in written
    assert f"# thresholds: chosen by `helpdesk {' '.join(argv)} --min-oos-recall 0.8" in written
    assert "on 120 validation lines (in-scope accuracy 0.750, OOS recall 0.910)" in written


def test_nlu_tune_refuses_to_write_without_a_config_file_before_training(tmp_path: Path) -> None:
    result = run(["nlu", "tune", "--write"], env={"HELPDESK_CONFIG": ""}, cwd=tmp_path)
    assert result.returncode == 2
    assert "no config file to write to" in result.stderr
