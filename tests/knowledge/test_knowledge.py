"""Knowledge-base validation: every error names its file and line; bad reloads change nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.knowledge.loader import (
    KnowledgeBaseInvalid,
    LiveKnowledgeBase,
    check_knowledge_base,
    load_knowledge_base,
)
from tests.conftest import ROOT, TEST_KB

GOOD = """\
faqs:
  - id: order_status
    tags: [orders]
    questions:
      en:
        - Where is my order?
        - How can I track my package?
      gu:
        - મારો ઓર્ડર ક્યાં છે?
    answer:
      en: Track it from the link in your confirmation email.
      gu: કન્ફર્મેશન ઈમેલની લિંકથી ટ્રેક કરો.
"""


def write(directory: Path, name: str, content: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(content), encoding="utf-8")
    return path


def errors_of(directory: Path) -> list[str]:
    _, errors = check_knowledge_base(directory)
    return [str(e) for e in errors]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    write(tmp_path, "orders.yml", GOOD)
    kb = load_knowledge_base(tmp_path)
    entry = kb.entries["order_status"]
    assert entry.questions["gu"] == ("મારો ઓર્ડર ક્યાં છે?",)
    assert entry.answer_in("gu", "en")[1] == "gu"
    assert entry.answer_in("te", "en") == (entry.answers["en"], "en")
    assert entry.tags == ("orders",)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yml", GOOD.replace("  - id: order_status", "  - id: [order"))
    [error] = errors_of(tmp_path)
    assert error.startswith(f"{path}:")
    assert "an id that starts with [ must be quoted (YAML parser: " in error
    line = int(error.split(":")[1])
    assert line == 2


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yml", GOOD)
    second = write(tmp_path, "b.yml", GOOD)
    assert errors_of(tmp_path) == [
        f"{second}:2: duplicate FAQ id 'order_status' (first defined at {first}:2)"
    ]


def test_missing_answer(tmp_path: Path) -> None:
    content = GOOD.split("    answer:")[0]
    path = write(tmp_path, "a.yml", content)
    assert errors_of(tmp_path) == [f"{path}:2: FAQ 'order_status' is missing 'answer'"]


def test_answer_without_the_default_language(tmp_path: Path) -> None:
    content = GOOD.replace("      en: Track it from the link in your confirmation email.\n", "")
    path = write(tmp_path, "a.yml", content)
    assert errors_of(tmp_path) == [
        f"{path}:10: FAQ 'order_status' has no answer in the default language 'en'"
    ]


def test_unknown_language_code(tmp_path: Path) -> None:
    path = write(
        tmp_path, "a.yml", GOOD.replace("      gu:\n        - મારો", "      gj:\n        - મારો")
    )
    assert errors_of(tmp_path) == [f"{path}:8: FAQ 'order_status': unknown language code 'gj'"]


def test_empty_question(tmp_path: Path) -> None:
    path = write(
        tmp_path, "a.yml", GOOD.replace("        - How can I track my package?", '        - ""')
    )
    assert errors_of(tmp_path) == [f"{path}:7: FAQ 'order_status' questions[en]: empty text"]


def test_empty_question_list(tmp_path: Path) -> None:
    content = GOOD.replace(
        "        - Where is my order?\n        - How can I track my package?\n", ""
    ).replace("      en:\n      gu:", "      en: []\n      gu:")
    path = write(tmp_path, "a.yml", content)
    assert errors_of(tmp_path) == [f"{path}:5: FAQ 'order_status' questions[en] is an empty list"]


def test_invalid_id_and_unknown_key(tmp_path: Path) -> None:
    content = GOOD.replace("id: order_status", "id: Order-Status").replace(
        "    tags: [orders]", "    tag: [orders]"
    )
    path = write(tmp_path, "a.yml", content)
    assert errors_of(tmp_path) == [
        f"{path}:3: unknown key 'tag' in FAQ entry",
        f"{path}:2: invalid FAQ id 'Order-Status': use only a-z, 0-9 and _",
    ]


def test_not_a_faq_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", "- just\n- a list\n")
    assert errors_of(tmp_path) == [f"{path}:1: expected a top-level 'faqs:' list"]


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("gu:\n        - મારો", "xx:\n        - મારો"))
    write(tmp_path, "b.yml", "faqs: [")
    assert len(errors_of(tmp_path)) == 2


def test_broken_reload_keeps_the_last_good_knowledge_base(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.yml", GOOD)
    live = LiveKnowledgeBase(tmp_path, default_language="en")
    before = live.current
    path.write_text(GOOD.replace("answer:", "answr:"), encoding="utf-8")
    errors = live.reload()
    assert errors and str(errors[0]).startswith(f"{path}:")
    assert live.current is before
    assert live.current.entries["order_status"].answers["en"].startswith("Track it")
    path.write_text(GOOD.replace("Track it", "Follow it"), encoding="utf-8")
    assert live.reload() == []
    assert live.current.entries["order_status"].answers["en"].startswith("Follow it")


def test_invalid_knowledge_base_raises_with_every_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "faqs: [")
    with pytest.raises(KnowledgeBaseInvalid) as caught:
        load_knowledge_base(tmp_path)
    assert "a.yml:1" in str(caught.value)


def test_training_fingerprint_follows_questions_and_answers_not_tags(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.yml", GOOD)
    first = load_knowledge_base(tmp_path).training_fingerprint()
    path.write_text(GOOD.replace("tags: [orders]", "tags: [orders, tracking]"), encoding="utf-8")
    assert load_knowledge_base(tmp_path).training_fingerprint() == first
    path.write_text(GOOD.replace("Track it", "Follow it"), encoding="utf-8")
    assert load_knowledge_base(tmp_path).training_fingerprint() != first
    path.write_text(GOOD.replace("Where is my order?", "Where is my parcel?"), encoding="utf-8")
    assert load_knowledge_base(tmp_path).training_fingerprint() != first


@pytest.mark.parametrize("directory", [ROOT / "knowledge_base", TEST_KB])
def test_shipped_knowledge_bases_are_valid(directory: Path) -> None:
    assert errors_of(directory) == []


def test_demo_knowledge_base_meets_the_content_bar() -> None:
    kb = load_knowledge_base(ROOT / "knowledge_base")
    assert len(kb) >= 25
    for entry in kb:
        assert len(entry.questions["en"]) >= 4, entry.id
        for language in ("gu", "te", "ka", "hi"):
            assert entry.questions.get(language), (entry.id, language)
        assert {"en", "gu"} <= set(entry.answers), entry.id
