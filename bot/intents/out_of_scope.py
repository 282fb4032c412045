"""``out_of_scope``, said with confidence: a polite "not something I can help with".

The weather, a joke, the capital of Peru: the model is sure the question is not for a
shop's support bot (:data:`bot.nlu.decision.Action.DECLINE`). That is an answer, not a
failure to understand, so the bot says what it can help with, offers a few topics of
the knowledge base as buttons and a person on request, and neither queues the chat
nor counts the turn towards a hand-off.
"""

from __future__ import annotations

from collections import Counter

from bot.commands import HUMAN, faq_payload
from bot.intents.context import TurnContext
from bot.knowledge.loader import FaqEntry, KnowledgeBase
from bot.messages import Button, InboundMessage, OutboundMessage

TOPICS = 3
"""Topic buttons under the reply (a person's button comes after them)."""


def top_topics(kb: KnowledgeBase, limit: int = TOPICS) -> list[FaqEntry]:
    """One entry for each of the knowledge base's biggest tags, in file order.

    The biggest tags are what the knowledge base is mostly about; the first entry of
    each is the one its authors put first. Entries without tags count as their own.
    """
    entries = list(kb)
    sizes = Counter(tag for entry in entries for tag in entry.tags[:1])
    order = {tag: i for i, tag in reversed(list(enumerate(e.tags[0] for e in entries if e.tags)))}
    tags = sorted(sizes, key=lambda tag: (-sizes[tag], order[tag]))
    chosen: list[FaqEntry] = []
    for tag in tags:
        first = next(e for e in entries if e.tags[:1] == (tag,))
        chosen.append(first)
        if len(chosen) == limit:
            return chosen
    chosen += [e for e in entries if not e.tags][: limit - len(chosen)]
    return chosen


async def handle(message: InboundMessage, ctx: TurnContext) -> list[OutboundMessage]:
    buttons = tuple(
        Button(entry.title_in(ctx.language, ctx.default_language), faq_payload(entry.id))
        for entry in top_topics(ctx.kb)
    )
    buttons += (Button(ctx.phrase("talk_to_person"), HUMAN),)
    return [ctx.say("out_of_scope", buttons=buttons)]
