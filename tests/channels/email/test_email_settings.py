"""The email channel as ``helpdesk run`` builds it from channels.email and the environment."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from bot.app import build_channels
from bot.channels.email.channel import EmailChannel
from bot.settings import EmailSettings, Secrets, Settings


def configured() -> Settings:
    settings = Settings()
    settings.channels.email = EmailSettings(
        address="support@example.com", imap_host="imap.example.com", display_name="VoltCart"
    )
    return settings


def test_the_channel_starts_only_with_address_host_and_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("EMAIL_IMAP_PASSWORD", "EMAIL_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert [c.name for c in build_channels(configured(), Secrets())] == ["webchat"]
    secrets = Secrets(EMAIL_IMAP_PASSWORD=SecretStr("app-password"))
    assert [c.name for c in build_channels(Settings(), secrets)] == ["webchat"]
    settings = configured()
    settings.channels.email.enabled = False
    assert [c.name for c in build_channels(settings, secrets)] == ["webchat"]

    [email] = [c for c in build_channels(configured(), secrets) if c.name == "email"]
    assert isinstance(email, EmailChannel)
    assert email.reader.account.user == "support@example.com"
    assert email.reader.account.tls == "ssl" and email.reader.account.port == 993
    # SMTP defaults: the IMAP host, STARTTLS on 587, the same login and app password.
    assert (email.smtp.host, email.smtp.port, email.smtp.tls) == (
        "imap.example.com",
        587,
        "starttls",
    )
    assert (email.smtp.user, email.smtp.password) == ("support@example.com", "app-password")

    both = Secrets(
        EMAIL_IMAP_PASSWORD=SecretStr("imap-pw"), EMAIL_SMTP_PASSWORD=SecretStr("smtp-pw")
    )
    [email] = [c for c in build_channels(configured(), both) if c.name == "email"]
    assert isinstance(email, EmailChannel)
    assert email.smtp.password == "smtp-pw"


def test_settings_come_from_the_environment_and_bad_ones_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELPDESK_CHANNELS__EMAIL__ADDRESS", "help@shop.example")
    monkeypatch.setenv("HELPDESK_CHANNELS__EMAIL__ANSWER_FAQS", "false")
    monkeypatch.setenv("HELPDESK_CHANNELS__EMAIL__SMTP_TLS", "ssl")
    email = Settings().channels.email
    assert (email.address, email.answer_faqs, email.smtp_tls) == ("help@shop.example", False, "ssl")
    with pytest.raises(ValidationError):
        EmailSettings(address="not an address")
    with pytest.raises(ValidationError):
        EmailSettings(imap_tls="starttls")  # type: ignore[arg-type]
