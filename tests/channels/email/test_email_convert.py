"""The email channel's pure parts: reading mail, threading, noise, composing replies."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from bot.channels.email.inbound import read_mail, to_inbound
from bot.channels.email.noise import SenderRateLimit
from bot.channels.email.outbound import ThreadContext, compose, reply_subject
from bot.channels.email.text import html_to_text, new_text
from bot.channels.email.threads import (
    address_of,
    conversation_key,
    our_message_id,
    thread_token,
    ticket_reference,
    token_in,
)
from bot.messages import Button, OutboundMessage
from tests.channels.email.mails import (
    GMAIL_REPLY_HTML,
    GMAIL_REPLY_TEXT,
    OUTLOOK_REPLY_TEXT,
    SUPPORT,
    bounce,
    mail,
    raw,
)


def read(message: EmailMessage | bytes):  # type: ignore[no-untyped-def]
    data = message if isinstance(message, bytes) else raw(message)
    parsed = read_mail(data, own_address=SUPPORT)
    assert parsed is not None
    return parsed


# --- reading ---------------------------------------------------------------------------------


def test_a_plain_mail_gives_sender_words_and_ids() -> None:
    parsed = read(mail("Where is my order?", message_id="<abc@example.org>", language="en"))
    assert parsed.address == "alice@example.org"
    assert parsed.name == "Alice"
    assert parsed.text == "Where is my order?"
    assert parsed.message_id == "<abc@example.org>"
    assert parsed.language == "en"
    assert parsed.noise is None


def test_gujarati_telugu_and_georgian_subjects_and_bodies_survive_encoding() -> None:
    for subject, body, name in (
        ("મારો ઓર્ડર ક્યાં છે?", "મારો ઓર્ડર હજી આવ્યો નથી", "ગીતા"),
        ("నా ఆర్డర్ ఎక్కడ ఉంది?", "నా ఆర్డర్ ఇంకా రాలేదు", "రవి"),
        ("სად არის ჩემი შეკვეთა?", "ჩემი შეკვეთა ჯერ არ მოსულა", "ნინო"),
    ):
        data = raw(mail(body, subject=subject, name=name))
        assert b"=?utf-8?" in data.lower()  # RFC 2047 on the wire, not raw UTF-8 headers
        parsed = read(data)
        assert (parsed.subject, parsed.text, parsed.name) == (subject, body, name)


def test_an_html_only_mail_is_read_as_text_without_scripts_or_styles() -> None:
    html = (
        "<html><head><style>p {color: red}</style><script>alert(1)</script></head>"
        "<body><p>Hello,</p><p>my order <b>HD-1042</b> is late.<br>Please help.</p>"
        "<ul><li>item one</li></ul></body></html>"
    )
    parsed = read(mail(None, html=html))
    assert parsed.text == "Hello,\n\nmy order HD-1042 is late.\nPlease help.\n\n- item one"
    assert "alert" not in parsed.text and "color" not in parsed.text


def test_a_gmail_reply_keeps_only_the_new_words() -> None:
    text_and_html = read(mail(GMAIL_REPLY_TEXT, html=GMAIL_REPLY_HTML))
    html_only = read(mail(None, html=GMAIL_REPLY_HTML))
    assert text_and_html.text == "Thanks, that helped!\nCan I change the address?"
    assert html_only.text == "Thanks, that helped!\nCan I change the address?"


def test_an_outlook_reply_loses_signature_and_quoted_mail() -> None:
    assert read(mail(OUTLOOK_REPLY_TEXT)).text == "Still nothing arrived.\n\nRegards,\nRavi"
    assert new_text("Sure.\n\nSent from my iPhone\n\n> old") == "Sure."
    assert new_text("Hi\n-----Original Message-----\nFrom: x") == "Hi"


def test_html_quote_containers_of_outlook_end_the_text() -> None:
    html = '<p>New words</p><div id="divRplyFwdMsg"><b>From:</b> Support</div><p>old</p>'
    assert html_to_text(html) == "New words"


def test_attachments_are_recorded_with_rfc2231_names_and_sizes() -> None:
    parsed = read(
        mail(
            "Photo of the damage attached.",
            attachments=[
                ("დაზიანება.jpg", "image/jpeg", b"\xff\xd8" + b"x" * 1000),
                ("invoice.pdf", "application/pdf", b"%PDF-1.4 " * 10),
            ],
        )
    )
    assert parsed.text == "Photo of the damage attached."
    photo, pdf = parsed.attachments
    assert (photo.kind, photo.file_name, photo.mime_type, photo.size) == (
        "photo",
        "დაზიანება.jpg",
        "image/jpeg",
        1002,
    )
    assert (pdf.kind, pdf.file_name, pdf.size) == ("document", "invoice.pdf", 90)


def test_a_mail_without_message_id_gets_a_stable_id() -> None:
    message = mail("Hello")
    del message["Message-ID"]
    data = raw(message)
    assert read(data).message_id == read(data).message_id
    assert read(data).message_id.startswith("sha256:")


def test_the_inbound_message_carries_the_mail() -> None:
    parsed = read(mail("Where is my order?", subject="Order", message_id="<a@b>"))
    inbound = to_inbound(parsed, conversation_key="alice@example.org#0123456789ab")
    assert inbound.channel == "email"
    assert inbound.user_id == "alice@example.org"
    assert inbound.message_id == "<a@b>"
    assert inbound.raw["subject"] == "Order"
    # A mail with an empty body still says something: its subject.
    empty = read(mail("", subject="Refund please"))
    assert to_inbound(empty, conversation_key="k#0123456789ab").text == "Refund please"


# --- noise ------------------------------------------------------------------------------------


def test_machines_and_lists_and_ourselves_get_no_reply() -> None:
    cases = {
        "auto-submitted": mail(headers={"Auto-Submitted": "auto-replied"}),
        "precedence": mail(headers={"Precedence": "bulk"}),
        "auto-reply": mail(headers={"X-Autoreply": "yes"}),
        "x-loop": mail(headers={"X-Loop": "helpdesk@other.example"}),
        "mailing list": mail(headers={"List-Id": "<news.example.org>"}),
        "our own address": mail(sender=SUPPORT),
    }
    for why, message in cases.items():
        assert read(message).noise == why, why
    assert read(bounce()).noise == "bounce"
    assert read(mail(headers={"Precedence": "junk"})).noise == "precedence"
    assert read(mail(headers={"X-Auto-Response-Suppress": "OOF"})).noise == "auto-reply"
    # "no" is a person's mail
    assert read(mail(headers={"Auto-Submitted": "no"})).noise is None


def test_the_rate_limit_counts_per_sender_within_an_hour() -> None:
    now = [0.0]
    limit = SenderRateLimit(3, clock=lambda: now[0])
    assert [limit.allow("a@x") for _ in range(4)] == [True, True, True, False]
    assert limit.allow("b@x")  # others are not held back
    now[0] = 3600.0
    assert limit.allow("a@x")


# --- threads ----------------------------------------------------------------------------------


def test_our_message_ids_name_the_thread_and_only_ours_count() -> None:
    ours = our_message_id("0123456789ab", "example.com")
    assert token_in(["<x@y>", ours], "example.com") == "0123456789ab"
    assert token_in([ours], "other.example") is None  # someone else's helpdesk
    key = conversation_key("alice@example.org", thread_token("<a@b>"))
    assert address_of(key) == "alice@example.org"
    assert address_of("chat-1") is None
    assert ticket_reference("Re: [hd-1042] my order") == "HD-1042"
    assert ticket_reference("about HD-1042") is None  # only the bracketed form


# --- composing --------------------------------------------------------------------------------


def composed(message: OutboundMessage, thread: ThreadContext | None = None) -> EmailMessage:
    built = compose(
        message,
        sender=("VoltCart Support", SUPPORT),
        to="alice@example.org",
        message_id="<hd.0123456789ab.01@example.com>",
        thread=thread or ThreadContext(),
        subject="Re: Where is my order? [HD-1042]",
        choose_prompt="Reply with the number of your choice.",
    )
    parsed = message_from_bytes(built.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_bot_reply_is_threaded_and_marked_automatic() -> None:
    thread = ThreadContext(
        message_ids=("<first@example.org>", "<hd.0123456789ab.00@example.com>", "<second@x>"),
        last_inbound="<second@x>",
        language="gu",
    )
    built = composed(OutboundMessage("તમે તમારો ઓર્ડર ટ્રેક કરી શકો છો."), thread)
    assert built["In-Reply-To"] == "<second@x>"
    assert built["References"].split() == list(thread.message_ids)
    assert built["Auto-Submitted"] == "auto-replied"
    assert built["Message-ID"] == "<hd.0123456789ab.01@example.com>"
    assert built["Content-Language"] == "gu"
    assert built["X-Loop"] == SUPPORT
    plain = built.get_body(preferencelist=("plain",))
    html = built.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().strip() == "તમે તમારો ઓર્ડર ટ્રેક કરી શકો છો."
    assert '<html lang="gu">' in html.get_content()


def test_an_agent_reply_is_not_automatic_and_buttons_become_numbers() -> None:
    message = OutboundMessage(
        "How did we do?",
        buttons=(Button("Great", "/csat 5"), Button("<Bad>", "/csat 1")),
        sender="agent",
    )
    built = composed(message)
    assert built["Auto-Submitted"] is None
    plain = built.get_body(preferencelist=("plain",))
    html = built.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    text = plain.get_content().replace("\r\n", "\n")
    assert "1. Great\n2. <Bad>\n\nReply with the number of your choice." in text
    assert "<li>&lt;Bad&gt;</li>" in html.get_content()


def test_the_subject_answers_theirs_and_carries_the_reference_once() -> None:
    assert reply_subject("Where is my order?", None, "Support") == "Re: Where is my order?"
    assert reply_subject("Re: Order", "HD-1042", "Support") == "Re: Order [HD-1042]"
    assert reply_subject("Re: Order [HD-1042]", "HD-1042", "Support") == "Re: Order [HD-1042]"
    assert reply_subject(None, None, "VoltCart Support") == "Re: VoltCart Support"
