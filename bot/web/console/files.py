"""``/console/files/{id}``: a file a customer sent in the web chat, for logged-in agents.

The bytes are a stranger's, so the answer is built so that a browser can only show them
as what they were checked to be: the sniffed type (never the declared one) with
``nosniff``, a CSP that lets the file run nothing (``sandbox``, nothing loads), and
``Content-Disposition``: ``inline`` for photos (the conversation shows them), an
``attachment`` (a download) for PDFs, so a PDF never opens inside the console's origin.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.database import Database
from bot.web.console.auth import Sessions
from bot.web.console.pages import secure

FILE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
"""What a file may do when opened on its own: nothing but be looked at (Chromium shows
an image opened alone in a small page of its own styles, hence ``style-src``)."""
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def disposition(kind: str, file_name: str) -> str:
    """``inline``/``attachment`` with the name in both forms (RFC 6266): an ASCII
    fallback with anything unusual replaced, and the UTF-8 one percent-encoded."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in file_name
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


async def file_response(request: Request, *, sessions: Sessions, db: Database) -> Response:
    login = await sessions.current(request)
    if login is None:
        return secure(Response("login required", status_code=401))
    async with db.transaction() as session:
        row = await AttachmentFileStore(session).get(request.path_params["file_id"])
    if row is None:
        return secure(Response("no such file", status_code=404))
    inline = row.mime_type in INLINE_TYPES
    return Response(
        row.data,
        media_type=row.mime_type,
        headers={
            "Content-Disposition": disposition("inline" if inline else "attachment", row.file_name),
            "Content-Security-Policy": FILE_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "private, no-store",
        },
    )
