"""The webhook endpoint: Telegram POSTs updates here (``setWebhook`` with a secret token).

A request without the matching ``X-Telegram-Bot-Api-Secret-Token`` gets 403 and is not
read. A good one is answered 200 only once the update is stored, never later than that
(the reply is computed afterwards): any other answer makes Telegram send it again. A
body that is not an update, or an update with fields of the wrong type, gets 400
(Telegram never sends one; a retry could not fix it), a body over 1 MiB 413.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from telegram import Bot, Update

from bot.channels.telegram.inbound import MalformedUpdate
from bot.channels.telegram.polling import TelegramDelivery

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1 << 20
STORE_TIMEOUT_S = 30.0
"""How long a request waits for its update to be stored before asking Telegram to re-send."""


class WebhookEndpoint:
    """The Starlette endpoint; ``queue`` is the Application's update queue."""

    def __init__(
        self,
        *,
        secret: str,
        bot: Bot,
        queue: asyncio.Queue[Any],
        ready: Callable[[], bool],
    ) -> None:
        self._secret = secret.encode()
        self._bot = bot
        self._queue = queue
        self._ready = ready

    async def handle(self, request: Request) -> Response:
        """The route handler (a method: Starlette treats a callable object as an ASGI app)."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return PlainTextResponse("wrong or missing secret token", status_code=403)
        if not self._ready():
            return PlainTextResponse("starting; send it again later", status_code=503)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPDATE_BYTES:
                return PlainTextResponse("update too large", status_code=413)
        update = self._parse(bytes(body))
        if update is None:
            return PlainTextResponse("not a Telegram update", status_code=400)
        delivery = TelegramDelivery(update)
        await self._queue.put(delivery)
        try:
            await asyncio.wait_for(asyncio.shield(delivery.stored), STORE_TIMEOUT_S)
        except TimeoutError:
            return PlainTextResponse("still storing; send it again", status_code=503)
        except MalformedUpdate:
            return PlainTextResponse("not a Telegram update", status_code=400)
        except Exception:
            return PlainTextResponse("could not store the update", status_code=500)
        return Response(status_code=200)

    def _parse(self, body: bytes) -> Update | None:
        try:
            data = json.loads(body)
            # python-telegram-bot trusts the shape: a string where an object belongs raises
            # AttributeError or TypeError, a date of 10**20 OverflowError, deep nesting
            # RecursionError. Whatever parsing raises, the body was not an update.
            update = Update.de_json(data, self._bot) if isinstance(data, dict) else None
        except Exception as exc:
            log.debug("webhook body refused: %s: %s", type(exc).__name__, exc)
            return None
        if update is None or type(update.update_id) is not int:
            return None
        return update
