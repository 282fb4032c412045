"""The customer channels ``helpdesk run`` serves, their HTTP routes, and the codes that
link a verified customer's accounts across them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

from starlette.routing import BaseRoute

from bot.channels import Channel, WebhookChannel
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site
from bot.channels.webchat_uploads import UploadLimits
from bot.customers.linking import DEFAULT_TTL, LinkCodes
from bot.i18n import Catalogue
from bot.settings import ConfigError, Secrets, Settings, WebchatSiteSettings
from bot.storage.database import Database
from bot.wiring.email import survey_links


def embedding_sites(sites: Sequence[WebchatSiteSettings]) -> list[Site]:
    """The sites that embed the web chat, each with its identity secret from the
    environment; a site that names a variable which is not set does not start."""
    built: list[Site] = []
    for site in sites:
        secret: bytes | None = None
        if site.secret_env is not None:
            value = os.environ.get(site.secret_env)
            if not value:
                raise ConfigError(
                    f"channels.webchat.sites: {site.key!r} names secret_env "
                    f"{site.secret_env} but it is not set in the environment"
                )
            secret = value.encode()
        built.append(Site(key=site.key, origins=tuple(site.origins), secret=secret))
    return built


def build_channels(settings: Settings, secrets: Secrets) -> list[Channel]:
    """The customer channels ``helpdesk run`` serves: each one configured and enabled.

    Platform channels start only when their credentials are in the environment, so
    the embedded defaults (no tokens) run the web chat alone.
    """
    channels: list[Channel] = []
    webchat = settings.channels.webchat
    if webchat.enabled:
        channels.append(
            WebChatChannel(
                max_text_chars=webchat.max_text_chars,
                allowed_origins=webchat.allowed_origins,
                sites=embedding_sites(webchat.sites),
                uploads=UploadLimits(
                    enabled=webchat.uploads.enabled,
                    max_bytes=int(webchat.uploads.max_mb * 1024 * 1024),
                    per_hour=webchat.uploads.per_hour,
                ),
            )
        )
    slack = settings.channels.slack
    if slack.enabled and secrets.slack_bot_token and secrets.slack_signing_secret:
        from bot.channels.slack.channel import SlackChannel

        app_token = secrets.slack_app_token.get_secret_value() if secrets.slack_app_token else None
        if slack.mode == "socket" and not app_token:
            raise ConfigError("channels.slack.mode is 'socket' but SLACK_APP_TOKEN is not set")
        channels.append(
            SlackChannel(
                slack,
                bot_token=secrets.slack_bot_token.get_secret_value(),
                signing_secret=secrets.slack_signing_secret.get_secret_value(),
                app_token=app_token,
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
            )
        )
    telegram = settings.channels.telegram
    if telegram.enabled and secrets.telegram_bot_token:
        from bot.channels.telegram.channel import TelegramChannel, command_menu

        webhook_secret = secrets.telegram_webhook_secret
        channels.append(
            TelegramChannel(  # raises ConfigError for a webhook without secret or URL
                token=secrets.telegram_bot_token.get_secret_value(),
                settings=telegram,
                webhook_secret=webhook_secret.get_secret_value() if webhook_secret else None,
                commands=command_menu(
                    Catalogue.load(default_language=settings.bot.default_language),
                    languages=settings.bot.languages,
                ),
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
            )
        )
    email = settings.channels.email
    if email.enabled and email.address and email.imap_host and secrets.email_imap_password:
        from bot.channels.email.channel import email_channel

        smtp_password = secrets.email_smtp_password
        channels.append(
            email_channel(
                email,
                imap_password=secrets.email_imap_password.get_secret_value(),
                smtp_password=smtp_password.get_secret_value() if smtp_password else None,
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
                survey_links=survey_links(settings, secrets),
            )
        )
    return channels


def web_routes(channels: list[Channel]) -> list[BaseRoute]:
    """The HTTP routes (webhooks, event endpoints) of the channels that have them."""
    return [
        route
        for channel in channels
        if isinstance(channel, WebhookChannel)
        for route in channel.routes()
    ]


def link_codes(db: Database, channels: list[Channel], *, ttl: timedelta = DEFAULT_TTL) -> LinkCodes:
    """Codes that join a verified web chat customer's Telegram or Slack account to them,
    for the channels that run here (Telegram's deep link needs the bot's @name), each
    good for ``ttl`` (``channels.webchat.link_code_minutes``)."""
    from bot.channels.slack.channel import SlackChannel
    from bot.channels.telegram.channel import TelegramChannel

    telegram = next((c for c in channels if isinstance(c, TelegramChannel)), None)
    return LinkCodes(
        db,
        telegram_username=telegram.username if telegram is not None else lambda: None,
        slack=any(isinstance(c, SlackChannel) for c in channels),
        ttl=ttl,
    )
