"""``channels``: the web chat and its embedding sites, Telegram, Slack; the email channel's
section lives in :mod:`bot.settings.email`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bot.settings.email import EmailSettings
from bot.settings.section import Section


class WebchatSiteSettings(Section):
    """A site that embeds the chat with the ``widget.js`` snippet (docs/webchat.md)."""

    key: str = Field(pattern=r"^[A-Za-z0-9_-]{4,64}$")
    """The public site key in the snippet's ``data-site-key``."""
    origins: list[str] = Field(min_length=1)
    """Where the site's pages are served from (``https://shop.example.com``): only these
    may frame the chat (CSP ``frame-ancestors``) and open its socket (``Origin``)."""
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,99}$")
    """The environment variable holding the secret that signs customers' identities
    (never the secret itself: secrets live in the environment only)."""

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        origins = [origin.strip().rstrip("/").lower() for origin in value]
        for origin in origins:
            # As browsers send Origin; also a valid CSP source, so nothing can be smuggled.
            if not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return origins


class WebchatUploadSettings(Section):
    """Photos and PDFs the customer sends in the widget (docs/webchat.md, "Photos and files")."""

    enabled: bool = True
    max_mb: float = Field(default=10, gt=0, le=50)
    """The largest file, in MiB; a bigger one is refused in the customer's language."""
    per_hour: int = Field(default=20, ge=1, le=1000)
    """Files one chat session may send in an hour."""
    unsent_hours: float = Field(default=24, gt=0, le=24 * 365)
    """A file uploaded but never sent in a message is deleted after this many hours."""
    keep_days: float | None = Field(default=None, gt=0)
    """Every file, sent or not, is deleted after this many days; ``null``: kept as long as
    the conversation (the message still names a deleted file, without a link)."""


class WebchatSettings(Section):
    enabled: bool = True
    max_text_chars: int = Field(default=4000, ge=1, le=100_000)
    """The longest message the widget may send; a longer one gets an error frame."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Sites whose pages may open the chat socket besides the bot's own host, e.g.
    ``["https://shop.example.com"]`` for an embedded widget; ``["*"]``: any site."""
    sites: list[WebchatSiteSettings] = Field(default_factory=list)
    """Sites that embed the chat with the ``widget.js`` snippet, each with its own key,
    origins and identity secret."""
    link_code_minutes: float = Field(default=15, gt=0, le=1440)
    """A code that joins a verified customer's Telegram or Slack account to them
    ("Continue on Telegram", ``POST /webchat/link``) works this long, once."""
    uploads: WebchatUploadSettings = Field(default_factory=WebchatUploadSettings)

    @field_validator("sites")
    @classmethod
    def _unique_keys(cls, value: list[WebchatSiteSettings]) -> list[WebchatSiteSettings]:
        keys = [site.key for site in value]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ValueError(f"site keys given more than once: {twice}")
        return value


class TelegramSettings(Section):
    """Telegram runs when ``TELEGRAM_BOT_TOKEN`` is set (and ``enabled`` is not false)."""

    enabled: bool = True
    mode: Literal["polling", "webhook"] = "polling"
    base_url: str = "https://api.telegram.org/bot"
    """The Bot API root, token appended (python-telegram-bot's ``base_url``); point it at
    a local Bot API server to self-host, or at a fake one in tests."""
    base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str | None = None
    """Public HTTPS URL Telegram posts updates to (webhook mode); its path is served here."""
    webhook_path: str = "/telegram/webhook"
    group_replies: Literal["mentioned", "all"] = "mentioned"
    """In group chats: answer only when mentioned or replied to, or every message."""
    poll_timeout_s: int = Field(default=30, ge=0, le=50)
    concurrent_updates: int = Field(default=64, ge=1, le=256)
    """Updates processed at once (different chats in parallel; one chat stays in order)."""


class SlackSettings(Section):
    """Slack runs when ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set."""

    enabled: bool = True
    mode: Literal["http", "socket"] = "http"
    """``http``: events POSTed to ``events_path``; ``socket``: Socket Mode (``SLACK_APP_TOKEN``)."""
    base_url: str = "https://slack.com/api/"
    events_path: str = "/slack/events"


class ChannelsSettings(Section):
    webchat: WebchatSettings = Field(default_factory=WebchatSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    max_text_chars: int = Field(default=4096, ge=100, le=100_000)
    """Telegram and Slack keep this much of a customer's text; the customer is told when a
    message was cut (Telegram's own limit is 4096; Slack allows 40,000)."""
