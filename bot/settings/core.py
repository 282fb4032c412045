"""The service's own settings: its brand and languages, the knowledge base's place, the
database, the web server, and several workers (``cluster``)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import Field, field_validator

from bot.settings.section import Section


class BotSettings(Section):
    brand: str = "VoltCart"
    default_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    languages: list[str] = Field(default_factory=lambda: ["en", "gu", "te", "ka", "hi"])

    @field_validator("languages")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        bad = [code for code in value if not code.isalpha() or not code.islower()]
        if bad or not value:
            raise ValueError(f"language codes must be lower-case ISO 639-1 codes, got {bad}")
        return value


class KnowledgeBaseSettings(Section):
    path: Path = Path("knowledge_base")


class DatabaseSettings(Section):
    url: str = "sqlite+aiosqlite:///helpdesk.db"
    auto_migrate: bool = True
    echo: bool = False


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])
    """Who may show the chat page (``/``) in a frame: CSP ``frame-ancestors`` sources,
    e.g. ``["'self'", "https://shop.example.com"]``; ``["'none'"]``: nobody."""

    @field_validator("frame_ancestors")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not re.fullmatch(r"[A-Za-z0-9*'\-.:/_]+", source):
                raise ValueError(f"frame_ancestors: {source!r} is not a CSP source")
        return value

    forwarded_allow_ips: list[str] = Field(default_factory=list)
    """Addresses or networks (``10.0.0.0/8``) of the reverse proxy allowed to set
    ``X-Forwarded-For``/``-Proto``; empty: nobody, the peer's own address is the client
    (the login throttle counts per client address, so a forged header must not count).
    ``["*"]`` trusts every peer: only when nothing but the proxy can reach the bot."""

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for proxy in value:
            if proxy == "*":
                continue
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ValueError(f"forwarded_allow_ips: {exc}") from None
        return value


class ClusterSettings(Section):
    """Several ``helpdesk run`` workers on one PostgreSQL and one Redis (docs/deploy.md)."""

    enabled: bool = False
    """Workers share the conversations' order and the periodic jobs through PostgreSQL
    and the desk's live events through Redis (``REDIS_URL``); SQLite is refused."""
    worker_id: str | None = None
    """This worker's name in logs and events; unset: ``<host name>:<process id>``."""
    orphan_after_s: float = Field(default=3.0, gt=0, le=600)
    """A message stored this long ago and still unanswered, with no worker holding its
    conversation, is answered by any worker (its own worker died)."""
    orphan_sweep_s: float = Field(default=2.0, gt=0, le=600)
    """How often each worker looks for such messages."""
    leader_check_s: float = Field(default=2.0, gt=0, le=600)
    """How often a worker that is not the leader tries to become it (the leader's
    database session ends with its process, so a new leader is in place this soon)."""
