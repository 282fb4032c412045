"""Which FAQ entries have questions and answers in which language: the admin's overview.

The console's knowledge-base page lists it, searchable, so an admin sees what is
missing (a language with no answer falls back to the default language's answer; one
with no questions is never matched in that language) without opening the YAML files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bot.knowledge.loader import FaqEntry, KnowledgeBase


@dataclass(frozen=True, slots=True)
class LanguageCell:
    """One entry in one language: its questions, and its answer (None: it has none)."""

    language: str
    questions: tuple[str, ...]
    answer: str | None

    @property
    def complete(self) -> bool:
        return bool(self.questions) and self.answer is not None


@dataclass(frozen=True, slots=True)
class EntryCoverage:
    id: str
    tags: tuple[str, ...]
    file: str  # relative to the knowledge-base directory: "returns.yml"
    line: int  # where the entry starts (its "- id:" line), 1-based
    cells: tuple[LanguageCell, ...]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def missing(self) -> tuple[str, ...]:
        """Languages lacking questions or an answer."""
        return tuple(c.language for c in self.cells if not c.complete)


@dataclass(frozen=True, slots=True)
class LanguageTotals:
    """Per language, over the entries listed: how many have an answer, how many questions."""

    language: str
    answered: int
    with_questions: int
    questions: int


@dataclass(frozen=True, slots=True)
class Coverage:
    languages: tuple[str, ...]
    entries: tuple[EntryCoverage, ...]
    total: int  # entries in the knowledge base, before any search
    totals: tuple[LanguageTotals, ...]


def coverage(
    kb: KnowledgeBase,
    *,
    languages: Sequence[str],
    directory: Path,
    query: str = "",
    missing: str = "",
) -> Coverage:
    """The entries matching ``query`` (id, tag, question or answer text, any case) and, if
    ``missing`` is a language, lacking questions or an answer in it; sorted by file and line.

    Columns are the configured ``languages``, then any other language the files use.
    """
    extra = sorted({lang for e in kb for lang in (*e.questions, *e.answers)} - set(languages))
    columns = (*languages, *extra)
    needle = query.strip().casefold()
    listed = [
        _entry(e, columns, directory)
        for e in sorted(kb, key=lambda e: (str(e.file or ""), e.line, e.id))
        if not needle or needle in _haystack(e)
    ]
    if missing:
        listed = [e for e in listed if missing in e.missing]
    return Coverage(columns, tuple(listed), len(kb), _totals(listed, columns))


def _entry(entry: FaqEntry, columns: Sequence[str], directory: Path) -> EntryCoverage:
    cells = tuple(
        LanguageCell(lang, entry.questions.get(lang, ()), entry.answers.get(lang))
        for lang in columns
    )
    return EntryCoverage(entry.id, entry.tags, _file(entry, directory), entry.line, cells)


def _file(entry: FaqEntry, directory: Path) -> str:
    if entry.file is None:
        return entry.source.rpartition(":")[0]
    try:
        return entry.file.relative_to(directory).as_posix()
    except ValueError:
        return str(entry.file)


def source_link(template: str | None, entry: EntryCoverage) -> str | None:
    """The entry's file and line in the team's repository browser, if one is configured:
    ``https://git.example.com/acme/helpdesk/-/blob/main/knowledge_base/{file}#L{line}``."""
    if not template:
        return None
    return template.replace("{file}", quote(entry.file)).replace("{line}", str(entry.line))


def _haystack(entry: FaqEntry) -> str:
    texts = [entry.id, *entry.tags, *entry.answers.values()]
    texts += [q for questions in entry.questions.values() for q in questions]
    return "\n".join(texts).casefold()


def _totals(entries: Iterable[EntryCoverage], columns: Sequence[str]) -> tuple[LanguageTotals, ...]:
    cells = [e.cells for e in entries]
    return tuple(
        LanguageTotals(
            language=lang,
            answered=sum(1 for row in cells if row[i].answer is not None),
            with_questions=sum(1 for row in cells if row[i].questions),
            questions=sum(len(row[i].questions) for row in cells),
        )
        for i, lang in enumerate(columns)
    )
