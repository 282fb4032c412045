"""PyYAML's syntax errors told in words an admin editing an FAQ file understands.

The parser says "expected <block end>, but found '<scalar>'"; the admin needs "an answer
that starts with [ must be quoted". The parser's own text still follows the explanation,
for whoever knows YAML.
"""

from __future__ import annotations

import re

import yaml

# Characters that YAML reads as syntax when a plain (unquoted) text starts with them.
_SPECIAL_START = "[]{}\"'@`%*&!|>#,?"
_VALUE = re.compile(r"^\s*(?:-\s+)?(?:[^:#\s\[{\"'][^:#]*:\s+)?(?P<value>\S.*)$")
_SECTION = re.compile(r"^\s*(?P<key>questions|answer)\s*:")


def explain_yaml_error(text: str, exc: yaml.MarkedYAMLError) -> tuple[int, str]:
    """The 1-based line to report and a plain explanation, followed by the parser's text."""
    problem = exc.problem or ""
    raw = ", ".join(part for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    lines = text.splitlines()
    plain = "the file is not valid YAML here"
    if "while scanning a quoted scalar" in (exc.context or "") and exc.context_mark:
        line = exc.context_mark.line + 1
        plain = "a quote opened here is never closed"
    elif "'\\t'" in problem:
        plain = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        plain = f"{_what(lines, line)} that contains ': ' (a colon and a space) must be quoted"
    elif "but found '<block" in problem:
        plain = "this line's indentation does not match the lines above it"
    elif "while parsing a flow" in (exc.context or "") and exc.context_mark:
        # An unclosed [ or { that runs on: the culprit is where it opened.
        line = exc.context_mark.line + 1
        first = _value_start(lines, line) or "[ or {"
        plain = f"{_what(lines, line)} that starts with {first} must be quoted"
    elif first := _value_start(lines, line):
        plain = f"{_what(lines, line)} that starts with {first} must be quoted"
    return line, f"{plain} (YAML parser: {raw})"


def _value_start(lines: list[str], line: int) -> str:
    """The value's first character on ``line`` when YAML would read it as syntax."""
    if not 0 < line <= len(lines):
        return ""
    match = _VALUE.match(lines[line - 1])
    first = match.group("value")[0] if match else ""
    return first if first in _SPECIAL_START else ""


def _what(lines: list[str], line: int) -> str:
    """'an answer' or 'a question', from the nearest section key at or above ``line``."""
    if 0 < line <= len(lines) and re.match(r"^[\s-]*id\s*:", lines[line - 1]):
        return "an id"
    for text in reversed(lines[:line]):
        section = _SECTION.match(text)
        if section:
            return "a question" if section.group("key") == "questions" else "an answer"
    return "a text"
