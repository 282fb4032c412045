"""Frustration: a small, explainable rule set, not a model.

A customer message is *negative* when it shows at least one sign of anger:

- a word or phrase from the lexicon below, in any supported language (customers mix
  languages, so every list is checked, whatever the detected language);
- shouting: three or more ``!``/``?`` in a row, or a mostly upper-case Latin message
  of at least ten letters;
- an angry emoji.

The conversation is *frustrated* when the customer's latest message is negative and
so was at least one of their ``window - 1`` messages before it: one angry word is
not enough, repetition is. Then the bot stops trying and hands over to a person.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Whole words (with any ending for stems marked by a trailing \w*) in Latin script:
# "hate" must not fire inside "whatever".
LATIN = re.compile(
    r"\b("
    r"useless|terrible|awful|worst|ridiculous|stupid|idiot\w*|angry|furious|"
    r"frustrat\w*|annoy\w*|hate|rubbish|pathetic|horrible|disgusting|"
    r"unacceptable|scam|fraud|nonsense|wtf|damn\w*|"
    r"waste of (?:my )?time|not helpful|(?:does ?n[o']?t|is ?n[o']?t|not) help(?:ing|ful)?|"
    r"fed up|sick of|no use|"
    # Hindi and Gujarati as customers often type them, in Latin letters.
    r"bakwas|bekar|bekaar|faltu|bakvas|nakamu"
    r")\b",
    re.IGNORECASE,
)

# Other scripts: Python's \b does not work inside Indic words (vowel signs are not
# "word" characters), so these are plain substrings, chosen to be unambiguous.
NATIVE: dict[str, tuple[str, ...]] = {
    "hi": ("बेकार", "बकवास", "गुस्सा", "परेशान", "घटिया", "बेवकूफ", "फालतू", "मदद नहीं", "बहुत बुरा"),
    "gu": ("નકામું", "બકવાસ", "ગુસ્સો", "હેરાન", "ખરાબ", "ત્રાસ", "ફાલતુ", "મદદ નથી"),
    "te": ("పనికిరాని", "చెత్త", "కోపం", "విసుగు", "దారుణం", "అసహ్యం", "సహాయం చేయడం లేదు"),
    "ka": ("უსარგებლო", "საშინელ", "გაბრაზებ", "აბსურდ", "სისულელე", "მომბეზრდა", "ცუდი"),
}

ANGRY_EMOJI = ("😡", "🤬", "😠", "👎", "😤")
SHOUTED_PUNCTUATION = re.compile(r"[!?]{3,}")
MIN_SHOUTED_LETTERS = 10
SHOUTED_SHARE = 0.8


@dataclass(frozen=True, slots=True)
class Signs:
    """Why a message counts as negative; empty when it does not."""

    reasons: tuple[str, ...]

    @property
    def negative(self) -> bool:
        return bool(self.reasons)


def signs(text: str) -> Signs:
    reasons: list[str] = []
    match = LATIN.search(text)
    if match:
        reasons.append(f"word:{match.group(1).lower()}")
    for language, words in NATIVE.items():
        hit = next((word for word in words if word in text), None)
        if hit is not None:
            reasons.append(f"word:{language}:{hit}")
    if SHOUTED_PUNCTUATION.search(text):
        reasons.append("shouting:punctuation")
    letters = [c for c in text if c.isascii() and c.isalpha()]
    if len(letters) >= MIN_SHOUTED_LETTERS:
        upper = sum(1 for c in letters if c.isupper())
        if upper / len(letters) >= SHOUTED_SHARE:
            reasons.append("shouting:capitals")
    if any(emoji in text for emoji in ANGRY_EMOJI):
        reasons.append("emoji")
    return Signs(tuple(reasons))


def is_frustrated(latest: Signs, earlier_negative: Sequence[bool], *, window: int = 3) -> bool:
    """The latest message is negative and so was one of the ``window - 1`` before it.

    ``earlier_negative`` is newest first: the customer's previous messages.
    """
    return latest.negative and any(earlier_negative[: window - 1])
