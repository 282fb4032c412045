"""The web chat's side of linking accounts, and its customer-facing identity refusals.

A verified session (the shop signed its customer) is offered "Continue on Telegram" and
"Continue on Slack" in its ``identity`` frame; a ``link`` frame asks for a fresh code
(:mod:`bot.customers.linking`). The shop's own server gets the same code from
``POST /webchat/link`` by presenting the customer's signed identity, as its pages do.

A refused identity (forged, expired, another customer's chat) is told to the customer in
their language; the exact reason stays beside it as ``detail``, in English, for the
shop's developers.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.channels.webchat import FrameError, WebChatChannel
from bot.channels.webchat_identity import IdentityRefused, identity_of
from bot.customers import CustomerDirectory, Known
from bot.customers.linking import LinkCodes, NotLinkable
from bot.i18n import Catalogue

MAX_BODY = 8 * 1024


class ChatTaken(FrameError):
    """The session belongs to another verified customer (``IdentityConflict``)."""


def reply_language(catalogue: Catalogue, hint: str | None) -> str:
    """The catalogue language for a page's ``lang`` (``hi-IN`` -> ``hi``)."""
    base = (hint or "").replace("_", "-").split("-")[0].lower()
    return base if base and catalogue.has(base) else catalogue.default_language


def error_frame(exc: FrameError, catalogue: Catalogue, language: str) -> dict[str, object]:
    """An ``error`` frame: identity refusals in the customer's words, others as before."""
    if isinstance(exc, IdentityRefused):
        text = catalogue.get("identity_refused", language)
        return {"type": "error", "message": text, "detail": str(exc)}
    if isinstance(exc, ChatTaken):
        text = catalogue.get("identity_conflict", language)
        return {"type": "error", "message": text, "detail": str(exc)}
    return {"type": "error", "message": str(exc)}


def identity_frame(
    known: Known, links: LinkCodes | None, catalogue: Catalogue, language: str
) -> dict[str, object]:
    """What the widget learns about its customer; a verified one may continue elsewhere."""
    frame: dict[str, object] = {"type": "identity", "verified": known.verified, "name": known.name}
    if known.verified and links is not None and links.channels():
        frame["links"] = [
            {"channel": channel, "label": catalogue.get(f"link_continue_{channel}", language)}
            for channel in links.channels()
        ]
    return frame


async def link_frame(
    frame: dict[str, Any],
    *,
    known: Known | None,
    links: LinkCodes | None,
    catalogue: Catalogue,
    language: str,
    brand: str,
) -> dict[str, object]:
    """The answer to ``{"type": "link", "channel": ...}``: a code, or why not."""
    channel = frame.get("channel")
    if known is None or not known.verified:
        return {"type": "error", "message": catalogue.get("link_needs_sign_in", language)}
    if links is None or not isinstance(channel, str) or channel not in links.channels():
        return {"type": "error", "message": f"no link to {str(channel)[:32]!r} here"}
    try:
        offer = await links.offer(known.customer_id, channel)
    except NotLinkable as exc:
        return {"type": "error", "message": str(exc)}
    minutes = max(1, round(links.ttl.total_seconds() / 60))
    if offer.url is not None:
        message = catalogue.get(f"link_continue_{channel}", language)
    else:
        message = catalogue.get(
            "link_slack_send", language, brand=brand, minutes=minutes, text=offer.text
        )
    return {"type": "link", **offer.as_json(), "message": message}


async def link_endpoint(
    request: Request, channel: WebChatChannel, links: LinkCodes | None, directory: CustomerDirectory
) -> Response:
    """``POST /webchat/link``: the shop's server, with its customer's signed identity
    (``token``, or ``user_id`` + ``user_hash``) and a site key, gets a link code."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "body too large")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "the body must be JSON")
    if not isinstance(data, dict):
        return _error(400, "the body must be a JSON object")
    site = channel.sites.get(str(data.get("site", "")))
    if site is None:
        return _error(404, "unknown site key")
    wanted = data.get("channel")
    if links is None or not isinstance(wanted, str) or wanted not in links.channels():
        return _error(404, "no link codes for this channel here")
    try:
        identity = identity_of(data, secret=site.secret, now=time.time())
    except FrameError as exc:
        return _error(403, str(exc))
    if not identity.verified:
        return _error(403, "identity refused: sign the customer (token, or user_id + user_hash)")
    known = await directory.vouched(namespace=site.key, identity=identity)
    offer = await links.offer(known.customer_id, wanted)
    return JSONResponse(offer.as_json(), headers={"Cache-Control": "no-store"})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
