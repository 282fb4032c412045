"""``admin``: live knowledge-base edits, "was this helpful?", metrics and reports."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from bot.settings.section import Section


class AdminSettings(Section):
    """Live knowledge-base edits, "was this helpful?" and the numbers (docs/admins.md)."""

    watch_knowledge_base: bool = True
    """``helpdesk run`` reloads edited FAQ files, and retrains when questions change."""
    watch_interval_s: float = Field(default=0.5, gt=0, le=60)
    helpful_buttons: bool = True
    """Ask "was this helpful?" under FAQ answers (one vote per answer)."""
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics``."""
    metrics_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    """Clients in these networks read ``/metrics`` without a token; with ``METRICS_TOKEN``
    set, any client sending it as a bearer token does too. ``[]``: the token only."""

    @field_validator("metrics_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"metrics_networks: {exc}") from None
        return value

    cluster_similarity: float | None = Field(default=None, gt=0, lt=1)
    """Unanswered questions this similar (cosine) share a cluster in the report; unset:
    the embedder's measured default (0.86 for multilingual-e5-small)."""
    kb_source_url: str | None = None
    """Where the console's knowledge-base page links each entry: ``{file}`` (relative to
    the knowledge-base directory) and ``{line}`` filled in, e.g.
    ``https://github.com/acme/helpdesk/blob/main/knowledge_base/{file}#L{line}``."""

    @field_validator("kb_source_url")
    @classmethod
    def _source_url(cls, value: str | None) -> str | None:
        if value is not None and (
            not value.startswith(("https://", "http://")) or "{file}" not in value
        ):
            raise ValueError("kb_source_url: an http(s) URL with {file} (and {line}) in it")
        return value
