"""YAML syntax errors in the knowledge base are explained in plain words, parser text after."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.knowledge.loader import check_knowledge_base

HEAD = "faqs:\n  - id: returns\n    questions:\n      en:\n        - How do I return?\n"


def only_error(tmp_path: Path, text: str) -> str:
    (tmp_path / "returns.yml").write_text(text, encoding="utf-8")
    _, errors = check_knowledge_base(tmp_path)
    assert len(errors) == 1, errors
    return str(errors[0])


@pytest.mark.parametrize(
    ("body", "line", "plain", "raw"),
    [
        (
            "    answer:\n      en: [Returns] are free\n",
            7,
            "an answer that starts with [ must be quoted",
            "expected <block end>, but found '<scalar>'",
        ),
        (
            "    answer:\n      en: {name} returns are free\n",
            7,
            "an answer that starts with { must be quoted",
            "expected <block end>, but found '<scalar>'",
        ),
        (
            '    answer:\n      en: "Yes" they are free\n',
            7,
            'an answer that starts with " must be quoted',
            "expected <block end>, but found '<scalar>'",
        ),
        (
            "    answer:\n      en: @home returns are free\n",
            7,
            "an answer that starts with @ must be quoted",
            "found character '@' that cannot start any token",
        ),
        (
            "    answer:\n      en: Note: returns are free\n",
            7,
            "an answer that contains ': ' (a colon and a space) must be quoted",
            "mapping values are not allowed here",
        ),
        (
            "    answer:\n      en: Free\n\tde: Kostenlos\n",
            8,
            "indent with spaces, not tabs",
            "found character '\\t' that cannot start any token",
        ),
        (
            '    answer:\n      en: "Free\n',
            7,
            "a quote opened here is never closed",
            "found unexpected end of stream",
        ),
        (
            "    answer:\n      en: Free\n     de: Kostenlos\n",
            8,
            "this line's indentation does not match the lines above it",
            "expected <block end>, but found '<block mapping start>'",
        ),
    ],
)
def test_a_yaml_error_reads_in_plain_words(
    tmp_path: Path, body: str, line: int, plain: str, raw: str
) -> None:
    error = only_error(tmp_path, HEAD + body)
    where = f"{tmp_path / 'returns.yml'}:{line}: "
    assert error.startswith(where + plain), error
    # The parser's own words follow, for whoever knows YAML.
    assert error.index(raw) > error.index(plain)


def test_a_question_is_named_a_question(tmp_path: Path) -> None:
    text = "faqs:\n  - id: returns\n    questions:\n      en:\n        - [x] can I return?\n"
    error = only_error(tmp_path, text)
    assert "returns.yml:5: a question that starts with [ must be quoted" in error
