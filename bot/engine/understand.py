"""The understand step: language, NLU (or a command) and frustration signs, read once per turn.

NLU work is bounded: the model reads the first ``max_parse_chars`` of a message, and at
most ``max_concurrent_parses`` parses are in flight, the rest waiting first come, first
served. A conversation's turns run one at a time, so one customer has one parse queued at
most: a flood of long messages from many sessions cannot starve the others.

It runs outside any transaction (the NLU is an HTTP call) and makes the turn's one
decision (:func:`bot.nlu.decision.decide`): the later steps act on it and the stored
message records it. A command or button press skips the model; a photo without a
caption, or a message an open dialogue takes, is not read at all.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from bot.commands import is_command
from bot.engine.frustration import signs
from bot.engine.turn import EngineOptions, Understanding
from bot.i18n import Catalogue
from bot.knowledge.loader import KnowledgeBase
from bot.messages import InboundMessage
from bot.nlu.client import NluClient, NluError, ParseResult, parse_command
from bot.nlu.decision import decide
from bot.nlu.language import LanguageGuess, detect_language

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads customer messages with one NLU client against one knowledge base."""

    nlu: NluClient
    kb: KnowledgeBase
    catalogue: Catalogue
    options: EngineOptions
    parses: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))
    """Shared by every turn of the engine (``max_concurrent_parses``)."""

    def language(self, inbound: InboundMessage, previous: str | None) -> LanguageGuess:
        """The message's language; ``previous`` (the conversation's) breaks near ties."""
        return detect_language(
            inbound.text,
            previous=previous,
            hint=inbound.language_hint,
            supported=list(self.options.languages),
            default=self.options.default_language,
        )

    async def read(
        self, inbound: InboundMessage, previous_language: str | None, *, read: bool = True
    ) -> Understanding:
        """Everything the later steps need to know about the message.

        ``read=False``: an open dialogue takes the message, so the NLU is not asked.
        """
        guess = self.language(inbound, previous_language)
        reply_language = (
            guess.language if self.catalogue.has(guess.language) else self.options.default_language
        )
        # A photo, sticker or location without a caption: nothing for the NLU to read.
        content_only = not inbound.text.strip()
        skip = content_only or not read
        result, nlu_error = (None, None) if skip else await self._parse(inbound)
        chose = is_command(inbound.text, inbound.payload)
        negative = None if content_only or chose else signs(inbound.text)
        decision = None
        if result is not None:
            kb = self.kb
            decision = decide(
                result,
                thresholds=self.options.thresholds,
                known_faq=lambda faq_id: kb.get(faq_id) is not None,
            )
        return Understanding(
            guess, reply_language, result, nlu_error, negative, content_only, decision
        )

    async def _parse(self, inbound: InboundMessage) -> tuple[ParseResult | None, str | None]:
        command = parse_command(inbound.text, payload=inbound.payload)
        if command is not None:
            return command, None
        try:
            async with self.parses:
                return await self.nlu.parse(inbound.text[: self.options.max_parse_chars]), None
        except NluError as exc:
            # The message is already stored; the customer gets an honest reply instead.
            log.error("NLU failed for %s/%s: %s", inbound.channel, inbound.conversation_key, exc)
            return None, str(exc)
