"""Multi-turn dialogues: while one is open in a conversation, the customer's next message
goes to it (not to the intent model) until it finishes or the customer cancels.

A dialogue is a name, a step and a little JSON data (``dialogues`` table). Its step
function gets the message and the turn's context and returns the replies; it moves
itself on (``DialogueRepository``) or closes. ``/cancel`` or a cancel word in the
customer's language ends any dialogue; another command (``/status``, a button)
ends it too and is handled as usual, so the customer is never stuck in one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from bot.commands import CANCEL, is_command
from bot.intents.context import TurnContext
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.storage.dialogues import DialogueRepository
from bot.storage.models import Dialogue

# Lower-case whole-message cancel words, in the bot's languages.
CANCEL_WORDS = frozenset(
    {"cancel", "stop", "quit", "abort", "રદ", "રદ કરો", "రద్దు", "రద్దు చేయి",
     "გაუქმება", "შეწყვეტა", "रद्द", "रद्द करो", "रद्द करें"}
)  # fmt: skip

Step = Callable[[InboundMessage, TurnContext, Dialogue], Awaitable[list[OutboundMessage]]]
"""Moves one dialogue on by a message; the table of them is ``bot.intents.DIALOGUES``."""


def cancel_button(ctx: TurnContext) -> Button:
    return Button(ctx.phrase("button_cancel"), CANCEL)


def is_cancel(message: InboundMessage) -> bool:
    said = (message.payload or message.text).strip().lower().rstrip(".!")
    return said == CANCEL or said in CANCEL_WORDS


def takes(message: InboundMessage) -> bool:
    """Whether an open dialogue should read this message (commands other than cancel pass)."""
    if is_cancel(message):
        return True
    return not is_command(message.text, message.payload)


async def continue_dialogue(
    message: InboundMessage, ctx: TurnContext, steps: Mapping[str, Step]
) -> list[OutboundMessage] | None:
    """The open dialogue's replies to this message, or None when no dialogue takes it.

    ``steps`` are the dialogues the bot runs, by name (``bot.intents.DIALOGUES``).
    """
    dialogues = DialogueRepository(ctx.session)
    dialogue = await dialogues.get(ctx.conversation.id)
    if dialogue is None:
        return None
    if not takes(message):
        await dialogues.close(ctx.conversation.id)
        return None
    if is_cancel(message):
        await dialogues.close(ctx.conversation.id)
        return [ctx.say("dialogue_cancelled")]
    step = steps.get(dialogue.name)
    if step is None:  # a dialogue from an older version of the bot: drop it
        await dialogues.close(ctx.conversation.id)
        return None
    return await step(message, ctx, dialogue)
