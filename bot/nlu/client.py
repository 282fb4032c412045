"""Understanding a message: the NLU protocol, the Rasa HTTP client, and commands as results.

The Rasa model is trained with one intent per FAQ entry, named ``faq__<id>`` (Rasa
reserves ``/`` for retrieval intents); this module maps them to ``faq/<id>``, the
name the rest of the bot and the evaluation format use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bot import commands
from bot.nlu.language import LanguageGuess, detect_language

__all__ = [
    "LanguageGuess",
    "NluClient",
    "NluError",
    "NluResponseError",
    "NluUnavailable",
    "ParseResult",
    "RasaClient",
    "detect_language",
    "parse_command",
]

FAQ_PREFIX = "faq/"
RASA_FAQ_PREFIX = "faq__"
OUT_OF_SCOPE = "out_of_scope"


class NluError(Exception):
    """The NLU could not answer; the engine degrades instead of failing the message."""


class NluUnavailable(NluError):
    """Connection refused, timeout, or the server is still loading its model."""


class NluResponseError(NluError):
    """The server answered, but not with a parse result (bad token, 5xx, bad JSON)."""


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: str | None
    confidence: float
    ranking: tuple[IntentScore, ...] = ()
    entities: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    from_command: bool = False
    similarity: float | None = None
    """Cosine similarity of the message to the nearest training example of ``intent``,
    when the model reports it (bot/nlu_components); ``None`` for stock pipelines."""

    @property
    def faq_id(self) -> str | None:
        if self.intent and self.intent.startswith(FAQ_PREFIX):
            return self.intent[len(FAQ_PREFIX) :]
        return None

    def faq_guesses(self, limit: int = 2) -> list[str]:
        """The best-ranked FAQ ids, for "did you mean" suggestions."""
        ids = [s.name[len(FAQ_PREFIX) :] for s in self.ranking if s.name.startswith(FAQ_PREFIX)]
        return ids[:limit]

    def as_json(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "ranking": [
                {"name": s.name, "confidence": round(s.confidence, 4)} for s in self.ranking
            ],
            "command": self.from_command,
            **({"similarity": round(self.similarity, 4)} if self.similarity is not None else {}),
        }


class NluClient(Protocol):
    async def parse(self, text: str) -> ParseResult: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


def bot_intent_name(rasa_name: str) -> str:
    if rasa_name.startswith(RASA_FAQ_PREFIX):
        return FAQ_PREFIX + rasa_name[len(RASA_FAQ_PREFIX) :]
    return rasa_name


def rasa_intent_name(bot_name: str) -> str:
    if bot_name.startswith(FAQ_PREFIX):
        return RASA_FAQ_PREFIX + bot_name[len(FAQ_PREFIX) :]
    return bot_name


class RasaClient:
    """Rasa's HTTP API over one shared connection pool, with timeouts and typed errors."""

    def __init__(self, base_url: str, *, token: str | None, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._params = {"token": token} if token else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    async def parse(self, text: str) -> ParseResult:
        data = await self._request("POST", "/model/parse", json={"text": text})
        return _to_result(text, data)

    async def ready(self) -> bool:
        """True once the server answers and has a model loaded."""
        try:
            status = await self._request("GET", "/status")
        except NluError:
            return False
        return bool(status.get("model_file"))

    async def load_model(self, model_path: str) -> None:
        """Hot-swap the served model (Rasa loads the new one, then replaces the old)."""
        await self._request("PUT", "/model", json={"model_file": model_path}, expect_json=False)

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, *, json: Any = None, expect_json: bool = True
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, params=self._params, json=json)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise NluUnavailable(
                f"Rasa at {self.base_url} unreachable: {type(exc).__name__}"
            ) from exc
        if response.status_code in (502, 503, 504) or response.status_code == 409:
            raise NluUnavailable(f"Rasa at {self.base_url} not ready: HTTP {response.status_code}")
        if response.status_code >= 400:
            raise NluResponseError(
                f"Rasa {method} {path} failed: HTTP {response.status_code}: {response.text[:200]}"
            )
        if not expect_json:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise NluResponseError(f"Rasa {method} {path}: response is not JSON") from exc
        if not isinstance(data, dict):
            raise NluResponseError(f"Rasa {method} {path}: unexpected response shape")
        return data


def _to_result(text: str, data: dict[str, Any]) -> ParseResult:
    intent = data.get("intent") or {}
    name = intent.get("name")
    ranking = tuple(
        IntentScore(bot_intent_name(str(item["name"])), float(item.get("confidence", 0.0)))
        for item in data.get("intent_ranking") or []
        if item.get("name")
    )
    return ParseResult(
        text=text,
        intent=bot_intent_name(str(name)) if name else None,
        confidence=float(intent.get("confidence") or 0.0),
        ranking=ranking,
        entities=tuple(data.get("entities") or ()),
        similarity=_similarity(data),
    )


SIGNALS_KEY = "helpdesk_signals"
"""Where our Rasa classifier puts its extra signals in the parse response."""


def _similarity(data: dict[str, Any]) -> float | None:
    signals = data.get(SIGNALS_KEY)
    if not isinstance(signals, dict):
        return None
    value = signals.get("similarity")
    return float(value) if isinstance(value, int | float) else None


def parse_command(text: str, *, payload: str | None = None) -> ParseResult | None:
    """A button press or slash command as a certain result (it skips the model), or None.

    ``/human``, ``/faq order_status``, ``/status HD-1042`` as typed or pressed; a rating
    (``/csat N``) or a vote (``/helpful <id> yes|no``) only from a pressed button's
    ``payload`` (the grammar is :mod:`bot.commands`).
    """
    said = payload or text
    score = commands.parse_csat(payload)
    if score is not None:
        return _certain(said, "csat", {"score": str(score)})
    answer = commands.parse_survey(payload)
    if answer is not None:
        return _certain(
            said, "survey", {"request_id": str(answer.request_id), "value": answer.value}
        )
    vote = commands.parse_helpful(payload)
    if vote is not None:
        values = {"message_id": str(vote.question_id), "vote": "yes" if vote.helpful else "no"}
        return _certain(said, "helpful", values)
    code = commands.parse_link(said)
    if code is not None:
        return _certain(said, "link_account", {"argument": code})
    command = commands.parse(said)
    if command is None:
        return None
    intent = FAQ_PREFIX + command.faq_id if command.faq_id else command.intent
    if intent is None:
        return None
    return _certain(said, intent, {"argument": command.argument} if command.argument else {})


def _certain(text: str, intent: str, entities: dict[str, str]) -> ParseResult:
    return ParseResult(
        text=text,
        intent=intent,
        confidence=1.0,
        ranking=(IntentScore(intent, 1.0),),
        entities=tuple({"entity": name, "value": value} for name, value in entities.items()),
        from_command=True,
    )
