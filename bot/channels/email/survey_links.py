"""Signed links that answer a survey from a mail: one per score, yes/no, "don't ask again".

A mail cannot carry buttons, and a numbered reply is one more mail to write. Each answer
becomes a link to the bot's public page ``/survey/<request>/<value>?e=<expiry>&s=<sig>``,
where ``sig`` is an HMAC-SHA256 (key from the environment, ``SURVEY_LINK_SECRET``) over
the request, the value and the expiry: nobody can answer someone else's survey, change
the score in the address, or use the link after it expires. The page records the answer
once (``bot/web/survey_page.py``). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

from bot.commands import STOP, parse_survey
from bot.messages import Button

__all__ = ["STOP_VALUE", "SurveyLinks"]

STOP_VALUE = "stop"
"""The value of the "don't ask me again" link (the ``/stop`` button in a chat)."""


class SurveyLinks:
    def __init__(
        self,
        *,
        base_url: str,
        secret: bytes,
        valid_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("survey links need a secret")
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self.valid_s = valid_s
        self._clock = clock

    def url(self, request_id: int, value: str) -> str:
        expires = int(self._clock() + self.valid_s)
        query = urlencode({"e": expires, "s": self.signature(request_id, value, expires)})
        return f"{self.base_url}/survey/{request_id}/{value}?{query}"

    def signature(self, request_id: int, value: str, expires: int) -> str:
        signed = f"survey:{request_id}:{value}:{expires}".encode()
        return hmac.new(self._secret, signed, hashlib.sha256).hexdigest()

    def valid(self, request_id: int, value: str, expires: str, signature: str) -> bool:
        """The link's signature checks out and it has not expired."""
        if not expires.isdigit() or len(signature) != 64:
            return False
        expected = self.signature(request_id, value, int(expires))
        return hmac.compare_digest(expected, signature) and int(expires) >= self._clock()

    def for_buttons(self, buttons: tuple[Button, ...]) -> dict[str, str] | None:
        """A link for each button of a survey question (payload -> URL), or ``None`` when
        the buttons are not a survey's: those stay numbered choices."""
        answers = [parse_survey(b.payload) for b in buttons]
        request_ids = {a.request_id for a in answers if a is not None}
        if len(request_ids) != 1:
            return None
        [request_id] = request_ids
        links: dict[str, str] = {}
        for button, answer in zip(buttons, answers, strict=True):
            if answer is not None:
                links[button.payload] = self.url(request_id, answer.value)
            elif button.payload == STOP:
                links[button.payload] = self.url(request_id, STOP_VALUE)
            else:
                return None
        return links
