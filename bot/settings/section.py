"""The base of every settings section: a typo in config.yml is an error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # A typo in config.yml must be an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid")
