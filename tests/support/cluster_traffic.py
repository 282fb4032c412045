"""Customers on all three channels, through a cluster's public address, as the platforms send.

- **Web chat**: the widget's behaviour (``tests/faults/kill9.py``): one question at a time,
  each after the previous answer; on a dropped socket it reconnects (HAProxy picks any
  worker), re-sends what was not acknowledged and rebuilds its log from the history.
- **Telegram** (webhook mode): one chat's updates are POSTed one after the other, each as
  soon as the previous one was answered 200, without waiting for the bot's reply: two
  messages of one chat usually land on two workers. An update answered anything but 200
  (or not at all) is sent again, as Telegram does.
- **Slack** (Events API): the same, signed, with ``X-Slack-Retry-Num`` on a retry.

Every reply is recorded with its arrival time (``time.monotonic()``), so a run can say:
each message answered once (*lost*, *duplicated*; *resent*: the same reply delivered
again after a kill), replies in the order of the messages (*out of order*, by first
delivery), and how long after a kill the messages accepted before it were answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.faults.kill9 import QUESTIONS, Customer, answer_texts, converse
from tests.support.fake_slack import FakeSlack, SlackCall
from tests.support.fake_telegram import Call, FakeTelegram, TelegramUser
from tests.support.waiting import wait_until

RETRY_PAUSE_S = 0.2


@dataclass
class Conversation:
    """One customer's conversation, as their client saw it."""

    channel: str
    key: str
    questions: list[str]
    accepted_at: list[float] = field(default_factory=list)
    """When each message was acknowledged (HTTP 200, or the web chat's ``ack``)."""
    replies: list[tuple[float, str]] = field(default_factory=list)
    """What the bot sent, in arrival order: (``time.monotonic()``, the text as shown)."""
    retries: int = 0

    @property
    def done(self) -> bool:
        return len(self.first_deliveries()) >= len(self.questions)

    def first_deliveries(self) -> list[tuple[float, str]]:
        """The replies without a text's second delivery (every question here has its own
        answer, so a text seen twice is one reply sent twice)."""
        first: list[tuple[float, str]] = []
        for when, text in self.replies:
            if all(text != seen for _, seen in first):
                first.append((when, text))
        return first


@dataclass
class Figures:
    """What a run counted, over all conversations."""

    conversations: int = 0
    messages: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    """Replies beyond one per message, other than ``resent``."""
    resent: int = 0
    """A reply delivered to Telegram or Slack a second time: a worker killed after the
    platform took a reply but before it recorded it as sent leaves it pending, and the
    outbox sends it again (neither Bot API takes an idempotency key). The database holds
    it once. The web chat's widget drops such a reply by its id (not counted here)."""
    out_of_order: int = 0
    """Conversations whose replies did not come in the order of their messages."""
    retries: int = 0
    seconds: float = 0.0
    pending_at_kill: int = 0
    """Messages acknowledged before a kill and not yet answered when it happened."""
    orphan_max_s: float = 0.0
    """The longest a message pending at a kill waited after it for its answer."""
    problems: list[str] = field(default_factory=list)


def questions_for(n: int, count: int) -> list[str]:
    """``count`` different-looking FAQ questions for customer ``n`` (answers distinguish them)."""
    return [QUESTIONS[(n + i) % len(QUESTIONS)][0] for i in range(count)]


# --- web chat --------------------------------------------------------------------------------


class WebCustomer(Customer):
    """The widget (``kill9.Customer``), noting when each reply first showed."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__(conversation.key, conversation.questions)
        self.conversation = conversation

    def on_history(self, messages: list[dict[str, Any]]) -> None:
        super().on_history(messages)
        self._note()

    def on_frame(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "ack" and str(frame.get("id")) in self.pending:
            self.conversation.accepted_at.append(time.monotonic())
        super().on_frame(frame)
        self._note()

    def _note(self) -> None:
        now = time.monotonic()
        replies = self.conversation.replies
        for text in list(self.shown.values())[len(replies) :]:
            replies.append((now, text))


async def web_chat(conversation: Conversation, ws_url: str, stop: asyncio.Event) -> None:
    """Talk until every question is answered, reconnecting (to any worker) as the widget does."""
    customer = WebCustomer(conversation)
    url = f"{ws_url}/ws/chat?lang=en&session={conversation.key}"
    while not customer.done and not stop.is_set():
        try:
            async with connect(url, open_timeout=5) as ws:
                await converse(customer, ws)
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
            conversation.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)


async def web_history(ws_url: str, session: str) -> list[dict[str, Any]]:
    """What a fresh page load shows: the session's stored messages."""
    async with connect(f"{ws_url}/ws/chat?lang=en&session={session}", open_timeout=10) as ws:
        history = json.loads(await ws.recv())
    return list(history.get("messages", []))


# --- Telegram ----------------------------------------------------------------------------------


def telegram_replies(telegram: FakeTelegram, chats: dict[int, Conversation]) -> None:
    """Record every successful ``sendMessage`` on the chat's conversation."""

    def listener(call: Call) -> None:
        if call.method != "sendMessage" or call.status != 200:
            return
        conversation = chats.get(int(call.params.get("chat_id", 0)))
        if conversation is not None:
            conversation.replies.append((time.monotonic(), html.unescape(call.params["text"])))

    telegram.subscribe(listener)


async def telegram_chat(
    telegram: FakeTelegram, user: TelegramUser, conversation: Conversation
) -> None:
    """Post the chat's updates to the webhook one after the other, each until answered 200."""
    for question in conversation.questions:
        update_id = telegram.push_update(telegram.message_update(user, question))
        telegram.state.updates.pop()  # a webhook bot never polls for it
        while True:
            try:
                status = await telegram.deliver_webhook(update_id)
            except (aiohttp.ClientError, OSError):
                status = 0
            if status == 200:
                conversation.accepted_at.append(time.monotonic())
                break
            conversation.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)


# --- Slack --------------------------------------------------------------------------------------


async def slack_replies(slack: FakeSlack, channels: dict[str, Conversation]) -> None:
    """Record every ``chat.postMessage`` on the DM's conversation (runs until cancelled)."""
    queue = slack.subscribe("chat.postMessage")
    while True:
        call: SlackCall = await queue.get()
        conversation = channels.get(str(call.args.get("channel")))
        if conversation is not None:
            conversation.replies.append((call.at, str(call.args.get("text", ""))))


async def slack_dm(
    slack: FakeSlack, events_url: str, user: str, conversation: Conversation
) -> None:
    """Post the user's DMs as Events API callbacks, one after the other, each until 200."""
    for question in conversation.questions:
        envelope = slack.event_callback(slack.dm(user, question))
        attempt = 0
        while True:
            try:
                response = await slack.post(
                    events_url, envelope, retry_num=attempt if attempt else None
                )
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                conversation.accepted_at.append(time.monotonic())
                break
            attempt += 1
            conversation.retries += 1
            await asyncio.sleep(RETRY_PAUSE_S)


# --- counting -----------------------------------------------------------------------------------


def count(conversations: list[Conversation], *, kills_at: Sequence[float] = ()) -> Figures:
    """Lost, duplicated and out-of-order replies; the wait after each kill for what was pending."""
    answers = answer_texts()
    figures = Figures(conversations=len(conversations))
    for c in conversations:
        expected = [answers[q] for q in c.questions]
        got = [text for _, text in c.replies]
        times = [round(t - kills_at[0], 2) for t, _ in c.replies] if kills_at else []
        first = c.first_deliveries()
        figures.resent += len(c.replies) - len(first)
        got = [text for _, text in first]
        figures.messages += len(c.questions)
        figures.answered += min(len(got), len(expected))
        figures.lost += max(0, len(expected) - len(got))
        figures.duplicated += max(0, len(got) - len(expected))
        if len(got) != len(expected):
            figures.problems.append(
                f"{c.channel} {c.key}: {len(got)} replies to {len(expected)} (at {times} s)"
            )
        figures.retries += c.retries
        if not all(g.startswith(e) for g, e in zip(got, expected, strict=False)):
            figures.out_of_order += 1
            order = [next((i for i, e in enumerate(expected) if g.startswith(e)), -1) for g in got]
            figures.problems.append(
                f"{c.channel} {c.key}: answers to messages {order} (at {times} s)"
            )
        for kill in kills_at:
            accepted = sum(1 for t in c.accepted_at if t <= kill)
            answered = sum(1 for t, _ in first if t <= kill)
            waiting = [t for t, _ in first[answered:accepted]]
            figures.pending_at_kill += max(0, accepted - answered)
            if waiting:
                figures.orphan_max_s = max(figures.orphan_max_s, round(max(waiting) - kill, 2))
            if accepted > len(first):
                figures.orphan_max_s = float("inf")  # never answered
    return figures


async def wait_answered(conversations: list[Conversation], *, within: float) -> None:
    """Until every conversation has all its replies, or ``within`` seconds passed."""
    with contextlib.suppress(AssertionError):  # the counts say what is missing
        await wait_until(
            lambda: all(c.done for c in conversations), within=within, what="every answer"
        )
