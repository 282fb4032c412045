"""Surveys answered from a mail: the signed links, over HTTP against the real web app.

A web chat customer (Telugu) who left gets "ticket resolved" and the CSAT question by
email through the real email channel (Dovecot, aiosmtpd); the test follows the mail's
links as a mail client would. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from bot.events import EventKind
from bot.settings import SurveySettings, SurveysSettings
from bot.storage.database import Database
from bot.storage.models import (
    Conversation,
    Customer,
    SurveyRequest,
    SurveyResponse,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from bot.surveys.plan import SurveyPlan
from tests.channels.email.mails import mail, raw
from tests.channels.email.test_email_channel import body, channel_for, mail_where
from tests.support.imap_client import MailboxClient
from tests.support.mail_servers import Dovecot, SmtpServer
from tests.support.notice_rig import NoticeRig, make_notice_rig
from tests.support.server import serve
from tests.support.stored_rows import stored_rows
from tests.support.waiting import wait_until

LINK = re.compile(r"(\d+) ★: (http://survey\.invalid/survey/\S+)")


@pytest.fixture
async def rig(db: Database, dovecot: Dovecot, smtp: SmtpServer) -> AsyncIterator[NoticeRig]:
    email = channel_for(dovecot, smtp)
    built = await make_notice_rig(db, email)
    try:
        yield built
    finally:
        await email.stop()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def responses(db: Database) -> list[SurveyResponse]:
    return await stored_rows(db, SurveyResponse)


async def test_a_score_from_a_mail_counts_once_and_a_low_one_asks_what_to_do_better(
    rig: NoticeRig, smtp: SmtpServer, db: Database
) -> None:
    async with serve(rig.app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        conversation = await rig.chat_and_leave(address, "gone-1234")
        ticket_id = await rig.ticket_for(conversation, language="te", email="ravi@example.org")
        await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
        rig.clock.advance(seconds=61)
        assert await rig.job.run() == 1
        question = rig.phrase("csat_request", "te")
        mailed = await mail_where(smtp, lambda m: question in body(m))
        links = dict(LINK.findall(body(mailed)))
        assert sorted(links) == ["1", "2", "3", "4", "5"]
        html = mailed.get_body(preferencelist=("html",))
        assert html is not None and 'href="http://survey.invalid/survey/' in html.get_content()

        # Opening the link (as a mail scanner would) records nothing.
        opened = await http.get(path_of(links["2"]))
        assert opened.status_code == 200
        assert '<html lang="te"' in opened.text
        assert rig.phrase("survey_link_send", "te") in opened.text
        assert 'name="words"' in opened.text  # 2 is a low score: room for a comment
        assert opened.headers["referrer-policy"] == "no-referrer"
        assert await responses(db) == []

        # Send: counted, and the page asks what could be better.
        sent = await http.post(path_of(links["2"]))
        assert sent.status_code == 200
        assert rig.phrase("survey_thanks", "te") in sent.text
        assert 'name="words"' in sent.text
        [counted] = await responses(db)
        assert counted.score == 2 and counted.comment is None

        words = "కొరియర్ ఆలస్యంగా వచ్చింది"
        commented = await http.post(path_of(links["2"]), data={"words": words})
        assert rig.phrase("survey_comment_thanks", "te") in commented.text
        # Twice, or another score later: still the first answer, once.
        await http.post(path_of(links["2"]), data={"words": "again"})
        late = await http.post(path_of(links["5"]))
        assert late.status_code == 200
        [kept] = await responses(db)
        assert (kept.score, kept.comment) == (2, words)
        assert 'name="words"' not in (await http.get(path_of(links["2"]))).text

        # A changed score or signature, or a link past its expiry, changes nothing.
        tampered = path_of(links["2"]).replace("/2?", "/5?")
        assert (await http.post(tampered)).status_code == 403
        forged = re.sub(r"s=[0-9a-f]{64}", "s=" + "0" * 64, path_of(links["4"]))
        assert (await http.post(forged)).status_code == 403
        rig.clock.advance(days=31)
        expired = await http.get(path_of(links["4"]))
        assert expired.status_code == 403
        assert rig.phrase("survey_link_invalid", "te") in expired.text
        assert [(r.score, r.comment) for r in await responses(db)] == [(2, words)]


async def test_a_follow_up_from_a_mail_reopens_with_the_words_and_stop_opts_out(
    rig: NoticeRig, db: Database
) -> None:
    async with serve(rig.app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        conversation = await rig.chat_and_leave(address, "left-5678")
        ticket_id = await rig.ticket_for(conversation, language="gu", email="asha@example.org")
        await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
        async with db.transaction() as session:
            follow_up = SurveyRequest(
                customer_id=conversation.customer_id,
                conversation_id=conversation.id,
                ticket_id=ticket_id,
                kind="followup",
                occasion="ticket_followup",
                occasion_key=f"ticket_followup:{ticket_id}",
                channel="webchat",
                language="gu",
                asked_at=rig.clock.now() + timedelta(days=2),
            )
            session.add(follow_up)
            await session.flush()
            request_id = follow_up.id

        no = path_of(rig.links.url(request_id, "no"))
        page = await http.get(no)
        assert rig.phrase("survey_link_words", "gu") in page.text
        words = "ચાર્જર ફરી બંધ થઈ ગયું"
        reopened = await http.post(no, data={"words": words})
        assert reopened.status_code == 200
        [ticket_events] = [await stored_rows(db, TicketEvent, TicketEvent.ticket_id == ticket_id)]
        assert ("customer_reply", words) in [(e.kind, e.detail) for e in ticket_events]
        assert ("status", "resolved -> open") in [(e.kind, e.detail) for e in ticket_events]
        # "yes" afterwards counts nothing: the answer was "no".
        await http.post(path_of(rig.links.url(request_id, "yes")))
        assert [r.answer for r in await responses(db)] == ["no"]

        stop = await http.post(path_of(rig.links.url(request_id, "stop")))
        assert rig.phrase("surveys_stopped", "gu") in stop.text
        [customer] = await stored_rows(db, Customer, Customer.id == conversation.customer_id)
        assert customer.surveys_opted_out_at is not None


async def follow_up_request(rig: NoticeRig, conversation: Conversation, ticket_id: int) -> int:
    """The follow-up "did it stay solved?" asked two days after the resolution."""
    async with rig.db.transaction() as session:
        follow_up = SurveyRequest(
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            ticket_id=ticket_id,
            kind="followup",
            occasion="ticket_followup",
            occasion_key=f"ticket_followup:{ticket_id}",
            channel="webchat",
            language=conversation.language,
            asked_at=rig.clock.now() + timedelta(days=2),
        )
        session.add(follow_up)
        await session.flush()
        return follow_up.id


async def test_yes_from_a_mail_closes_the_ticket_and_asks_the_closing_survey_as_the_chat_does(
    db: Database, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    """A CES survey asked when a ticket closes: the page's "yes" asks it too, its seven
    answers as signed links to the same page, and the consoles hear of the closed ticket."""
    plan = SurveyPlan.from_settings(
        SurveysSettings(
            min_days_between=0,
            ces=SurveySettings(when=["bot_resolved", "ticket_closed"], comment_at_most=3),
        )
    )
    email = channel_for(dovecot, smtp)
    rig = await make_notice_rig(db, email, plan=plan)
    try:
        async with (
            serve(rig.app) as address,
            httpx.AsyncClient(base_url=f"http://{address}") as http,
        ):
            conversation = await rig.chat_and_leave(address, "gone-for-good")
            ticket_id = await rig.ticket_for(conversation, language="ka", email="nino@example.org")
            await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
            conversation = await rig.conversation("webchat", "gone-for-good")
            request_id = await follow_up_request(rig, conversation, ticket_id)

            yes = path_of(rig.links.url(request_id, "yes"))
            async with rig.desk.events.subscribe() as console:
                page = await http.post(yes)
                event = await asyncio.wait_for(console.next(), 10)
            assert event.kind == EventKind.TICKET and event.data == {"ticket_id": ticket_id}
            [ticket] = await stored_rows(db, Ticket, Ticket.id == ticket_id)
            assert ticket.status == TicketStatus.CLOSED
            assert rig.phrase("followup_glad", "ka") in page.text
            assert html.escape(rig.phrase("ces_request", "ka")) in page.text
            links = re.findall(r'href="http://survey\.invalid(/survey/\d+/\w+\?[^"]+)"', page.text)
            [ces] = await stored_rows(db, SurveyRequest, SurveyRequest.kind == "ces")
            assert ces.occasion == "ticket_closed" and ces.ticket_id == ticket_id
            values = [link.split("?")[0].rsplit("/", 1)[1] for link in links]
            assert values == ["1", "2", "3", "4", "5", "6", "7"]
            assert {link.split("/")[2] for link in links} == {str(ces.id)}

            # A link from the page works as one from a mail: shown, then counted on Send.
            six = html.unescape(links[5])
            assert rig.phrase("survey_link_send", "ka") in (await http.get(six)).text
            assert (await http.post(six)).status_code == 200
            counted = await stored_rows(db, SurveyResponse, SurveyResponse.request_id == ces.id)
            assert [r.score for r in counted] == [6]
            # The follow-up counted once: the page's "yes" again asks nothing more.
            again = await http.post(yes)
            assert rig.phrase("ces_request", "ka") not in again.text
            assert len(await stored_rows(db, SurveyRequest, SurveyRequest.kind == "ces")) == 1
    finally:
        await email.stop()


async def test_an_email_customers_survey_comes_as_links_too(
    rig: NoticeRig, smtp: SmtpServer, dovecot: Dovecot, db: Database
) -> None:
    await MailboxClient(dovecot).deliver(raw(mail("hello", sender="mei@example.org")))
    await wait_until(
        lambda: stored_rows(db, Conversation, Conversation.channel == "email"),
        within=30,
        what="the mail stored",
    )
    [conversation] = await stored_rows(db, Conversation, Conversation.channel == "email")
    ticket_id = await rig.ticket_for(conversation)
    await rig.tickets.set_status(ticket_id, TicketStatus.RESOLVED, actor="priya")
    question = rig.phrase("csat_request")
    asked = await mail_where(smtp, lambda m: question in body(m))
    links = dict(LINK.findall(body(asked)))
    assert sorted(links) == ["1", "2", "3", "4", "5"]
    assert rig.phrase("choose_number") not in body(asked)  # no "reply with the number"
    assert await rig.job.run() == 0  # an email customer's news is mail already
    async with serve(rig.app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        assert (await http.post(path_of(links["5"]))).status_code == 200
    assert [r.score for r in await responses(db)] == [5]
