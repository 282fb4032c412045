"""The web chat's part in linking accounts: a verified session is offered "Continue on
Telegram" and gets a deep link; the shop's server gets a code with the signed identity;
identity refusals reach the customer in their language, with the reason beside it."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bot.channels import ChannelRegistry
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site
from bot.customers.linking import LinkCodes, code_hash, looks_like_code
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.storage.database import Database
from bot.storage.link_codes import LinkCodeRepository
from bot.storage.models import Customer
from bot.web.app import create_web_app
from tests.conftest import TEST_KB, engine_options
from tests.support.desk import ScriptedNlu
from tests.support.identity import customer_token, user_hash
from tests.support.server import serve

SECRET = b"shop secret"
SITE = Site(key="shop-key", origins=("https://shop.example.com",), secret=SECRET)
SHOP = Origin("https://shop.example.com")
CATALOGUE = Catalogue.load(default_language="en")
LANGUAGES = ("en", "gu", "te", "ka", "hi")


async def app_with_links(db: Database, links: LinkCodes | None) -> Starlette:
    channel = WebChatChannel(sites=[SITE])
    registry = ChannelRegistry()
    registry.add(channel)
    engine = Engine(
        db=db,
        nlu=ScriptedNlu(),
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=CATALOGUE,
        channels=registry,
        options=engine_options(),
    )
    await channel.start(engine.receive)

    async def ready() -> dict[str, object]:
        return {"ready": True}

    return create_web_app(engine=engine, webchat=channel, readiness=ready, links=links)


async def frame(ws: ClientConnection, payload: dict[str, object]) -> dict[str, object]:
    await ws.send(json.dumps(payload))
    answer: dict[str, object] = json.loads(await ws.recv())
    return answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_refused_identity_is_told_in_the_customers_language(db: Database) -> None:
    async with serve(await app_with_links(db, None)) as address:
        for language in LANGUAGES:
            url = f"ws://{address}/ws/chat?session=session-{language}-1&site=shop-key"
            async with connect(f"{url}&lang={language}-IN", origin=SHOP) as ws:
                assert json.loads(await ws.recv())["type"] == "history"
                for token, why in [
                    (customer_token(SECRET, ttl_s=-300), "expired"),
                    (customer_token(b"forged"), "bad signature"),
                ]:
                    refused = await frame(ws, {"type": "identify", "token": token})
                    assert refused["message"] == CATALOGUE.get("identity_refused", language)
                    assert why in str(refused["detail"])
    texts = {CATALOGUE.get("identity_refused", language) for language in LANGUAGES}
    assert len(texts) == len(LANGUAGES)  # five translations, not English five times


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_a_verified_session_is_offered_telegram_and_slack(db: Database) -> None:
    links = LinkCodes(db, telegram_username=lambda: "VoltCartBot", slack=True)
    async with serve(await app_with_links(db, links)) as address:
        url = f"ws://{address}/ws/chat?session=session-anon-1&site=shop-key&lang=hi"
        async with connect(url, origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            # Not signed in: nothing to link, and asking gets told why.
            asked = await frame(ws, {"type": "link", "channel": "telegram"})
            assert asked == {"type": "error", "message": CATALOGUE.get("link_needs_sign_in", "hi")}
            unsigned = await frame(ws, {"type": "identify", "name": "Asha"})
            assert unsigned == {"type": "identity", "verified": False, "name": "Asha"}
        url = f"ws://{address}/ws/chat?session=session-asha-1&site=shop-key&lang=en"
        async with connect(url, origin=SHOP) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            token = customer_token(SECRET, name="Asha Patel", locale="gu")
            identity = await frame(ws, {"type": "identify", "token": token})
            assert identity["links"] == [
                {"channel": "telegram", "label": CATALOGUE.get("link_continue_telegram", "gu")},
                {"channel": "slack", "label": CATALOGUE.get("link_continue_slack", "gu")},
            ]
            telegram = await frame(ws, {"type": "link", "channel": "telegram"})
            code = str(telegram["code"])
            assert looks_like_code(code)
            assert telegram["url"] == f"https://t.me/VoltCartBot?start={code}"
            slack = await frame(ws, {"type": "link", "channel": "slack"})
            assert slack["url"] is None and slack["text"] == f"link {slack['code']}"
            assert slack["message"] == CATALOGUE.get(
                "link_slack_send", "gu", brand="VoltCart", minutes=15, text=slack["text"]
            )
            refused = await frame(ws, {"type": "link", "channel": "whatsapp"})
            assert refused["type"] == "error"
    async with db.transaction() as session:
        found = await LinkCodeRepository(session).find(code_hash(code))
        assert found is not None
        customer = await session.get(Customer, found.customer_id)
        assert customer is not None and customer.external_id == "shop-key:42"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_shops_server_gets_a_code_with_the_signed_identity(db: Database) -> None:
    links = LinkCodes(db, telegram_username=lambda: "VoltCartBot")
    app = await app_with_links(db, links)
    async with serve(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        signed = {"site": "shop-key", "channel": "telegram"}
        ok = await http.post("/webchat/link", json={**signed, "token": customer_token(SECRET)})
        assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
        assert ok.json()["url"] == f"https://t.me/VoltCartBot?start={ok.json()['code']}"
        by_hash = {**signed, "user_id": "42", "user_hash": user_hash("42", SECRET)}
        assert (await http.post("/webchat/link", json=by_hash)).status_code == 200
        for body, status in [
            ({**signed, "token": customer_token(b"forged")}, 403),
            ({**signed, "token": customer_token(SECRET, ttl_s=-300)}, 403),
            ({**signed, "user_id": "42", "name": "Asha"}, 403),  # nobody signed it
            ({**signed, "site": "nobody-key", "token": customer_token(SECRET)}, 404),
            ({**signed, "channel": "slack", "token": customer_token(SECRET)}, 404),
        ]:
            refused = await http.post("/webchat/link", json=body)
            assert refused.status_code == status, body
        assert (await http.post("/webchat/link", content=b"[")).status_code == 400
    async with db.transaction() as session:
        customers = list(await session.scalars(select(Customer.external_id)))
    assert customers == ["shop-key:42"]  # one verified customer, made once
