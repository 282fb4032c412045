"""``POST /webchat/upload``: a photo or PDF from the widget, kept for the chat's agents.

The widget sends the file's bytes as the body (``Content-Type`` as the browser guesses
it, the name percent-encoded in ``X-File-Name``), with the session, site key and
language in the query, as its socket does; the same ``Origin`` rule applies. The answer
is the upload's id, which the widget then sends in a ``message`` frame
(``{"type": "message", "id": ..., "text": caption, "attachment": upload_id}``): only the
session that uploaded a file can send it. A refusal says why in the customer's language
(``message``), with the reason for developers beside it (``detail``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_uploads import UploadRefused, accept
from bot.engine.pipeline import Engine
from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.models import utcnow
from bot.web.webchat import LANGUAGE, SESSION
from bot.web.webchat_links import reply_language

log = logging.getLogger(__name__)

HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
WINDOW = timedelta(hours=1)


async def upload_endpoint(request: Request, channel: WebChatChannel, engine: Engine) -> Response:
    limits = channel.uploads
    session = request.query_params.get("session", "")
    lang = request.query_params.get("lang")
    language = reply_language(engine.catalogue, lang if lang and LANGUAGE.match(lang) else None)

    def refuse(status: int, reason: str, detail: str) -> JSONResponse:
        megabytes = max(1, limits.max_bytes // (1024 * 1024))
        message = engine.catalogue.get(reason, language, megabytes=megabytes)
        return JSONResponse(
            {"error": reason, "message": message, "detail": detail},
            status_code=status,
            headers=HEADERS,
        )

    if not limits.enabled:
        return JSONResponse({"error": "uploads are off"}, status_code=404, headers=HEADERS)
    if not SESSION.match(session):
        return JSONResponse({"error": "missing or malformed session id"}, status_code=400)
    site_key = request.query_params.get("site")
    site = channel.sites.get(site_key) if site_key is not None else None
    if site_key is not None and site is None:
        return JSONResponse({"error": "unknown site key"}, status_code=404, headers=HEADERS)
    if not channel.origin_allowed(
        request.headers.get("origin"), host=request.headers.get("host"), site=site
    ):
        return JSONResponse(
            {"error": "this site may not send files to the chat"}, status_code=403, headers=HEADERS
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        return refuse(413, "upload_too_large", f"larger than {limits.max_bytes} bytes")
    # A cheap look before reading the body; the count that decides is taken with the insert.
    async with engine.db.transaction() as db:
        recent = await AttachmentFileStore(db).count_since(
            channel=channel.name, conversation_key=session, since=utcnow() - WINDOW
        )
    if recent >= limits.per_hour:
        return refuse(429, "upload_too_many", f"{limits.per_hour} files an hour at most")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_bytes:
                return refuse(413, "upload_too_large", f"larger than {limits.max_bytes} bytes")
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        accepted = accept(
            bytes(body),
            declared_name=unquote(request.headers.get("x-file-name", ""))[:1000],
            limits=limits,
        )
    except UploadRefused as exc:
        status = 413 if exc.reason == "upload_too_large" else 415
        return refuse(status, exc.reason, str(exc))
    # Uploads racing at the limit (one chat, several workers) are counted one at a time.
    async with engine.db.transaction() as db:
        row = await AttachmentFileStore(db).add_within(
            channel=channel.name,
            conversation_key=session,
            since=utcnow() - WINDOW,
            limit=limits.per_hour,
            file_name=accepted.file_name,
            mime_type=accepted.file_type.mime_type,
            data=accepted.data,
        )
    if row is None:
        return refuse(429, "upload_too_many", f"{limits.per_hour} files an hour at most")
    log.info("web chat upload %s: %s, %d bytes", row.id[:6], row.mime_type, row.size_bytes)
    return JSONResponse(
        {
            "id": row.id,
            "name": row.file_name,
            "kind": accepted.file_type.kind,
            "size": row.size_bytes,
        },
        status_code=201,
        headers=HEADERS,
    )
