"""What Slack's refusals of a reply mean: give up, mark the person unreachable, or retry.

``chat.postMessage`` answers HTTP 200 with ``ok: false`` and an error code; the Web
client turns that into :class:`SlackApiError` (after its own retries of ``429`` per
``Retry-After``). The engine needs one of the channel errors of :mod:`bot.channels`.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.channels import ChannelSendError, RecipientUnreachable
from bot.channels.slack.events import is_direct, parse_key

log = logging.getLogger(__name__)

# Refusals that concern a place, not a person: in a DM the place *is* the person.
_PLACE_GONE = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
_PERSON_GONE = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot"})
_BAD_MESSAGE = frozenset({"msg_too_long", "no_text", "invalid_blocks", "invalid_arguments"})
TOKEN_REFUSALS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "missing_scope"}
)


def send_error(exc: SlackApiError, conversation_key: str) -> ChannelSendError:
    """What a refused ``chat.postMessage`` means for the outbox.

    - a DM that is gone (``channel_not_found``, ``is_archived``, a deactivated user):
      the person is unreachable; the engine stops writing to them until they write again;
    - a channel the app cannot post in (``not_in_channel``, ``channel_not_found``,
      ``is_archived``): that reply fails for good, but the person stays reachable in DMs;
    - a message Slack will never take (``msg_too_long``, ``invalid_blocks``): fails for good;
    - rate limits left after the client's own retries, token problems, anything else:
      transient, the outbox tries again.
    """
    error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    channel, _ = parse_key(conversation_key)
    where = f"DM {channel}" if is_direct(channel) else f"channel {channel}"
    if is_direct(channel) and error in _PLACE_GONE | _PERSON_GONE:
        return RecipientUnreachable(f"Slack: {error} for {where}")
    if error in _PLACE_GONE | _PERSON_GONE:
        log.error(
            "Slack refused a reply in %s: %s. Invite the app to the channel (/invite @app) "
            "or check it still exists; this reply is given up.",
            where,
            error,
        )
        return ChannelSendError(f"Slack: {error} for {where}", permanent=True)
    if error in _BAD_MESSAGE:
        log.error("Slack refused a reply in %s as malformed: %s", where, error)
        return ChannelSendError(f"Slack: {error}", permanent=True)
    if error in TOKEN_REFUSALS:
        log.error("Slack refused the bot token: %s. Check SLACK_BOT_TOKEN and the scopes.", error)
    return ChannelSendError(f"Slack: {error} for {where}")
