"""Typed settings: ``config.yml`` validated by pydantic, overridable from the environment.

Precedence (highest first): ``HELPDESK_<SECTION>__<KEY>`` environment variables,
then ``config.yml``, then the defaults in each section's module. A variable replaces the
value its name points at (a map or list, given as JSON, whole); the file's other keys
stay. Secrets never live in the file: they are read from their own environment variables
(``TELEGRAM_BOT_TOKEN``, ``DATABASE_URL``, ...).

One module per section (``core``, ``nlu``, ``channels``, ``email``, ``handoff``,
``tickets``, ``admin``, ``surveys``), ``secrets``, ``environment`` (the ``HELPDESK_*``
variables) and ``loading`` (the whole tree, :func:`load_settings`). Import the names from
here: ``from bot.settings import Settings``.
"""

from bot.settings.admin import AdminSettings
from bot.settings.channels import (
    ChannelsSettings,
    SlackSettings,
    TelegramSettings,
    WebchatSettings,
    WebchatSiteSettings,
)
from bot.settings.core import (
    BotSettings,
    ClusterSettings,
    DatabaseSettings,
    KnowledgeBaseSettings,
    WebSettings,
)
from bot.settings.email import EmailNoticeSettings, EmailSettings, NoticeEvent, SurveyLinkSettings
from bot.settings.environment import ENV_PREFIX
from bot.settings.handoff import BusinessHoursSettings, ConsoleSettings, HandoffSettings
from bot.settings.loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    ConfigError,
    Settings,
    load_settings,
    normalize_database_url,
    resolve_config_path,
)
from bot.settings.nlu import NluSettings
from bot.settings.secrets import Secrets
from bot.settings.surveys import FollowUpSettings, Occasion, SurveySettings, SurveysSettings
from bot.settings.tickets import Priority, SlaTargetSettings, TicketsSettings

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "AdminSettings",
    "BotSettings",
    "BusinessHoursSettings",
    "ChannelsSettings",
    "ClusterSettings",
    "ConfigError",
    "ConsoleSettings",
    "DatabaseSettings",
    "EmailNoticeSettings",
    "EmailSettings",
    "FollowUpSettings",
    "HandoffSettings",
    "KnowledgeBaseSettings",
    "NluSettings",
    "NoticeEvent",
    "Occasion",
    "Priority",
    "Secrets",
    "Settings",
    "SlaTargetSettings",
    "SlackSettings",
    "SurveyLinkSettings",
    "SurveySettings",
    "SurveysSettings",
    "TelegramSettings",
    "TicketsSettings",
    "WebSettings",
    "WebchatSettings",
    "WebchatSiteSettings",
    "load_settings",
    "normalize_database_url",
    "resolve_config_path",
]
