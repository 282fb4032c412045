"""The knowledge base: FAQ files loaded, validated (file:line errors) and reloaded safely.

A reload that finds any error keeps serving the last good knowledge base: admins
edit these files by hand, and a typo must never take answers offline.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.knowledge.languages import ISO_639_1
from bot.knowledge.yaml_errors import explain_yaml_error

log = logging.getLogger(__name__)

FAQ_ID = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True, slots=True)
class KbError:
    """One problem in one file, at one line (1-based)."""

    file: Path
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.problem}"


class KnowledgeBaseInvalid(Exception):
    def __init__(self, errors: list[KbError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    questions: dict[str, tuple[str, ...]]
    answers: dict[str, str]
    tags: tuple[str, ...] = ()
    source: str = ""
    # Where the entry starts (its "- id:" line, 1-based): the console's KB page shows it.
    file: Path | None = None
    line: int = 0

    def answer_in(self, language: str, default: str) -> tuple[str, str]:
        """The answer in ``language`` if the entry has it, else the default; with its language."""
        if language in self.answers:
            return self.answers[language], language
        if default in self.answers:
            return self.answers[default], default
        first = next(iter(self.answers))
        return self.answers[first], first

    def title_in(self, language: str, default: str) -> str:
        """A short label for buttons: the entry's first question in the customer's language."""
        for lang in (language, default, *self.questions):
            if self.questions.get(lang):
                return self.questions[lang][0]
        return self.id


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    entries: dict[str, FaqEntry] = field(default_factory=dict)

    def get(self, faq_id: str) -> FaqEntry | None:
        return self.entries.get(faq_id)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[FaqEntry]:
        return iter(self.entries.values())

    def training_fingerprint(self) -> str:
        """Changes when what the model learns from changes: the questions and the answers
        (answers are training examples too); tags and comments do not retrain."""
        digest = hashlib.sha256()
        for entry in sorted(self.entries.values(), key=lambda e: e.id):
            digest.update(entry.id.encode())
            for lang in sorted(entry.questions):
                for question in entry.questions[lang]:
                    digest.update(f"\0{lang}\0{question}".encode())
            for lang in sorted(entry.answers):
                digest.update(f"\1{lang}\0{entry.answers[lang]}".encode())
        return digest.hexdigest()


def load_knowledge_base(directory: Path, *, default_language: str = "en") -> KnowledgeBase:
    """Load every ``*.yml``/``*.yaml`` file in ``directory``; raise with all errors found."""
    entries, errors = check_knowledge_base(directory, default_language=default_language)
    if errors:
        raise KnowledgeBaseInvalid(errors)
    return KnowledgeBase({entry.id: entry for entry in entries})


def check_knowledge_base(
    directory: Path, *, default_language: str = "en"
) -> tuple[list[FaqEntry], list[KbError]]:
    errors: list[KbError] = []
    entries: list[FaqEntry] = []
    seen: dict[str, tuple[Path, int]] = {}
    if not directory.is_dir():
        return [], [KbError(directory, 0, "knowledge base directory not found")]
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    if not files:
        errors.append(KbError(directory, 0, "no FAQ files (*.yml) found"))
    for path in files:
        file_entries, file_errors = _check_file(path, default_language)
        errors.extend(file_errors)
        for entry, line in file_entries:
            if entry.id in seen:
                first_file, first_line = seen[entry.id]
                errors.append(
                    KbError(
                        path,
                        line,
                        f"duplicate FAQ id '{entry.id}' (first defined at "
                        f"{first_file}:{first_line})",
                    )
                )
                continue
            seen[entry.id] = (path, line)
            entries.append(entry)
    return entries, errors


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _check_file(
    path: Path, default_language: str
) -> tuple[list[tuple[FaqEntry, int]], list[KbError]]:
    errors: list[KbError] = []
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return [], [KbError(path, *explain_yaml_error(text, exc))]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return [], [KbError(path, 0, f"cannot read file: {exc}")]
    if root is None:
        return [], [KbError(path, 1, "file is empty; expected a 'faqs:' list")]
    faqs = _mapping_get(root, "faqs")
    if not isinstance(root, MappingNode) or faqs is None:
        return [], [KbError(path, _line(root), "expected a top-level 'faqs:' list")]
    unknown_top = [k for k, _ in _pairs(root) if k.value != "faqs"]
    errors.extend(
        KbError(path, _line(k), f"unknown top-level key '{k.value}'") for k in unknown_top
    )
    if not isinstance(faqs, SequenceNode):
        return [], [*errors, KbError(path, _line(faqs), "'faqs' must be a list of entries")]
    entries: list[tuple[FaqEntry, int]] = []
    for item in faqs.value:
        entry = _check_entry(path, item, default_language, errors)
        if entry is not None:
            entries.append((entry, _line(item)))
    return entries, errors


_ENTRY_KEYS = {"id", "tags", "questions", "answer"}


def _check_entry(
    path: Path, node: Node, default_language: str, errors: list[KbError]
) -> FaqEntry | None:
    line = _line(node)
    if not isinstance(node, MappingNode):
        errors.append(
            KbError(path, line, "an FAQ entry must be a mapping with id, questions, answer")
        )
        return None
    before = len(errors)
    for key, _ in _pairs(node):
        if key.value not in _ENTRY_KEYS:
            errors.append(KbError(path, _line(key), f"unknown key '{key.value}' in FAQ entry"))
    id_node = _mapping_get(node, "id")
    faq_id = id_node.value if isinstance(id_node, ScalarNode) else None
    if not faq_id:
        errors.append(KbError(path, line, "FAQ entry has no 'id'"))
        faq_id = "?"
    elif not FAQ_ID.match(faq_id):
        errors.append(
            KbError(
                path, _key_line(node, "id"), f"invalid FAQ id '{faq_id}': use only a-z, 0-9 and _"
            )
        )
    where = f"FAQ '{faq_id}'"
    questions = _language_map(path, node, "questions", where, errors, as_list=True)
    answers = _language_map(path, node, "answer", where, errors, as_list=False)
    if questions is not None and not any(questions.values()):
        errors.append(KbError(path, line, f"{where} has no questions"))
    if answers is not None and default_language not in answers and "en" not in answers:
        errors.append(
            KbError(
                path,
                _key_line(node, "answer"),
                f"{where} has no answer in the default language '{default_language}'",
            )
        )
    tags_node = _mapping_get(node, "tags")
    tags: tuple[str, ...] = ()
    if tags_node is not None:
        if isinstance(tags_node, SequenceNode) and all(
            isinstance(t, ScalarNode) for t in tags_node.value
        ):
            tags = tuple(str(t.value) for t in tags_node.value)
        else:
            errors.append(KbError(path, _line(tags_node), f"{where}: 'tags' must be a list"))
    if len(errors) > before or questions is None or answers is None:
        return None
    return FaqEntry(
        id=faq_id,
        questions={k: tuple(v) for k, v in questions.items()},
        answers={k: v[0] for k, v in answers.items()},
        tags=tags,
        source=f"{path}:{line}",
        file=path,
        line=line,
    )


def _language_map(
    path: Path, entry: MappingNode, key: str, where: str, errors: list[KbError], *, as_list: bool
) -> dict[str, list[str]] | None:
    node = _mapping_get(entry, key)
    if node is None:
        what = "questions" if as_list else "answer"
        errors.append(KbError(path, _line(entry), f"{where} is missing '{what}'"))
        return None
    if not isinstance(node, MappingNode):
        errors.append(
            KbError(path, _line(node), f"{where}: '{key}' must map language codes to text")
        )
        return None
    result: dict[str, list[str]] = {}
    for lang_node, value in _pairs(node):
        lang = str(lang_node.value)
        if lang not in ISO_639_1:
            errors.append(
                KbError(path, _line(lang_node), f"{where}: unknown language code '{lang}'")
            )
            continue
        texts = _texts(path, value, as_list, f"{where} {key}[{lang}]", errors)
        if texts is not None:
            result[lang] = texts
    return result


def _texts(
    path: Path, node: Node, as_list: bool, where: str, errors: list[KbError]
) -> list[str] | None:
    if as_list:
        if not isinstance(node, SequenceNode):
            errors.append(KbError(path, _line(node), f"{where} must be a list of questions"))
            return None
        items = node.value
        if not items:
            errors.append(KbError(path, _line(node), f"{where} is an empty list"))
            return None
    else:
        items = [node]
    texts: list[str] = []
    for item in items:
        if not isinstance(item, ScalarNode) or item.tag == "tag:yaml.org,2002:null":
            errors.append(KbError(path, _line(item), f"{where}: expected text"))
            continue
        text = str(item.value).strip()
        if not text:
            errors.append(KbError(path, _line(item), f"{where}: empty text"))
            continue
        texts.append(text)
    return texts if len(texts) == len(items) else None


def _pairs(node: Node) -> list[tuple[ScalarNode, Node]]:
    if not isinstance(node, MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode)]


def _key_line(node: Node, key: str) -> int:
    for k, _ in _pairs(node):
        if k.value == key:
            return _line(k)
    return _line(node)


def _mapping_get(node: Node, key: str) -> Node | None:
    for k, v in _pairs(node):
        if k.value == key:
            return v
    return None


class LiveKnowledgeBase:
    """The knowledge base the bot serves; ``reload`` swaps it only when the new one is valid."""

    def __init__(self, directory: Path, *, default_language: str) -> None:
        self.directory = directory
        self.default_language = default_language
        self.current = load_knowledge_base(directory, default_language=default_language)
        self.last_errors: list[KbError] = []

    def reload(self) -> list[KbError]:
        """Reload from disk; on errors keep the last good knowledge base and return them."""
        try:
            fresh = load_knowledge_base(self.directory, default_language=self.default_language)
        except KnowledgeBaseInvalid as exc:
            self.last_errors = exc.errors
            for error in exc.errors:
                log.error("knowledge base not reloaded: %s", error)
            return exc.errors
        self.current = fresh
        self.last_errors = []
        log.info("knowledge base reloaded: %d entries", len(fresh))
        return []
