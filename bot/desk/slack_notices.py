"""Tell the agents' Slack channel when a knowledge-base edit was rejected.

The watcher keeps serving the last good knowledge base; this makes sure the person who
broke a file hears about it where the team already looks, with file and line.
"""

from __future__ import annotations

from typing import Any

from bot.channels.slack.format import escape
from bot.knowledge.loader import KbError

MAX_LISTED = 20  # a pasted-over file can produce hundreds; the console lists them all


def describe(errors: list[KbError]) -> str:
    lines = [
        ":warning: A knowledge-base edit was rejected; the last good version stays live.",
        *(
            f"• `{escape(f'{e.file.name}:{e.line}')}` {escape(e.problem)}"
            for e in errors[:MAX_LISTED]
        ),
    ]
    if len(errors) > MAX_LISTED:
        lines.append(
            f"… and {len(errors) - MAX_LISTED} more (Admin → Knowledge base in the console)"
        )
    return "\n".join(lines)


class SlackKbNotifier:
    """A ``KbErrorNotifier`` posting to the Slack desk's channel with the Slack channel's client."""

    def __init__(self, client: Any, channel_id: str) -> None:
        self.client = client  # slack_sdk AsyncWebClient
        self.channel_id = channel_id

    async def __call__(self, errors: list[KbError]) -> None:
        if errors:
            await self.client.chat_postMessage(channel=self.channel_id, text=describe(errors))
