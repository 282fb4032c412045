"""The bot's own phrases, one catalogue file per language in ``bot/locales/``."""

from __future__ import annotations

import string
from pathlib import Path

import yaml

LOCALES_DIR = Path(__file__).parent / "locales"


class CatalogueError(Exception):
    pass


class Catalogue:
    """Looks up a phrase in the customer's language, falling back to the default language."""

    def __init__(self, phrases: dict[str, dict[str, str]], *, default_language: str) -> None:
        if default_language not in phrases:
            raise CatalogueError(f"no catalogue for the default language '{default_language}'")
        self._phrases = phrases
        self.default_language = default_language

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, *, default_language: str = "en") -> Catalogue:
        phrases: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise CatalogueError(f"{path}: expected a mapping of phrase keys to text")
            phrases[path.stem] = data
        catalogue = cls(phrases, default_language=default_language)
        catalogue.check()
        return catalogue

    @property
    def languages(self) -> list[str]:
        return sorted(self._phrases)

    def has(self, language: str) -> bool:
        return language in self._phrases

    def get(self, key: str, language: str, **values: object) -> str:
        table = self._phrases.get(language) or self._phrases[self.default_language]
        template = table.get(key) or self._phrases[self.default_language][key]
        return template.format(**values)

    def check(self) -> None:
        """Every language has every key, with the same placeholders as the default language."""
        reference = self._phrases[self.default_language]
        problems: list[str] = []
        for language, table in self._phrases.items():
            missing = set(reference) - set(table)
            extra = set(table) - set(reference)
            if missing:
                problems.append(f"{language}: missing keys {sorted(missing)}")
            if extra:
                problems.append(f"{language}: unknown keys {sorted(extra)}")
            for key in set(reference) & set(table):
                if _fields(reference[key]) != _fields(table[key]):
                    problems.append(f"{language}.{key}: placeholders differ from the default")
        if problems:
            raise CatalogueError("; ".join(problems))


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
