"""``channels.email``: the support mailbox, chat customers' ticket notices by email and
the survey links in mail."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bot.settings.section import Section

NoticeEvent = Literal["answered", "needs_input", "resolved", "chat_reply"]


def _all_notice_events() -> list[NoticeEvent]:
    return ["answered", "needs_input", "resolved", "chat_reply"]


class EmailNoticeSettings(Section):
    """Ticket notifications by email for customers of the other channels who gave or
    verified an address, when their chat cannot take them (docs/email.md)."""

    enabled: bool = True
    events: list[NoticeEvent] = Field(default_factory=_all_notice_events)
    """Which notifications may go by email: an agent's answer on the ticket, the ticket
    waiting on the customer, the ticket resolved (with its survey, as links), and an
    agent's reply in a live chat (``chat_reply``: no ticket, the chat itself)."""
    webchat_after_s: float = Field(default=120, ge=0)
    """A web chat notification still undelivered this long (nobody connected) is mailed.
    Telegram and Slack: only once the chat refused it for good (blocked, deleted)."""
    only_verified: bool = False
    """Mail only addresses the shop signed (a verified customer), not typed ones."""
    check_every_s: float = Field(default=15, gt=0)


class SurveyLinkSettings(Section):
    """Survey questions in mail as signed links to the bot's page (docs/admins.md). They
    need ``base_url`` and ``SURVEY_LINK_SECRET``; otherwise a mail asks for a number."""

    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    """The bot's public address as customers reach it, e.g. https://support.example.com."""
    valid_days: float = Field(default=30, gt=0, le=365)


class EmailSettings(Section):
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
