"""The whole settings tree and how it is read: config.yml, then the environment, then the
checks that span sections; errors name every bad key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.settings.admin import AdminSettings
from bot.settings.channels import ChannelsSettings
from bot.settings.core import (
    BotSettings,
    ClusterSettings,
    DatabaseSettings,
    KnowledgeBaseSettings,
    WebSettings,
)
from bot.settings.environment import ENV_PREFIX, EnvironmentReplaces
from bot.settings.handoff import HandoffSettings
from bot.settings.nlu import NluSettings
from bot.settings.secrets import Secrets
from bot.settings.surveys import SurveysSettings
from bot.settings.tickets import TicketsSettings

CONFIG_ENV = "HELPDESK_CONFIG"
DEFAULT_CONFIG = Path("config.yml")


class ConfigError(Exception):
    """The configuration is invalid; the message names every bad key."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    bot: BotSettings = Field(default_factory=BotSettings)
    knowledge_base: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    tickets: TicketsSettings = Field(default_factory=TicketsSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    surveys: SurveysSettings = Field(default_factory=SurveysSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init kwargs; the environment must win over it.
        return (EnvironmentReplaces(settings_cls, file=init_settings, env=env_settings),)


def resolve_config_path(explicit: Path | None = None) -> Path | None:
    """``--config`` first, then ``$HELPDESK_CONFIG``, then ``./config.yml`` if present."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def normalize_database_url(url: str) -> str:
    """Accept the usual ``postgresql://`` / ``sqlite:///`` forms; the bot needs async drivers."""
    for plain, async_form in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return async_form + url[len(plain) :]
    return url


def load_settings(config_path: Path | None = None) -> tuple[Settings, Secrets]:
    """Load and validate the configuration; raise :class:`ConfigError` naming each bad key."""
    path = resolve_config_path(config_path)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{path}: no such configuration file") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded or {}
    source = str(path) if path else "defaults"
    try:
        settings = Settings(**data)
        secrets = Secrets()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from exc
    if secrets.database_url is not None:
        settings.database.url = secrets.database_url.get_secret_value()
    settings.database.url = normalize_database_url(settings.database.url)
    if settings.cluster.enabled:
        _check_cluster(settings, secrets, source)
    if settings.bot.default_language not in settings.bot.languages:
        raise ConfigError(
            f"{source}: bot.default_language: {settings.bot.default_language!r} "
            f"is not one of bot.languages {settings.bot.languages}"
        )
    return settings, secrets


def _check_cluster(settings: Settings, secrets: Secrets, source: str) -> None:
    """Several workers need a shared database and a shared event bus: say so up front."""
    if not settings.database.url.startswith("postgresql"):
        raise ConfigError(
            f"{source}: cluster.enabled needs PostgreSQL (DATABASE_URL=postgresql://...); "
            "SQLite is one process's database and cannot order turns across workers"
        )
    if secrets.redis_url is None:
        raise ConfigError(
            f"{source}: cluster.enabled needs REDIS_URL (the desk's live events reach "
            "every worker's consoles through Redis)"
        )


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env_name = "HELPDESK_" + "__".join(str(p).upper() for p in error["loc"])
        value = error.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {key}: {error['msg']}{shown} [env: {env_name}]")
    return "\n".join(lines)
