"""What the Slack agent desk posts, pure: the thread's root card and the lines in the thread.

The root card of a handed-off chat says who the customer is (name, channel, language),
why the bot handed over, the last turns before it did, and where the chat stands now;
its buttons act on the chat (claim, hand back, resolve). The card is updated in place
whenever the chat changes, from Slack or from the web console, and each change is also
written as a line in the thread so the history reads top to bottom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.channels.slack.format import SECTION_LIMIT, escape, section
from bot.handoff import HandoffReason, State

ACTION_PREFIX = "helpdesk_desk_"
CLAIM, HAND_BACK, RESOLVE = "claim", "hand_back", "resolve"
ACTIONS = (CLAIM, HAND_BACK, RESOLVE)
CARD_ACTIONS_BLOCK = "helpdesk_desk_actions"
TURNS = 6
TURN_CLIP = 300

_CHANNELS = {"telegram": "Telegram", "slack": "Slack", "webchat": "Web chat"}
_REASONS = {
    HandoffReason.CUSTOMER_ASKED: "the customer asked for a person",
    HandoffReason.LOW_CONFIDENCE: "the bot was unsure twice in a row",
    HandoffReason.FRUSTRATION: "the customer seems frustrated",
    HandoffReason.AGENT_CLAIMED: "an agent took it over from the bot",
    HandoffReason.CUSTOMER_RETURNED: "the customer wrote again",
    HandoffReason.REPLIED_TO_AGENT: "the customer answered an agent's mail",
}


@dataclass(frozen=True, slots=True)
class Turn:
    who: str
    text: str


@dataclass(frozen=True, slots=True)
class Card:
    """A handed-off chat as the root message of its desk thread shows it."""

    conversation_id: int
    customer: str
    channel: str
    language: str | None
    reason: str | None
    state: State
    owner: str | None = None
    last_actor: str | None = None
    turns: tuple[Turn, ...] = ()


def action_id(action: str) -> str:
    return f"{ACTION_PREFIX}{action}"


def reason_text(reason: str | None) -> str:
    try:
        return _REASONS.get(HandoffReason(reason or ""), reason or "unknown")
    except ValueError:
        return reason or "unknown"


def status_text(card: Card) -> str:
    if card.state == State.QUEUED:
        return ":hourglass_flowing_sand: Waiting for an agent"
    if card.state == State.AGENT:
        return f":technologist: *{escape(card.owner or 'An agent')}* has this chat"
    if card.state == State.RESOLVED:
        return f":white_check_mark: Resolved by {escape(card.last_actor or 'an agent')}"
    return ":robot_face: Back with the bot"


def headline(card: Card) -> str:
    channel = _CHANNELS.get(card.channel, card.channel)
    language = card.language or "language unknown"
    return f"*{escape(card.customer)}* needs a person · {escape(channel)} · {escape(language)}"


def card_message(card: Card) -> dict[str, Any]:
    """``chat.postMessage`` / ``chat.update`` arguments (without channel, ts) for the card."""
    title = headline(card)
    status = status_text(card)
    blocks: list[dict[str, Any]] = [
        section(f"{title}\n*Why:* {escape(reason_text(card.reason))}"),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
    ]
    if card.turns:
        blocks.append(section(_clip(turns_text(card.turns), SECTION_LIMIT)))
    buttons = _buttons(card)
    if buttons:
        blocks.append({"type": "actions", "block_id": CARD_ACTIONS_BLOCK, "elements": buttons})
    return {"text": f"{title} — {status}", "blocks": blocks}


def turns_text(turns: Sequence[Turn]) -> str:
    lines = [f"*{escape(t.who)}:* {escape(_clip(t.text, TURN_CLIP))}" for t in turns]
    return "*Last turns*\n" + "\n".join(lines)


def _buttons(card: Card) -> list[dict[str, Any]]:
    shown: tuple[str, ...]
    if card.state == State.QUEUED:
        shown = ACTIONS
    elif card.state == State.AGENT:
        shown = (HAND_BACK, RESOLVE)  # claimed: a colleague cannot claim it over the owner
    else:
        return []
    titles = {CLAIM: "Claim", HAND_BACK: "Hand back", RESOLVE: "Resolve"}
    buttons: list[dict[str, Any]] = []
    for action in shown:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id(action),
            "text": {"type": "plain_text", "text": titles[action]},
            "value": str(card.conversation_id),
        }
        if action == CLAIM:
            button["style"] = "primary"
        buttons.append(button)
    return buttons


def change_line(*, to_state: State, reason: str, actor: str, detail: str | None) -> str | None:
    """The thread line announcing a state change; None for changes the card alone shows."""
    who = escape(actor)
    if to_state == State.AGENT and reason == HandoffReason.TRANSFERRED:
        return (
            f":arrows_counterclockwise: {who} transferred this chat {escape(detail or '')}".strip()
        )
    if to_state == State.AGENT:
        return f":raised_hand: {who} claimed this chat."
    if to_state == State.RESOLVED:
        return f":white_check_mark: {who} resolved this chat; the customer was asked for a rating."
    if to_state == State.BOT and reason == HandoffReason.AGENT_HANDED_BACK:
        return f":robot_face: {who} handed this chat back to the bot."
    if to_state == State.BOT and reason == HandoffReason.TIMED_OUT:
        ticket = escape(detail or "a ticket")
        return f":alarm_clock: Nobody claimed this chat in time; it became {ticket}."
    if to_state == State.BOT:
        return f":robot_face: Back with the bot ({escape(reason)})."
    if to_state == State.QUEUED:
        return (
            f":hourglass_flowing_sand: Waiting for an agent again: {escape(reason_text(reason))}."
        )
    return None


def customer_line(customer: str, text: str, files: Sequence[str] = ()) -> str:
    """The customer's words, then what they sent besides (``photo: charger.png``)."""
    parts = [escape(text), *(f"_({escape(item)})_" for item in files)]
    return f"*{escape(customer)}:* {' '.join(p for p in parts if p) or '_(an attachment)_'}"


def console_reply_line(agent: str | None, text: str) -> str:
    return f"*{escape(agent or 'Agent')}* (console): {escape(text)}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
