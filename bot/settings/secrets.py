"""Credentials: read from their own environment variables only, never from config.yml."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Secrets(BaseSettings):
    """Credentials: environment only, never config.yml, never logged (SecretStr)."""

    model_config = SettingsConfigDict(extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_webhook_secret: SecretStr | None = Field(default=None, alias="TELEGRAM_WEBHOOK_SECRET")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    email_imap_password: SecretStr | None = Field(default=None, alias="EMAIL_IMAP_PASSWORD")
    email_smtp_password: SecretStr | None = Field(default=None, alias="EMAIL_SMTP_PASSWORD")
    survey_link_secret: SecretStr | None = Field(default=None, alias="SURVEY_LINK_SECRET")
    """Signs the survey links in mail (at least 32 characters); unset: no links."""
    database_url: SecretStr | None = Field(default=None, alias="DATABASE_URL")
    redis_url: SecretStr | None = Field(default=None, alias="REDIS_URL")
    rasa_token: SecretStr | None = Field(default=None, alias="RASA_TOKEN")
    """Auth token of an external Rasa server (``nlu.url``)."""
    console_secret_key: SecretStr | None = Field(default=None, alias="CONSOLE_SECRET_KEY")
    """Signs agent console cookies; unset: a random key per process (logins end on restart)."""
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")
    """Lets Prometheus read ``/metrics`` from outside ``admin.metrics_networks``."""
