"""Telegram configuration checks, the localized command menu, and keeping the token out of logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from bot.i18n import Catalogue
from bot.settings import ConfigError, TelegramSettings

COMMANDS = {
    "start": "command_start",
    "help": "command_help",
    "human": "talk_to_person",
    "ticket": "command_ticket",
    "status": "command_status",
}
"""The command menu (``setMyCommands``): command -> the phrase key of its description."""

CommandMenu = Mapping[str | None, Sequence[tuple[str, str]]]
"""Commands and descriptions per ``language_code``; ``None`` is the menu for everyone else."""

_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def command_menu(catalogue: Catalogue, *, languages: Iterable[str]) -> CommandMenu:
    """The default language's menu for everyone, plus one menu per other bot language."""

    def describe(language: str) -> list[tuple[str, str]]:
        return [(name, catalogue.get(key, language)) for name, key in COMMANDS.items()]

    menu: dict[str | None, list[tuple[str, str]]] = {None: describe(catalogue.default_language)}
    for language in languages:
        if language != catalogue.default_language and catalogue.has(language):
            menu[language] = describe(language)
    return menu


def check_settings(settings: TelegramSettings, webhook_secret: str | None) -> None:
    """Refuse a webhook setup that Telegram could not use, or that anyone could post to."""
    if settings.mode != "webhook":
        return
    if not webhook_secret:
        raise ConfigError(
            "channels.telegram.mode is 'webhook' but TELEGRAM_WEBHOOK_SECRET is not set: "
            "without it anyone could post fake updates to the webhook"
        )
    if not _SECRET.match(webhook_secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _, -")
    if not settings.webhook_url:
        raise ConfigError(
            "channels.telegram.mode is 'webhook' but channels.telegram.webhook_url is not set "
            "[env: HELPDESK_CHANNELS__TELEGRAM__WEBHOOK_URL]"
        )


def redact_in_logs(secret: str) -> None:
    """Replace ``secret`` in every log line from now on, whoever logs it.

    Bot API URLs carry the token (``/bot<token>/sendMessage``): httpx logs each request
    URL at INFO and python-telegram-bot logs the base URL at DEBUG. A filter on a few
    loggers would miss the next library that does the same, so the record factory does it.
    """
    _Redaction.secrets.add(secret)
    if not _Redaction.installed:
        _Redaction.installed = True
        logging.setLogRecordFactory(_Redaction(logging.getLogRecordFactory()))


class _Redaction:
    secrets: ClassVar[set[str]] = set()
    installed: ClassVar[bool] = False

    def __init__(self, make_record: Callable[..., logging.LogRecord]) -> None:
        self._make_record = make_record

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself, later
            return record
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "<redacted>")
            record.msg, record.args = message, None
        return record
