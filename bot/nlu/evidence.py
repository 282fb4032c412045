"""The bot's own intents claim a message only on their own evidence.

The core intents are trained on ~50 examples each in five languages; an admin's FAQ
entry has three to five questions. A message near both ("any update on where my parcel
is?") then often goes to the intent with the broader cloud of examples
(``ticket_status``), although nothing in it names a ticket. So four intents must show
their evidence in the text itself, in any of the supported languages or in Latin
letters as customers type Hindi and Gujarati:

- ``ticket_status``: a ticket reference (``HD-1234``) or a word for ticket or complaint;
- ``human_handoff``: a word for a person (not "in person"), an agent, customer care;
- ``feedback``: no "how do I" question (asking how to do something is a request, not
  an opinion), unless it names feedback, a rating or a suggestion;
- ``create_ticket``: a word for ticket or complaint, or for a problem to report (a
  problem, an issue, a grievance, "report", "escalate"). "I want to register" or "I
  want to cancel my order" in a few words sits near "I want to register a complaint",
  but is a request an FAQ answers.

Without it the intent is struck from the ranking and the rest is renormalised: the
runner-up (often the right FAQ) is then judged by the usual thresholds
(:mod:`bot.nlu.decision`). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.nlu.client import IntentScore, ParseResult

# Latin-script words take word boundaries; Indic and Georgian ones are substrings (Python's
# \b does not work inside Indic words, and Georgian words take suffixes).
_TICKET = re.compile(
    r"\bHD[-\s]?\d+|\b(tickets?|complaints?|complain|case (?:number|id)|shikayat|fariyad|"
    r"kampl[ae]int)\b",
    re.IGNORECASE,
)
_TICKET_NATIVE = (
    "ટિકિટ", "ફરિયાદ", "કમ્પ્લેન", "કંપ્લેન",
    "టికెట్", "ఫిర్యాదు", "కంప్లైంట్",
    "ტიკეტ", "საჩივარ", "საჩივრ", "მომართვ",
    "टिकट", "शिकायत", "कंप्लेंट", "कम्प्लेंट",
)  # fmt: skip

# What a customer asks a ticket for, besides naming one: a problem to report.
_REPORT = re.compile(
    r"\b(report|reporting|problems?|issues?|grievances?|escalat\w*|(?<!in )case|samasya|"
    r"samasyaa|dikkat|pareshani|taklif|takleef)\b",
    re.IGNORECASE,
)
_REPORT_NATIVE = (
    "સમસ્યા", "પ્રોબ્લેમ", "રિપોર્ટ", "તકલીફ",
    "సమస్య", "ప్రాబ్లమ్", "ప్రాబ్లెమ్", "రిపోర్ట్", "ఇబ్బంది",
    "პრობლემ", "შეტყობინ",
    "समस्या", "दिक्कत", "प्रॉब्लम", "प्रोब्लम", "रिपोर्ट", "परेशानी", "तकलीफ",
)  # fmt: skip

_PERSON = re.compile(
    r"\b((?<!in )person|people|human|humans|agents?|representatives?|rep|someone|somebody|anyone|"
    r"staff|executive|operator|customer (?:care|service|support)|support team|live chat|"
    r"manager|call me|insaan|insan|aadmi|admi|banda|vyakti|manas|maanas|manishi|evaraina\w*)\b",
    re.IGNORECASE,
)
_PERSON_NATIVE = (
    "માણસ", "વ્યક્તિ", "એજન્ટ", "કસ્ટમર કેર", "પ્રતિનિધિ", "સભ્ય", "કોઈ",
    "మనిషి", "వ్యక్తి", "ఏజెంట్", "కస్టమర్ కేర్", "ప్రతినిధి", "ఎవరైనా", "ఎవరితో",
    "ადამიან", "ოპერატორ", "აგენტ", "წარმომადგენ", "თანამშრომ", "ვინმე",
    "इंसान", "व्यक्ति", "एजेंट", "कस्टमर केयर", "प्रतिनिधि", "किसी से", "आदमी", "स्टाफ",
)  # fmt: skip

_HOW = re.compile(r"\b(how|kaise|kaisey|kese|kevi rite|kem karu|ela)\b", re.IGNORECASE)
_HOW_NATIVE = ("કેવી રીતે", "કઈ રીતે", "ఎలా", "როგორ", "कैसे")
_OPINION = re.compile(r"\b(feedback|rate|rating|stars?|suggest\w*|review)\b", re.IGNORECASE)
_OPINION_NATIVE = ("ફીડબેક", "સૂચન", "ఫీడ్‌బ్యాక్", "సూచన", "გამოხმაურ", "შემოთავაზ", "फीडबैक", "सुझाव")


def _has(text: str, pattern: re.Pattern[str], native: tuple[str, ...]) -> bool:
    return pattern.search(text) is not None or any(word in text for word in native)


def has_evidence(intent: str, text: str) -> bool:
    """Whether ``text`` shows what ``intent`` needs (any other intent needs nothing)."""
    if intent == "ticket_status":
        return _has(text, _TICKET, _TICKET_NATIVE)
    if intent == "human_handoff":
        return _has(text, _PERSON, _PERSON_NATIVE)
    if intent == "feedback":
        return not _has(text, _HOW, _HOW_NATIVE) or _has(text, _OPINION, _OPINION_NATIVE)
    if intent == "create_ticket":
        return _has(text, _TICKET, _TICKET_NATIVE) or _has(text, _REPORT, _REPORT_NATIVE)
    return True


def require_evidence(result: ParseResult) -> ParseResult:
    """``result`` with the intents that lack their evidence struck and the rest renormalised.

    Commands and results whose ranking holds nothing else are returned as they are. The
    similarity signal belongs to the struck intent, so it is dropped with it.
    """
    if result.from_command or result.intent is None or has_evidence(result.intent, result.text):
        return result
    kept = tuple(s for s in result.ranking if has_evidence(s.name, result.text))
    total = sum(s.confidence for s in kept)
    if not kept or total <= 0:
        return result
    ranking = tuple(IntentScore(s.name, s.confidence / total) for s in kept)
    return replace(
        result,
        intent=ranking[0].name,
        confidence=ranking[0].confidence,
        ranking=ranking,
        similarity=None,
    )
