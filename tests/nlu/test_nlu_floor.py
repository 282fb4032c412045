"""`helpdesk nlu eval` on the test knowledge base must stay above a floor.

The floor file (tests/fixtures/nlu_floor.yml) asks Gujarati, Telugu, Georgian and
Hindi questions about ``gift_cards``, an entry whose questions are English only.
Char n-grams cannot bridge scripts (the stock pipeline answers none of them); the
multilingual sentence embeddings of the shipped pipeline do. If the dense features
were silently dropped from config.yml's pipeline, or stopped reaching the
classifier, this test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE, ROOT, TEST_KB

pytestmark = pytest.mark.rasa

FLOOR_FILE = ROOT / "tests" / "fixtures" / "nlu_floor.yml"


def test_nlu_eval_meets_the_floor_across_languages(tmp_path: Path, test_model: Path) -> None:
    report = tmp_path / "floor.json"
    env = {
        **os.environ,
        "HELPDESK_KNOWLEDGE_BASE__PATH": str(TEST_KB),
        # The session's test model (same KB, same pipeline) is reused, not retrained.
        "HELPDESK_NLU__MODELS_DIR": str(MODEL_CACHE),
        "HELPDESK_NLU__BUILD_DIR": str(tmp_path / "build"),
    }
    command = [sys.executable, "-m", "bot.cli", "nlu", "eval", "--kb", str(TEST_KB)]
    result = subprocess.run(
        [*command, "--tests", str(FLOOR_FILE), "--json", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(report.read_text(encoding="utf-8"))
    predictions = data["predictions"]
    cross_lingual = [p for p in predictions if p["expect"] == "faq/gift_cards"]
    found = [p for p in cross_lingual if p["got"] == "faq/gift_cards"]
    assert len(cross_lingual) == 8
    # English-only entry, other languages' questions: at least half answered right
    # (measured: 5 of 8; Georgian is e5-small's weakest language, see docs/nlu.md).
    # Without the sentence embeddings none is.
    assert len(found) >= 4, [(p["text"], p["got"], p["confidence"]) for p in cross_lingual]
    assert {p["language"] for p in found} >= {"gu", "te", "hi"}, found
    assert data["in_scope_accuracy"] >= 0.65, data  # measured 0.786
    assert data["oos_recall"] >= 0.75, data  # measured 1.0
