"""One grammar for what a customer sends that is not words: slash commands and buttons.

A command is ``/name`` with an optional argument (``/status HD-1042``, ``/faq
order_status``); Telegram may add the bot's handle (``/help@VoltCartBot``). A button's
payload is a command too, sent back when the customer presses it; the factories below
build every payload the bot puts on a button, and the parsers read them back:

- ``/csat N`` (1-5): the rating asked for after an agent or a ticket resolved the chat;
- ``/helpful <message id> yes|no``: the vote under an FAQ answer;
- ``/survey <request id> <answer>``: a survey's score (``/survey 12 4``) or a follow-up's
  ``yes`` / ``no`` (bot/surveys/); ``/stop``: no more surveys or follow-ups;
- ``/faq <id>``: a "did you mean" guess; ``/human``: talk to a person;
- ``/cancel``: leave an open dialogue;
- ``/start <code>`` (Telegram's deep link), ``/link <code>`` or ``link <code>`` (typed in
  Slack, where ``/link`` would be Slack's own command): join this account to the verified
  customer who was given the code (bot/customers/linking.py). The bot redeems a code
  even while a person has the chat (:func:`link_code`): it is a secret, not words for them.

A message *is a command* when it came from a button or starts with ``/``; such messages
skip frustration signs, open dialogues and ticket follow-ups (:func:`is_command`).
Pure values: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messages import Button

__all__ = [
    "CANCEL",
    "COMMAND_INTENTS",
    "CSAT_SCORES",
    "HUMAN",
    "MAX_ROW_ID",
    "STOP",
    "Command",
    "HelpfulVote",
    "SurveyAnswer",
    "answers_resolved_chat",
    "csat_buttons",
    "csat_payload",
    "faq_payload",
    "helpful_payload",
    "is_command",
    "link_code",
    "parse",
    "parse_csat",
    "parse_helpful",
    "parse_link",
    "parse_survey",
    "survey_payload",
]

CANCEL = "/cancel"
HUMAN = "/human"
STOP = "/stop"
CSAT_SCORES = (1, 2, 3, 4, 5)

_SLASH = re.compile(r"^/(?P<name>[a-z_]+)(?:@\w+)?(?:\s+(?P<arg>.*))?$", re.DOTALL)
_CSAT = re.compile(r"^/csat ([1-5])$")
_SURVEY = re.compile(r"^/survey (\d{1,10}) (10|[0-9]|yes|no)$")
_HELPFUL = re.compile(r"^/helpful (\d{1,10}) (yes|no)$")
_CODE = r"[A-Za-z2-7]{20}"  # a link code (bot/customers/linking.py), typed in either case
_LINK_TEXT = re.compile(rf"^link\s+({_CODE})$", re.IGNORECASE)
_LINK_ARGUMENT = re.compile(rf"^{_CODE}$")
MAX_ROW_ID = 2**31 - 1
"""The largest id a button may name: an INTEGER column's (PostgreSQL's is 32 bits). A
payload comes back from the customer's side, so a bigger number is someone's invention."""

COMMAND_INTENTS = {
    "start": "greet",
    "help": "greet",
    "human": "human_handoff",
    "agent": "human_handoff",
    "ticket": "create_ticket",
    "status": "ticket_status",
    "feedback": "feedback",
    "stop": "stop_surveys",
    "other": "deny",  # "Something else": not about the open ticket the bot asked about
    "link": "link_account",
}
"""Typed commands and the intent each names: they skip the model, saying exactly what
they mean. ``/faq <id>`` names the FAQ entry instead (:attr:`Command.faq_id`)."""


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed ``/name argument``; ``argument`` is empty when there is none."""

    name: str
    argument: str = ""

    @property
    def intent(self) -> str | None:
        """The bot intent a typed command names, or ``None`` (see :attr:`faq_id`)."""
        if self.name == "start" and self.argument:
            return "link_account"  # a deep link's parameter; anything but a code greets
        return COMMAND_INTENTS.get(self.name)

    @property
    def faq_id(self) -> str | None:
        """The FAQ entry ``/faq <id>`` asks for."""
        if self.name == "faq" and self.argument:
            return self.argument.split()[0]
        return None


@dataclass(frozen=True, slots=True)
class HelpfulVote:
    """A pressed "was this helpful?" button: the customer message it is about, and the vote."""

    question_id: int
    helpful: bool


def is_command(text: str, payload: str | None = None) -> bool:
    """Whether the customer chose (a button, a slash command) rather than wrote."""
    return payload is not None or text.lstrip().startswith("/") or parse_link(text) is not None


def parse_link(text: str | None) -> str | None:
    """The code of a typed ``link <code>`` (as Slack users send it), or ``None``."""
    match = _LINK_TEXT.match((text or "").strip())
    return match[1].lower() if match else None


def link_code(text: str | None) -> str | None:
    """The code of a link command, ``/start <code>``, ``/link <code>`` or ``link <code>``
    whose argument is shaped like a code, or ``None`` (a plain ``/start`` greets)."""
    typed = parse_link(text)
    if typed is not None:
        return typed
    command = parse(text)
    if command is None or command.name not in ("start", "link"):
        return None
    return command.argument.lower() if _LINK_ARGUMENT.match(command.argument) else None


def parse(text: str | None) -> Command | None:
    """``/status HD-1042`` -> ``Command("status", "HD-1042")``; anything else -> ``None``."""
    match = _SLASH.match((text or "").strip())
    if match is None:
        return None
    return Command(match["name"], (match["arg"] or "").strip())


def csat_payload(score: int) -> str:
    if score not in CSAT_SCORES:
        raise ValueError(f"a CSAT score is 1 to 5, not {score}")
    return f"/csat {score}"


def csat_buttons() -> tuple[Button, ...]:
    """The 1-5 star buttons under the rating question (the desk's and the tickets')."""
    return tuple(Button(f"{score} ★", csat_payload(score)) for score in CSAT_SCORES)


def parse_csat(payload: str | None) -> int | None:
    """The score of a pressed CSAT button, or ``None``."""
    match = _CSAT.match(payload or "")
    return int(match.group(1)) if match else None


def helpful_payload(question_id: int, *, helpful: bool) -> str:
    return f"/helpful {question_id} {'yes' if helpful else 'no'}"


def parse_helpful(payload: str | None) -> HelpfulVote | None:
    """A pressed "was this helpful?" button, or ``None``."""
    match = _HELPFUL.match(payload or "")
    if match is None or int(match.group(1)) > MAX_ROW_ID:
        return None
    return HelpfulVote(int(match.group(1)), match.group(2) == "yes")


def faq_payload(faq_id: str) -> str:
    return f"/faq {faq_id}"


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    """A pressed survey button: the request it answers, and a score or ``yes`` / ``no``."""

    request_id: int
    value: str

    @property
    def score(self) -> int | None:
        return int(self.value) if self.value.isdigit() else None


def survey_payload(request_id: int, value: int | str) -> str:
    return f"/survey {request_id} {value}"


def parse_survey(payload: str | None) -> SurveyAnswer | None:
    """A pressed survey or follow-up button, or ``None``."""
    match = _SURVEY.match(payload or "")
    if match is None or int(match.group(1)) > MAX_ROW_ID:
        return None
    return SurveyAnswer(int(match.group(1)), match.group(2))


def answers_resolved_chat(payload: str | None) -> bool:
    """A rating or a survey answer: it answers the resolved chat, it does not reopen it."""
    return parse_csat(payload) is not None or parse_survey(payload) is not None
