"""Intent handlers, one module each, registered in one explicit table.

A handler takes the customer's message and the turn's context and returns the
replies; it never sends anything and knows no transport. Multi-turn dialogues
(:mod:`bot.intents.dialogue`) have their own table beside it, :data:`DIALOGUES`, which
the engine passes to ``continue_dialogue``.
"""

from __future__ import annotations

from bot.intents import (
    csat,
    fallback,
    faq,
    feedback,
    handoff,
    helpful,
    link,
    out_of_scope,
    smalltalk,
    survey,
    ticket,
    ticket_status,
)
from bot.intents.context import Handler, TurnContext
from bot.intents.dialogue import Step

__all__ = ["DIALOGUES", "FALLBACK", "HANDLERS", "Handler", "TurnContext", "handler_for"]

HANDLERS: dict[str, Handler] = {
    "greet": smalltalk.greet,
    "goodbye": smalltalk.goodbye,
    "thanks": smalltalk.thanks,
    "affirm": smalltalk.affirm,
    "deny": smalltalk.deny,
    "human_handoff": handoff.handle,
    "create_ticket": ticket.handle,
    "ticket_status": ticket_status.handle,
    "feedback": feedback.handle,
    "out_of_scope": out_of_scope.handle,  # only when declined with confidence
    "csat": csat.handle,
    "helpful": helpful.handle,  # "was this helpful?" votes
    "survey": survey.handle,  # CSAT, CES, NPS scores and follow-up answers
    "stop_surveys": survey.stop,  # /stop: no more surveys or follow-ups
    "link_account": link.handle,  # /start <code>, link <code>: join a verified customer
}

FALLBACK: Handler = fallback.handle

DIALOGUES: dict[str, Step] = {
    ticket.DIALOGUE: ticket.continue_dialogue,
    survey.COMMENT_DIALOGUE: survey.continue_comment,
    survey.REOPEN_DIALOGUE: survey.continue_reopened,
}
"""Every dialogue the bot runs, by name (the ``dialogues`` table stores the name)."""


def handler_for(intent: str | None) -> Handler:
    """The handler for a confident intent; anything unknown gets the fallback."""
    if intent is None:
        return FALLBACK
    if intent.startswith("faq/"):
        return faq.handle
    return HANDLERS.get(intent, FALLBACK)
