"""Canned replies: the team's saved answers, per language, with placeholders.

Admins keep them in a YAML file in git (``handoff.canned_replies``, default
``canned_replies.yml``), reviewed like the knowledge base::

    replies:
      - id: refund_timing            # [a-z0-9_]+, unique; agents type /refund_timing
        title: Refund timing
        text:
          en: "Hi {customer_name}, your refund for {ticket_reference} reaches ..."
          hi: "नमस्ते {customer_name}, ..."

Placeholders: ``{customer_name}``, ``{ticket_reference}``, ``{agent_name}``; one the
conversation does not have is left out. The text in the customer's language is used,
else the default language's. A bad file is refused with a message naming the entry.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.settings import ConfigError

PLACEHOLDERS = frozenset({"customer_name", "ticket_reference", "agent_name"})
ID = re.compile(r"^[a-z0-9_]{1,64}$")
MAX_TEXT = 4000


class CannedError(ConfigError):
    """The canned replies file is invalid; the message says where and why (``helpdesk``
    prints it and exits 2, as for any configuration error)."""


@dataclass(frozen=True, slots=True)
class CannedReply:
    id: str
    title: str
    texts: dict[str, str]


@dataclass(frozen=True, slots=True)
class CannedReplies:
    replies: dict[str, CannedReply] = field(default_factory=dict)
    default_language: str = "en"

    @classmethod
    def load(cls, path: Path, *, default_language: str = "en") -> CannedReplies:
        """The file's replies; none when there is no file."""
        if not path.exists():
            return cls(default_language=default_language)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CannedError(f"{path}: invalid YAML: {exc}") from exc
        return cls.parse(data, source=str(path), default_language=default_language)

    @classmethod
    def parse(
        cls, data: object, *, source: str = "canned replies", default_language: str = "en"
    ) -> CannedReplies:
        if not isinstance(data, dict) or not isinstance(data.get("replies", []), list):
            raise CannedError(f"{source}: expected 'replies:' with a list of replies")
        replies: dict[str, CannedReply] = {}
        for number, item in enumerate(data.get("replies") or [], start=1):
            where = f"{source}: reply {number}"
            if not isinstance(item, dict):
                raise CannedError(f"{where}: expected a mapping with id, title, text")
            reply_id = str(item.get("id", ""))
            where = f"{source}: reply '{reply_id}'" if reply_id else where
            if not ID.match(reply_id):
                raise CannedError(f"{where}: the id must be lower-case letters, digits, _")
            if reply_id in replies:
                raise CannedError(f"{where}: the id is used twice")
            texts = item.get("text")
            if not isinstance(texts, dict) or not texts:
                raise CannedError(f"{where}: 'text' must map language codes to text")
            texts = {str(k): str(v) for k, v in texts.items()}
            if default_language not in texts:
                raise CannedError(f"{where}: no text in the default language '{default_language}'")
            for language, text in texts.items():
                if len(text) > MAX_TEXT:
                    raise CannedError(f"{where} ({language}): longer than {MAX_TEXT} characters")
                for _, name, _, _ in string.Formatter().parse(text):
                    if name is not None and name not in PLACEHOLDERS:
                        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
                        raise CannedError(
                            f"{where} ({language}): unknown placeholder {{{name}}}; use {allowed}"
                        )
            title = str(item.get("title") or reply_id)
            replies[reply_id] = CannedReply(reply_id, title, texts)
        return cls(replies, default_language)

    def render(self, reply_id: str, language: str | None, **values: str | None) -> str | None:
        """The reply's text in ``language`` (else the default) with the placeholders filled;
        ``None`` when there is no such reply."""
        reply = self.replies.get(reply_id)
        if reply is None:
            return None
        text = reply.texts.get(language or "", reply.texts[self.default_language])
        filled = text.format_map({name: values.get(name) or "" for name in PLACEHOLDERS})
        # A placeholder left empty should not leave "Hi , ..." behind.
        filled = re.sub(r"[ \t]+([,.!?;:।])", r"\1", filled)
        filled = re.sub(r",([.!?।])", r"\1", filled)
        return re.sub(r"[ \t]{2,}", " ", filled).strip()
