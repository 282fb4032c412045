"""``nlu``: the Rasa servers (external or supervised), training paths and the thresholds
of the bot's decisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from bot.settings.section import Section


class NluSettings(Section):
    url: str | list[str] | None = None
    """External Rasa servers: one URL, a list, or URLs separated by commas (replicas: a
    dead one is skipped); when unset, ``helpdesk run`` starts and supervises its own."""
    rasa_port: int = Field(default=0, ge=0, le=65535)
    """The supervised Rasa's port on 127.0.0.1; 0 picks any free port at each start."""
    rasa_venv: Path = Path(".venv-rasa")
    models_dir: Path = Path("models")
    build_dir: Path = Path("build/rasa")
    keep_models: bool = False
    """With ``url`` set: the bot trains the knowledge base's model into ``models_dir`` (a
    store the Rasa servers see at the same path) and loads it on every server named in
    ``url``, after edits and whenever one serves another model (one restarted, or was
    down). False: whoever runs those servers manages their models."""
    timeout_s: float = Field(default=5.0, gt=0)
    startup_timeout_s: float = Field(default=180.0, gt=0)
    answer_threshold: float = Field(default=0.55, ge=0, le=1)
    """Below this confidence the bot does not answer on its own (bot/nlu/decision.py)."""
    margin_threshold: float = Field(default=0.0, ge=0, le=1)
    """The top intent must lead the runner-up by this much; 0: no check."""
    similarity_threshold: float = Field(default=0.0, ge=0, le=1)
    """The message must be this close (cosine) to a training example of the top intent,
    when the model reports it (the sentence-embedding classifier); 0: no check."""
    out_of_scope_threshold: float = Field(default=0.5, ge=0, le=1)
    """A top ``out_of_scope`` at least this confident is declined politely (what the bot
    can help with), never clarified or handed off; 1: never declined."""
    low_confidence_turns: int = Field(default=2, ge=1)
    max_parse_chars: int = Field(default=1000, ge=50)
    """The NLU reads this much of a message (the rest is kept, not parsed): a long
    message costs the model time in proportion, and the question is in its start."""
    max_concurrent_parses: int = Field(default=4, ge=1)
    """Parses in flight at once; more wait their turn, first come first served."""
    pipeline: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _urls(cls, value: str | list[str] | None) -> str | list[str] | None:
        urls = _split_urls(value)
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"nlu.url: {url!r} is not an http(s) URL")
        return value if urls else None

    @property
    def urls(self) -> list[str]:
        """The external Rasa servers, in order; empty: supervise our own."""
        return _split_urls(self.url)


def _split_urls(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else value
    return [part.strip().rstrip("/") for part in parts if part.strip()]
