"""Typed settings: ``config.yml`` validated by pydantic, overridable from the environment.

Precedence (highest first): ``HELPDESK_<SECTION>__<KEY>`` environment variables,
then ``config.yml``, then the defaults below. A variable replaces the value its name
points at (a map or list, given as JSON, whole); the file's other keys stay. Secrets
never live in the file: they are read from their own environment variables
(``TELEGRAM_BOT_TOKEN``, ``DATABASE_URL``, ...).
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.tickets.business_hours import BusinessHours

CONFIG_ENV = "HELPDESK_CONFIG"
ENV_PREFIX = "HELPDESK_"
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


class NluSettings(_Section):
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


class ClusterSettings(_Section):
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


class WebchatSiteSettings(_Section):
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


class WebchatSettings(_Section):
    enabled: bool = True
    max_text_chars: int = Field(default=4000, ge=1, le=100_000)
    """The longest message the widget may send; a longer one gets an error frame."""
    allowed_origins: list[str] = Field(default_factory=list)
    """Sites whose pages may open the chat socket besides the bot's own host, e.g.
    ``["https://shop.example.com"]`` for an embedded widget; ``["*"]``: any site."""
    sites: list[WebchatSiteSettings] = Field(default_factory=list)
    """Sites that embed the chat with the ``widget.js`` snippet, each with its own key,
    origins and identity secret."""

    @field_validator("sites")
    @classmethod
    def _unique_keys(cls, value: list[WebchatSiteSettings]) -> list[WebchatSiteSettings]:
        keys = [site.key for site in value]
        twice = sorted({key for key in keys if keys.count(key) > 1})
        if twice:
            raise ValueError(f"site keys given more than once: {twice}")
        return value


class TelegramSettings(_Section):
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


class SlackSettings(_Section):
    """Slack runs when ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET`` are set."""

    enabled: bool = True
    mode: Literal["http", "socket"] = "http"
    """``http``: events POSTed to ``events_path``; ``socket``: Socket Mode (``SLACK_APP_TOKEN``)."""
    base_url: str = "https://slack.com/api/"
    events_path: str = "/slack/events"


NoticeEvent = Literal["answered", "needs_input", "resolved"]


def _all_notice_events() -> list[NoticeEvent]:
    return ["answered", "needs_input", "resolved"]


class EmailNoticeSettings(_Section):
    """Ticket notifications by email for customers of the other channels who gave or
    verified an address, when their chat cannot take them (docs/email.md)."""

    enabled: bool = True
    events: list[NoticeEvent] = Field(default_factory=_all_notice_events)
    """Which notifications may go by email: an agent's answer on the ticket, the ticket
    waiting on the customer, the ticket resolved (with its survey, as links)."""
    webchat_after_s: float = Field(default=120, ge=0)
    """A web chat notification still undelivered this long (nobody connected) is mailed.
    Telegram and Slack: only once the chat refused it for good (blocked, deleted)."""
    only_verified: bool = False
    """Mail only addresses the shop signed (a verified customer), not typed ones."""
    check_every_s: float = Field(default=15, gt=0)


class SurveyLinkSettings(_Section):
    """Survey questions in mail as signed links to the bot's page (docs/admins.md). They
    need ``base_url`` and ``SURVEY_LINK_SECRET``; otherwise a mail asks for a number."""

    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    """The bot's public address as customers reach it, e.g. https://support.example.com."""
    valid_days: float = Field(default=30, gt=0, le=365)


class EmailSettings(_Section):
    """A support mailbox (docs/email.md). It runs when ``address`` and ``imap_host`` are set
    and ``EMAIL_IMAP_PASSWORD`` is in the environment (``EMAIL_SMTP_PASSWORD`` for SMTP,
    else the same password)."""

    enabled: bool = True
    address: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    """The support address: the From of every mail the bot sends, and the login unless
    ``imap_user``/``smtp_user`` say otherwise."""
    display_name: str = "Support"
    imap_host: str | None = None
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_tls: Literal["ssl", "none"] = "ssl"
    """``ssl``: IMAPS (port 993); ``none``: plain, for a server on localhost only."""
    imap_user: str | None = None
    mailbox: str = "INBOX"
    """The folder new mail arrives in."""
    processed_folder: str | None = None
    """Where a mail is moved once stored (created if missing); unset: it stays, marked
    seen."""
    idle: bool = True
    """Wait for new mail with IMAP IDLE where the server offers it, else poll."""
    idle_s: float = Field(default=600, ge=5, le=1740)
    """How long one IDLE waits before it is renewed (servers drop it after 30 minutes)."""
    poll_s: float = Field(default=60, gt=0, le=3600)
    """How often to look for new mail without IDLE."""
    smtp_host: str | None = None
    """Unset: the IMAP host."""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_timeout_s: float = Field(default=30, gt=0, le=300)
    answer_faqs: bool = True
    """The bot answers mail it understands; false: every new mail goes to the agents'
    queue (a ticket when nobody is on duty)."""
    max_mails_per_sender_hour: int = Field(default=20, ge=1, le=10_000)
    """Mails from one address beyond this in an hour are left unanswered in the mailbox:
    the brake on a loop with an autoresponder that marks nothing."""
    notices: EmailNoticeSettings = Field(default_factory=EmailNoticeSettings)
    survey_links: SurveyLinkSettings = Field(default_factory=SurveyLinkSettings)


class ChannelsSettings(_Section):
    webchat: WebchatSettings = Field(default_factory=WebchatSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    max_text_chars: int = Field(default=4096, ge=100, le=100_000)
    """Telegram and Slack keep this much of a customer's text; the customer is told when a
    message was cut (Telegram's own limit is 4096; Slack allows 40,000)."""


class BusinessHoursSettings(_Section):
    """When agents work; see :mod:`bot.tickets.business_hours`. An empty ``weekly``: always open."""

    timezone: str = "UTC"
    weekly: dict[str, str] = Field(default_factory=dict)
    closed_on: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> BusinessHoursSettings:
        self.schedule()  # raises BusinessHoursError (a ValueError) naming the bad key
        return self

    def schedule(self) -> BusinessHours:
        return BusinessHours.parse(
            timezone=self.timezone, weekly=self.weekly, closed_on=self.closed_on
        )


class ConsoleSettings(_Section):
    """The web agent console at ``/console`` (served by ``helpdesk run``)."""

    enabled: bool = True
    session_hours: float = Field(default=12, gt=0, le=24 * 30)
    secure_cookies: bool | None = None
    """``Secure`` session cookies; unset: only when the request came over HTTPS."""


class HandoffSettings(_Section):
    business_hours: BusinessHoursSettings = Field(default_factory=BusinessHoursSettings)
    queue_timeout_s: float = Field(default=900, gt=0)
    """A queued chat nobody claims within this time becomes a ticket."""
    require_online_agent: bool = True
    """With nobody online (in hours), a ticket is opened at once instead of queueing."""
    presence_timeout_s: float = Field(default=90, gt=0)
    """An agent counts as online while their console has been heard from this recently."""
    position_step: int = Field(default=3, ge=1)
    """Tell a queued customer their new position when it improved by this much (or is 1)."""
    frustration: bool = True
    """Hand over when the customer is repeatedly angry (see bot/engine/frustration.py)."""
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    slack_channel: str | None = Field(default=None, pattern=r"^[CG][A-Z0-9]{2,30}$")
    """The agents' Slack channel id (C… or G…): each handoff becomes a thread there."""
    canned_replies: str = "canned_replies.yml"
    """The team's saved replies (docs/agents.md, "Saved replies"); a missing file: none."""


class SlaTargetSettings(_Section):
    """Business hours to the first agent answer and to resolution."""

    first_response_h: float = Field(gt=0)
    resolution_h: float = Field(gt=0)


Priority = Literal["low", "normal", "high", "urgent"]


def _default_sla() -> dict[Priority, SlaTargetSettings]:
    return {
        "urgent": SlaTargetSettings(first_response_h=1, resolution_h=8),
        "high": SlaTargetSettings(first_response_h=4, resolution_h=24),
        "normal": SlaTargetSettings(first_response_h=8, resolution_h=40),
        "low": SlaTargetSettings(first_response_h=24, resolution_h=80),
    }


class TicketsSettings(_Section):
    """Ticket SLAs (measured in ``handoff.business_hours``), warnings and closing."""

    sla: dict[Priority, SlaTargetSettings] = Field(default_factory=_default_sla)
    warn_fraction: float = Field(default=0.8, gt=0, lt=1)
    """Agents are warned when this fraction of a target has passed."""
    close_after_h: float = Field(default=72, gt=0)
    """A resolved ticket closes after this many (wall-clock) hours without a reply."""
    sweep_every_s: float = Field(default=30, gt=0)

    @model_validator(mode="after")
    def _normal_present(self) -> TicketsSettings:
        if "normal" not in self.sla:
            raise ValueError("tickets.sla needs at least a 'normal' priority")
        return self


class AdminSettings(_Section):
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


Occasion = Literal["bot_resolved", "agent_resolved", "ticket_resolved", "ticket_closed", "periodic"]


class SurveySettings(_Section):
    """One survey (CSAT, CES or NPS): when it is asked, where, and the comment for low scores."""

    enabled: bool = True
    when: list[Occasion] = Field(default_factory=list)
    """The occasions it is asked on (each occasion belongs to one survey at most). Not
    ``on``: YAML reads a bare ``on`` as ``true``."""
    channels: list[str] = Field(default_factory=list)
    """The channels it is asked on (``telegram``, ``slack``, ``webchat``); empty: all."""
    comment_at_most: int | None = None
    """A score this low or lower gets "What could we do better?"; unset: never."""


def _survey(when: list[Occasion], comment_at_most: int, *, enabled: bool = True) -> SurveySettings:
    return SurveySettings(enabled=enabled, when=when, comment_at_most=comment_at_most)


class FollowUpSettings(_Section):
    """N days after a ticket is resolved: "did it stay solved?" (yes closes, no reopens)."""

    enabled: bool = True
    after_days: float = Field(default=2, gt=0)
    """Keep it under ``tickets.close_after_h``: the closing sweep closes resolved tickets
    then, and a closed ticket's "yes" has nothing left to close ("no" still reopens)."""
    channels: list[str] = Field(default_factory=list)


class SurveysSettings(_Section):
    """Customer surveys and the follow-up after a resolution (docs/admins.md, "Surveys")."""

    enabled: bool = True
    min_days_between: float = Field(default=7, ge=0)
    """At most one survey per customer in this many days (follow-ups aside)."""
    nps_every_days: float = Field(default=90, ge=1)
    """The periodic NPS: at most this often per customer."""
    nps_first_after_days: float = Field(default=30, ge=0)
    """... and not before the customer has known us this long."""
    quiet_minutes: float = Field(default=30, gt=0)
    """A customer who got an FAQ answer and then wrote nothing this long "left" satisfied."""
    look_back_hours: float = Field(default=24, gt=0)
    """Answers older than this are not asked about (a first start never surveys old chats)."""
    check_every_s: float = Field(default=60, gt=0)
    """How often the survey job looks for customers who left, follow-ups and NPS rounds."""
    csat: SurveySettings = Field(
        default_factory=lambda: _survey(["agent_resolved", "ticket_resolved"], 2)
    )
    ces: SurveySettings = Field(default_factory=lambda: _survey(["bot_resolved"], 3))
    nps: SurveySettings = Field(default_factory=lambda: _survey(["periodic"], 6, enabled=False))
    follow_up: FollowUpSettings = Field(default_factory=FollowUpSettings)

    @model_validator(mode="after")
    def _one_survey_per_occasion(self) -> SurveysSettings:
        seen: dict[str, str] = {}
        for name in ("csat", "ces", "nps"):
            survey: SurveySettings = getattr(self, name)
            for occasion in survey.when if survey.enabled else ():
                if occasion in seen:
                    raise ValueError(
                        f"{occasion} is asked by both {seen[occasion]} and {name}: choose one"
                    )
                seen[occasion] = name
        return self


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
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")
    """Lets Prometheus read ``/metrics`` from outside ``admin.metrics_networks``."""
    """Signs agent console cookies; unset: a random key per process (logins end on restart)."""


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
        return (_EnvironmentReplaces(settings_cls, file=init_settings, env=env_settings),)


class _EnvironmentReplaces(PydanticBaseSettingsSource):
    """The file's values with each ``HELPDESK_*`` variable's value put in, replacing.

    pydantic-settings deep-merges the environment into the file, so ``weekly='{}'`` left
    the file's hours in place and ``weekly='{"mon": ...}'`` collided with its ``mon-fri``.
    Here a variable replaces exactly what its name points at; the file's other keys stay.
    """

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        file: PydanticBaseSettingsSource,
        env: PydanticBaseSettingsSource,
    ) -> None:
        super().__init__(settings_cls)
        self.file, self.env = file, env

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ builds the whole mapping at once

    def __call__(self) -> dict[str, Any]:
        data = copy.deepcopy(self.file())
        parsed = self.env()  # nested, each value already decoded for its field
        paths = sorted(
            (
                name[len(ENV_PREFIX) :].lower().split("__")
                for name in os.environ
                if name.upper().startswith(ENV_PREFIX)
            ),
            key=len,
        )
        for path in paths:  # shorter first: a whole section, then a key inside it
            found, value = _lookup(parsed, path)
            if found:
                _put(data, path, copy.deepcopy(value))
        return data


def _lookup(data: dict[str, Any], path: list[str]) -> tuple[bool, Any]:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _put(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


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
