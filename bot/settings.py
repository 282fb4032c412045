"""Typed settings: ``config.yml`` validated by pydantic, overridable from the environment.

Precedence (highest first): ``HELPDESK_<SECTION>__<KEY>`` environment variables,
then ``config.yml``, then the defaults below. Secrets never live in the file:
they are read from their own environment variables (``TELEGRAM_BOT_TOKEN``,
``DATABASE_URL``, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "HELPDESK_CONFIG"
DEFAULT_CONFIG = Path("config.yml")


class ConfigError(Exception):
    """The configuration is invalid; the message names every bad key."""


class _Section(BaseModel):
    # A typo in config.yml must be an error, not a silently ignored key.
    model_config = ConfigDict(extra="forbid")


class BotSettings(_Section):
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


class KnowledgeBaseSettings(_Section):
    path: Path = Path("knowledge_base")


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///helpdesk.db"
    auto_migrate: bool = True
    echo: bool = False


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)


class NluSettings(_Section):
    url: str | None = None
    """An external Rasa server; when unset, ``helpdesk run`` starts and supervises its own."""
    rasa_port: int = Field(default=5005, ge=0, le=65535)
    rasa_venv: Path = Path(".venv-rasa")
    models_dir: Path = Path("models")
    build_dir: Path = Path("build/rasa")
    timeout_s: float = Field(default=5.0, gt=0)
    startup_timeout_s: float = Field(default=180.0, gt=0)
    answer_threshold: float = Field(default=0.55, ge=0, le=1)
    low_confidence_turns: int = Field(default=2, ge=1)
    pipeline: list[dict[str, Any]] = Field(default_factory=list)


class WebchatSettings(_Section):
    enabled: bool = True


class ChannelsSettings(_Section):
    webchat: WebchatSettings = Field(default_factory=WebchatSettings)


class Secrets(BaseSettings):
    """Credentials: environment only, never config.yml, never logged (SecretStr)."""

    model_config = SettingsConfigDict(extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    redis_url: SecretStr | None = Field(default=None, alias="REDIS_URL")
    rasa_token: SecretStr | None = Field(default=None, alias="RASA_TOKEN")
    """Auth token of an external Rasa server (``nlu.url``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_", env_nested_delimiter="__", extra="forbid"
    )

    bot: BotSettings = Field(default_factory=BotSettings)
    knowledge_base: KnowledgeBaseSettings = Field(default_factory=KnowledgeBaseSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    nlu: NluSettings = Field(default_factory=NluSettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
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
        return (env_settings, init_settings)


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
    if settings.bot.default_language not in settings.bot.languages:
        raise ConfigError(
            f"{source}: bot.default_language: {settings.bot.default_language!r} "
            f"is not one of bot.languages {settings.bot.languages}"
        )
    return settings, secrets


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env_name = "HELPDESK_" + "__".join(str(p).upper() for p in error["loc"])
        value = error.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {key}: {error['msg']}{shown} [env: {env_name}]")
    return "\n".join(lines)
