"""Files in the web chat over real HTTP and the real socket, on SQLite and PostgreSQL: a
photo uploaded, sent, stored without its metadata and shown to agents only; refusals
(size, count, type, origin, someone else's upload) in the customer's language."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site
from bot.channels.webchat_uploads import UploadLimits
from bot.i18n import Catalogue
from bot.storage.database import Database
from bot.storage.models import Attachment, AttachmentFile, Conversation, Direction, Message
from bot.tickets.business_hours import BusinessHours
from tests.support import files
from tests.support.console import PASSWORD, AgentClient, serve_console
from tests.support.desk import DeskRig, WallClock, make_rig, test_policy

CATALOGUE = Catalogue.load(default_language="en")
LANGUAGES = ("en", "gu", "te", "ka", "hi")
SITE = Site(key="shop-key", origins=("https://shop.example.com",))
LIMITS = UploadLimits(max_bytes=64 * 1024, per_hour=4)
SESSION = "upload-session-1"

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)


@asynccontextmanager
async def chat(db: Database, limits: UploadLimits = LIMITS) -> AsyncIterator[tuple[str, DeskRig]]:
    rig = await make_rig(
        db,
        channel=WebChatChannel(sites=[SITE], uploads=limits),
        clock=WallClock(),
        policy=test_policy(hours=BusinessHours.always()),
    )
    await rig.add_agent("priya", password=PASSWORD)
    async with serve_console(rig, webchat=rig.channel) as base:
        yield base, rig


async def upload(
    base: str,
    data: bytes,
    *,
    name: str = "charger.png",
    declared: str = "image/png",
    session: str = SESSION,
    query: str = "",
    origin: str | None = None,
) -> httpx.Response:
    headers = {"Content-Type": declared, "X-File-Name": name}
    headers["Origin"] = origin or base
    async with httpx.AsyncClient(base_url=base, timeout=20) as http:
        return await http.post(
            f"/webchat/upload?session={session}&lang=en{query}", content=data, headers=headers
        )


async def frames_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["type"] != kind:
        seen.append(json.loads(await ws.recv()))
    return seen


async def test_a_photo_is_sent_kept_without_metadata_and_shown_to_agents_only(
    db: Database,
) -> None:
    async with chat(db) as (base, _):
        # The browser calls it a PDF with a path for a name: the bytes and a label win.
        answer = await upload(
            base, files.png(), name="..%2F..%2Fcharger%20photo.png", declared="application/pdf"
        )
        assert answer.status_code == 201, answer.text
        assert answer.headers["x-content-type-options"] == "nosniff"
        upload_id = answer.json()["id"]
        assert answer.json()["kind"] == "photo" and answer.json()["name"] == "charger photo.png"
        assert len(upload_id) >= 32

        ws_url = base.replace("http", "ws") + f"/ws/chat?session={SESSION}&lang=en"
        async with connect(ws_url, origin=Origin(base)) as ws:
            await frames_until(ws, "history")
            await ws.send(json.dumps({"type": "message", "id": "p1", "attachment": upload_id}))
            seen = await frames_until(ws, "message")
            assert {"type": "ack", "id": "p1"} in seen
            # The bot holds the chat: it says it kept the photo and asks for words.
            assert seen[-1]["text"] == CATALOGUE.get("unsupported_content", "en")

        async with db.transaction() as session:
            stored = (await session.scalars(select(AttachmentFile))).one()
            sent = (await session.scalars(select(Attachment))).one()
            conversation = (await session.scalars(select(Conversation))).one()
        assert stored.id == upload_id and stored.mime_type == "image/png"
        assert stored.data.startswith(b"\x89PNG") and files.GPS_MARK not in stored.data
        assert (sent.kind, sent.platform_file_id, sent.file_name, sent.mime_type) == (
            "photo",
            upload_id,
            "charger photo.png",
            "image/png",
        )

        async with httpx.AsyncClient(base_url=base, timeout=20) as stranger:
            assert (await stranger.get(f"/console/files/{upload_id}")).status_code == 401
        agent = AgentClient(base)
        try:
            await agent.login("priya")
            page = await agent.http.get(f"/console/c/{conversation.id}")
            assert f'<img src="/console/files/{upload_id}"' in page.text
            served = await agent.http.get(f"/console/files/{upload_id}")
            assert served.status_code == 200
            assert served.content == stored.data
            assert served.headers["content-type"] == "image/png"
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in served.headers["content-security-policy"]
            assert "default-src 'none'" in served.headers["content-security-policy"]
            assert served.headers["content-disposition"].startswith(
                'inline; filename="charger photo.png"'
            )
            missing = await agent.http.get("/console/files/" + "x" * 32)
            assert missing.status_code == 404
        finally:
            await agent.close()


async def test_a_pdf_is_a_download_for_agents(db: Database) -> None:
    async with chat(db) as (base, _):
        answer = await upload(base, files.PDF, name="invoice%E0%A4%A8.pdf", declared="image/png")
        assert answer.status_code == 201 and answer.json()["kind"] == "document"
        upload_id = answer.json()["id"]
        ws_url = base.replace("http", "ws") + f"/ws/chat?session={SESSION}&lang=en"
        async with connect(ws_url, origin=Origin(base)) as ws:
            await frames_until(ws, "history")
            await ws.send(
                json.dumps(
                    {"type": "message", "id": "d1", "text": "my invoice", "attachment": upload_id}
                )
            )
            await frames_until(ws, "ack")
        agent = AgentClient(base)
        try:
            await agent.login("priya")
            served = await agent.http.get(f"/console/files/{upload_id}")
            assert served.headers["content-type"] == "application/pdf"
            assert served.headers["content-disposition"] == (
                "attachment; filename=\"invoice_.pdf\"; filename*=UTF-8''invoice%E0%A4%A8.pdf"
            )
            async with db.transaction() as session:
                conversation = (await session.scalars(select(Conversation))).one()
                caption = (
                    await session.scalars(select(Message).where(Message.direction == Direction.IN))
                ).one()
            assert caption.text == "my invoice"
            page = await agent.http.get(f"/console/c/{conversation.id}")
            assert f'href="/console/files/{upload_id}" download' in page.text
        finally:
            await agent.close()


@pytest.mark.parametrize("language", LANGUAGES)
async def test_refusals_are_in_the_customers_language(db: Database, language: str) -> None:
    async with chat(db) as (base, _):

        async def refused(data: bytes, declared: str = "image/png") -> httpx.Response:
            async with httpx.AsyncClient(base_url=base, timeout=20) as http:
                return await http.post(
                    f"/webchat/upload?session={SESSION}&lang={language}-IN",
                    content=data,
                    headers={"Content-Type": declared, "Origin": base},
                )

        disguised = await refused(files.HTML_AS_PNG)
        assert disguised.status_code == 415
        assert disguised.json()["message"] == CATALOGUE.get("upload_type", language)
        svg = await refused(files.SVG, "image/svg+xml")
        assert svg.status_code == 415
        big = await refused(files.png() + b"\x00" * LIMITS.max_bytes)
        assert big.status_code == 413
        assert big.json()["message"] == CATALOGUE.get("upload_too_large", language, megabytes=1)
        for _ in range(LIMITS.per_hour):
            assert (await refused(files.png())).status_code == 201
        many = await refused(files.png())
        assert many.status_code == 429
        assert many.json()["message"] == CATALOGUE.get("upload_too_many", language)
    async with db.transaction() as session:
        kept = await session.scalar(select(func.count(AttachmentFile.id)))
    assert kept == LIMITS.per_hour


async def test_other_sites_and_other_sessions_cannot_use_the_chats_files(db: Database) -> None:
    async with chat(db) as (base, _):
        evil = await upload(base, files.png(), origin="https://evil.example.com")
        assert evil.status_code == 403
        wrong_site = await upload(
            base, files.png(), origin="https://evil.example.com", query="&site=shop-key"
        )
        assert wrong_site.status_code == 403
        unknown_site = await upload(base, files.png(), query="&site=nobody-key")
        assert unknown_site.status_code == 404
        shop = await upload(
            base, files.png(), origin="https://shop.example.com", query="&site=shop-key"
        )
        assert shop.status_code == 201
        assert (await upload(base, files.png(), session="bad id!")).status_code == 400

        # Another session knows the id (say, from a shared screenshot): it cannot send it.
        ws_url = base.replace("http", "ws") + "/ws/chat?session=another-session-2&lang=en"
        async with connect(ws_url, origin=Origin(base)) as ws:
            await frames_until(ws, "history")
            await ws.send(
                json.dumps({"type": "message", "id": "x1", "attachment": shop.json()["id"]})
            )
            error = (await frames_until(ws, "error"))[-1]
            assert error["id"] == "x1" and "no such upload" in error["message"]
    async with db.transaction() as session:
        assert await session.scalar(select(func.count(Attachment.id))) == 0
        assert await session.scalar(select(func.count(Message.id))) == 0


async def test_uploads_can_be_turned_off(db: Database) -> None:
    async with chat(db, UploadLimits(enabled=False)) as (base, _):
        assert (await upload(base, files.png())).status_code == 404


async def test_uploads_racing_at_the_hourly_limit_are_counted_one_at_a_time(
    db: Database,
) -> None:
    """Three times the limit at once, over HTTP: exactly the limit is kept, the rest are
    refused (counted and inserted as one step in the database, not in one worker's view)."""
    async with chat(db) as (base, _):
        answers = await asyncio.gather(
            *(upload(base, files.png()) for _ in range(3 * LIMITS.per_hour))
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] * LIMITS.per_hour + [429] * (2 * LIMITS.per_hour), codes
    async with db.transaction() as session:
        kept = await session.scalar(select(func.count(AttachmentFile.id)))
    assert kept == LIMITS.per_hour
