"""The Slack agent desk: handed-off chats as threads in an agents' Slack channel.

Each chat that reaches the queue (or that an agent takes over) gets one thread in
``handoff.slack_channel``: a root card with who the customer is, why the bot handed
over, the last turns and buttons (Claim / Hand back / Resolve). Customer messages
and console replies are mirrored into the thread; a mapped agent's reply in the
thread reaches the customer on whatever channel they use.

Like the web console, this desk only acts through :class:`bot.desk.service.Desk` and only
learns of changes from its events, so the two always agree: a claim in Slack shows
in the console and a console claim updates the card. Slack users are agents through
``Agent.slack_user_id`` (``helpdesk agent slack NAME U…``); anyone else is told so,
privately, and nothing changes.

The agents' channel's events reach us through the Slack customer channel's bolt app
(:meth:`bot.channels.slack.channel.SlackChannel.route_channel`), acknowledged at once; the
work runs after, so a slow customer platform never makes Slack retry.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.slack.events import ACCEPTED_SUBTYPES, plain_text
from bot.desk.policy import DeskError
from bot.desk.slack_cards import (
    ACTION_PREFIX,
    CLAIM,
    HAND_BACK,
    RESOLVE,
    TURNS,
    Card,
    Turn,
    card_message,
    change_line,
    console_reply_line,
    customer_line,
)
from bot.events import DeskEvent, EventKind
from bot.handoff import State
from bot.storage.models import Attachment, Conversation, Direction
from bot.storage.repositories import AgentRepository, MessageRepository
from bot.storage.slack_desk import DeskThreadRepository

if TYPE_CHECKING:
    from bot.channels.slack.channel import SlackChannel
    from bot.desk.service import Desk

log = logging.getLogger(__name__)

CANNED = re.compile(r"^!([a-z0-9_]{1,64})$")
"""An agent's thread message naming a saved reply (bot/desk/canned.py)."""

NOTE_PREFIX = "!note"
"""A thread reply starting with this is an internal note, never sent to the customer."""
UNMAPPED = (
    "You are not set up as an agent here, so nothing was changed. An admin can map you "
    "with `helpdesk agent slack NAME {user}`."
)
STOP_GRACE_S = 5.0
ANNOUNCED_MEMORY = 10_000


class _Seen:
    """A bounded memory of keys (redelivered events, our own replies coming back)."""

    def __init__(self, size: int = 2000) -> None:
        self._size = size
        self._keys: OrderedDict[object, None] = OrderedDict()

    def add(self, key: object) -> bool:
        """Remember ``key``; False if it was already remembered."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True

    def take(self, key: object) -> bool:
        """Forget ``key``; True if it was remembered."""
        return self._keys.pop(key, False) is None


class SlackDesk:
    """Mirrors the desk into one Slack channel and turns agents' Slack actions into desk calls."""

    def __init__(self, desk: Desk, slack: SlackChannel, channel_id: str) -> None:
        self.desk = desk
        self.slack = slack
        self.channel_id = channel_id
        self.listening = asyncio.Event()
        """Set once :meth:`run` is subscribed to the desk's events."""
        # conversation -> the last handoff event shown as a line (bounded, oldest out)
        self._announced: OrderedDict[int, int] = OrderedDict()
        self._seen_events = _Seen()
        self._echoes = _Seen()  # (conversation, text) of replies typed in Slack
        self._tasks: set[asyncio.Task[None]] = set()
        self.threads_opened = 0
        self._opened = asyncio.Condition()

    def attach(self) -> None:
        """Take the agents' channel's messages and the card buttons from the Slack channel."""
        self.slack.route_channel(self.channel_id, self.on_channel_event)
        self.slack.app.action(re.compile(rf"^{ACTION_PREFIX}\w+$"))(self.on_action)

    async def run(self) -> None:
        """Follow the desk's events forever (cancel to stop)."""
        async with self.desk.events.subscribe() as events:
            self.listening.set()
            async for event in events:
                try:
                    await self._follow(event)
                except Exception:  # one failed Slack call must not end the mirror
                    log.exception("Slack desk could not show %s", event.kind.value)

    async def wait_opened(self, count: int) -> None:
        """Wait until ``count`` threads were opened (and recorded) since start."""
        async with self._opened:
            await self._opened.wait_for(lambda: self.threads_opened >= count)

    async def stop(self) -> None:
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # --- the desk, shown in Slack ----------------------------------------------------

    async def _follow(self, event: DeskEvent) -> None:
        if self.slack.off or event.conversation_id is None:
            return
        if event.kind == EventKind.CONVERSATION:
            await self.show(event.conversation_id)
        elif event.kind == EventKind.MESSAGE:
            await self._mirror(event.conversation_id, event.data.get("message") or {})

    async def show(self, conversation_id: int) -> None:
        """Open the chat's thread if it needs one, else bring its card up to date."""
        async with self.desk.db.transaction() as session:
            threads = DeskThreadRepository(session)
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                return
            thread = await threads.for_conversation(conversation_id)
            if thread is None and conversation.state not in (State.QUEUED, State.AGENT):
                return
            until = thread.created_at if thread is not None else None
            card = await self._card(session, conversation, until=until)
            latest = await threads.latest_event(conversation_id)
            root = (thread.slack_channel, thread.thread_ts) if thread else None
        if root is None:
            response = await self.slack.client.chat_postMessage(
                channel=self.channel_id, **card_message(card)
            )
            ts = str(response["ts"])
            try:
                async with self.desk.db.transaction() as session:
                    await DeskThreadRepository(session).add(
                        conversation_id=conversation_id, slack_channel=self.channel_id, thread_ts=ts
                    )
            except IntegrityError:  # another worker opened it first; ours stays a lone card
                log.warning("desk thread for conversation %d already exists", conversation_id)
            async with self._opened:
                self.threads_opened += 1
                self._opened.notify_all()
            if latest is not None:
                self._remember(conversation_id, latest.id)
            return
        channel, ts = root
        await self.slack.client.chat_update(channel=channel, ts=ts, **card_message(card))
        if latest is None or self._announced.get(conversation_id) == latest.id:
            return
        self._remember(conversation_id, latest.id)
        line = change_line(
            to_state=State(latest.to_state.value),
            reason=latest.reason,
            actor=latest.actor,
            detail=latest.detail,
        )
        if line:
            await self._post(channel, ts, line)

    def _remember(self, conversation_id: int, event_id: int) -> None:
        self._announced[conversation_id] = event_id
        self._announced.move_to_end(conversation_id)
        if len(self._announced) > ANNOUNCED_MEMORY:
            self._announced.popitem(last=False)

    async def _card(
        self, session: AsyncSession, conversation: Conversation, *, until: datetime | None
    ) -> Card:
        threads = DeskThreadRepository(session)
        name = await threads.customer_name(conversation)
        owner = None
        if conversation.state == State.AGENT and conversation.agent_id is not None:
            agent = await AgentRepository(session).get(conversation.agent_id)
            owner = agent.name if agent else None
        latest = await threads.latest_event(conversation.id)
        turns = [
            Turn(name if m.direction == Direction.IN else m.sender.title(), m.text)
            for m in await threads.turns_before(conversation.id, until=until, limit=TURNS)
        ]
        return Card(
            conversation_id=conversation.id,
            customer=name,
            channel=conversation.channel,
            language=conversation.language,
            reason=conversation.handoff_reason,
            state=State(conversation.state.value),
            owner=owner,
            last_actor=latest.actor if latest else None,
            turns=tuple(turns),
        )

    async def _mirror(self, conversation_id: int, message: dict[str, Any]) -> None:
        """Customer messages and console replies into the thread (the bot's own stay out)."""
        text = str(message.get("text") or "")
        if message.get("direction") == Direction.OUT and message.get("sender") != "agent":
            return
        if message.get("direction") == Direction.OUT and self._echoes.take((conversation_id, text)):
            return  # typed in this thread: already there
        async with self.desk.db.transaction() as session:
            thread = await DeskThreadRepository(session).for_conversation(conversation_id)
            conversation = await session.get(Conversation, conversation_id)
            threads = DeskThreadRepository(session)
            name = await threads.customer_name(conversation) if conversation else "Customer"
            files: list[str] = []
            if thread is not None and message.get("direction") == Direction.IN:
                sent = await MessageRepository(session).attachments(conversation_id)
                files = [_file_label(a) for a in sent if a.message_id == message.get("id")]
        if thread is None:
            return
        if message.get("direction") == Direction.IN:
            line = customer_line(name, text, files)
        else:
            line = console_reply_line(message.get("agent"), text)
        await self._post(thread.slack_channel, thread.thread_ts, line)

    async def _post(self, channel: str, thread_ts: str, mrkdwn: str) -> None:
        await self.slack.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=mrkdwn)

    # --- agents acting in Slack ------------------------------------------------------

    async def on_channel_event(self, event: dict[str, Any]) -> None:
        """A message in the agents' channel: a thread reply from an agent goes to the customer."""
        if event.get("type") != "message" or event.get("bot_id"):
            return
        if event.get("subtype") not in ACCEPTED_SUBTYPES:
            return
        user, ts, thread_ts = event.get("user"), event.get("ts"), event.get("thread_ts")
        if not (isinstance(user, str) and isinstance(ts, str) and isinstance(thread_ts, str)):
            return  # not in a thread: agents talking among themselves
        if thread_ts == ts or not self._seen_events.add((ts, user)):
            return  # a thread's own root, or Slack delivering the same event again
        text = plain_text(str(event.get("text") or ""), bot_user_id=self.slack.bot_user_id)
        self._spawn(self._agent_wrote(user, thread_ts, text), f"slack-desk-reply-{ts}")

    async def _agent_wrote(self, user: str, thread_ts: str, text: str) -> None:
        async with self.desk.db.transaction() as session:
            threads = DeskThreadRepository(session)
            thread = await threads.at(slack_channel=self.channel_id, thread_ts=thread_ts)
            agent = await threads.agent_for(user)
            agent_id = agent.id if agent else None
        if thread is None:
            return  # a thread that is not a chat's
        if agent_id is None:
            await self._tell(user, thread_ts, UNMAPPED.format(user=user))
            return
        conversation_id = thread.conversation_id
        try:
            if text.lower().startswith(NOTE_PREFIX):
                await self.desk.note(agent_id, conversation_id, text[len(NOTE_PREFIX) :])
                return
            canned = CANNED.match(text.strip())
            if canned is not None:
                # "!refund_timing": the saved reply, filled in, in the customer's language;
                # not an echo, so the thread shows what the customer got.
                saved = {i: t for i, _, t in await self.desk.canned_for(agent_id, conversation_id)}
                if canned.group(1) not in saved:
                    names = ", ".join(f"!{i}" for i in sorted(saved)) or "none yet"
                    await self._tell(user, thread_ts, f"No saved reply {text.strip()}: {names}")
                    return
                await self.desk.reply(agent_id, conversation_id, saved[canned.group(1)])
                return
            self._echoes.add((conversation_id, text.strip()))
            await self.desk.reply(agent_id, conversation_id, text)
        except DeskError as exc:
            self._echoes.take((conversation_id, text.strip()))
            await self._tell(user, thread_ts, f"Not sent: {exc}")

    async def on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Claim / Hand back / Resolve pressed on a card."""
        await ack()
        action: dict[str, Any] = next(iter(body.get("actions") or []), {})
        kind = str(action.get("action_id", ""))[len(ACTION_PREFIX) :]
        user = (body.get("user") or {}).get("id")
        thread_ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get(
            "message_ts"
        )
        value = str(action.get("value", ""))
        channel = (body.get("channel") or {}).get("id")
        if channel != self.channel_id:
            return  # our cards live only in the agents' channel
        if not (isinstance(user, str) and isinstance(thread_ts, str) and value.isdigit()):
            return
        self._spawn(self._act(user, str(thread_ts), kind, int(value)), f"slack-desk-{kind}")

    async def _act(self, user: str, thread_ts: str, kind: str, conversation_id: int) -> None:
        async with self.desk.db.transaction() as session:
            agent = await DeskThreadRepository(session).agent_for(user)
            agent_id = agent.id if agent else None
        if agent_id is None:
            await self._tell(user, thread_ts, UNMAPPED.format(user=user))
            return
        actions = {
            CLAIM: self.desk.claim,
            HAND_BACK: self.desk.hand_back,
            RESOLVE: self.desk.resolve,
        }
        act = actions.get(kind)
        if act is None:
            return
        try:
            await act(agent_id, conversation_id)
        except DeskError as exc:
            await self._tell(user, thread_ts, str(exc))

    async def _tell(self, user: str, thread_ts: str, text: str) -> None:
        """A message only ``user`` sees, in the thread they acted in."""
        try:
            await self.slack.client.chat_postEphemeral(
                channel=self.channel_id, user=user, thread_ts=thread_ts, text=text
            )
        except SlackApiError as exc:
            log.warning("could not tell %s: %s", user, exc.response.get("error"))

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Slack desk task %s failed", task.get_name(), exc_info=task.exception())


def _file_label(item: Attachment) -> str:
    """A file as the thread names it: the web chat's are kept, and open in the console."""
    label = f"{item.kind}: {item.file_name}" if item.file_name else item.kind
    stored = bool((item.details or {}).get("stored"))
    return f"{label}, in the console" if stored else label
