"""Sites that embed the chat: their settings, origins, the frame's headers, the socket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from bot.app import embedding_sites
from bot.channels import ChannelRegistry
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site, site_map
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.settings import ConfigError, WebchatSettings, WebchatSiteSettings, load_settings
from bot.storage.database import Database
from bot.web.app import create_web_app
from tests.conftest import TEST_KB, engine_options
from tests.support.desk import ScriptedNlu
from tests.support.identity import customer_token
from tests.support.server import serve

SHOP = Site(key="shop-key", origins=("https://shop.example.com",))


def test_a_site_allows_its_origins_and_the_bots_own_frame_only() -> None:
    assert SHOP.allows("https://shop.example.com", host="bot.example.com")
    assert SHOP.allows("https://SHOP.example.com/", host="bot.example.com")
    assert SHOP.allows("https://bot.example.com", host="bot.example.com")  # the frame
    assert not SHOP.allows("https://evil.example.com", host="bot.example.com")
    assert not SHOP.allows("http://shop.example.com", host="bot.example.com")  # scheme
    assert not SHOP.allows("https://shop.example.com:8443", host="bot.example.com")
    assert SHOP.frame_ancestors() == "https://shop.example.com"


def test_a_site_key_overrides_the_global_allowed_origins() -> None:
    channel = WebChatChannel(allowed_origins=["*"], sites=[SHOP])
    assert channel.origin_allowed("https://evil.example.com", host="bot", site=None)
    assert not channel.origin_allowed("https://evil.example.com", host="bot", site=SHOP)


def test_site_settings_are_checked() -> None:
    site = WebchatSiteSettings(key="shop-key", origins=["https://Shop.example.com/"])
    assert site.origins == ["https://shop.example.com"]
    for origins in (
        ["https://shop.example.com/path"],
        ["shop.example.com"],
        ["*"],
        ["https://a.com; script-src *"],
        [],
    ):
        with pytest.raises(ValueError):
            WebchatSiteSettings(key="shop-key", origins=origins)
    with pytest.raises(ValueError):
        WebchatSiteSettings(key="k", origins=["https://a.com"])  # too short to be a key
    with pytest.raises(ValueError):
        WebchatSiteSettings(key="shop-key", origins=["https://a.com"], secret_env="lower")
    with pytest.raises(ValueError, match="more than once"):
        WebchatSettings(sites=[site, site])
    with pytest.raises(ValueError):
        site_map([SHOP, SHOP])


def test_secrets_come_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "channels:\n  webchat:\n    sites:\n"
        "      - key: shop-key\n        origins: [https://shop.example.com]\n"
        "        secret_env: SHOP_WIDGET_SECRET\n"
    )
    settings, _ = load_settings(config)
    sites = settings.channels.webchat.sites
    monkeypatch.delenv("SHOP_WIDGET_SECRET", raising=False)
    with pytest.raises(ConfigError, match="SHOP_WIDGET_SECRET"):
        embedding_sites(sites)
    monkeypatch.setenv("SHOP_WIDGET_SECRET", "s3cret")
    (site,) = embedding_sites(sites)
    assert site.secret == b"s3cret"
    assert "s3cret" not in repr(site)
    config.write_text(config.read_text().replace("secret_env", "secret"))
    with pytest.raises(ConfigError):
        load_settings(config)  # a secret in the file is not a key at all


async def app_with_sites(db: Database, *sites: Site) -> Starlette:
    channel = WebChatChannel(sites=sites)
    registry = ChannelRegistry()
    registry.add(channel)
    engine = Engine(
        db=db,
        nlu=ScriptedNlu(),
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=engine_options(),
    )

    await channel.start(engine.receive)

    async def ready() -> dict[str, object]:
        return {"ready": True}

    return create_web_app(engine=engine, webchat=channel, readiness=ready)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_frame_names_the_sites_origins_as_frame_ancestors(db: Database) -> None:
    app = await app_with_sites(db, SHOP)
    async with serve(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        embed = await http.get("/embed", params={"site": "shop-key"})
        assert embed.status_code == 200
        policy = embed.headers["content-security-policy"]
        assert "frame-ancestors https://shop.example.com" in policy
        assert "script-src 'self'" in policy
        assert "x-frame-options" not in embed.headers  # it cannot name another site
        assert 'id="chat-close"' in embed.text

        unknown = await http.get("/embed", params={"site": "nobody-key"})
        assert unknown.status_code == 404
        assert "frame-ancestors 'none'" in unknown.headers["content-security-policy"]
        assert (await http.get("/embed")).status_code == 404

        snippet = await http.get("/widget.js")
        assert snippet.status_code == 200
        assert snippet.headers["content-type"].startswith("text/javascript")
        assert "data-site-key" in snippet.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_socket_answers_to_the_sites_origins(db: Database) -> None:
    async with serve(await app_with_sites(db, SHOP)) as address:
        url = f"ws://{address}/ws/chat?session=session-123&site="
        for origin, site in [
            ("https://shop.example.com", "shop-key"),
            (f"http://{address}", "shop-key"),  # the bot's own frame
        ]:
            async with connect(url + site, origin=Origin(origin)) as ws:
                assert json.loads(await ws.recv())["type"] == "history"
        for origin, site in [
            ("https://evil.example.com", "shop-key"),
            ("https://shop.example.com", "nobody-key"),
            (f"http://{address}", "nobody-key"),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url + site, origin=Origin(origin)):
                    pass
            assert refused.value.response.status_code == 403


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
async def test_the_socket_verifies_the_identity_a_page_presents(db: Database) -> None:
    secret = b"shop secret"
    site = Site(key="shop-key", origins=("https://shop.example.com",), secret=secret)
    async with serve(await app_with_sites(db, site)) as address:
        url = f"ws://{address}/ws/chat?session=session-456&site=shop-key"
        async with connect(url, origin=Origin("https://shop.example.com")) as ws:
            assert json.loads(await ws.recv())["type"] == "history"
            for token, why in [
                (customer_token(secret, ttl_s=-300), "expired"),
                (customer_token(b"forged"), "bad signature"),
            ]:
                await ws.send(json.dumps({"type": "identify", "token": token}))
                refused = json.loads(await ws.recv())
                assert refused["type"] == "error"
                assert why in refused["detail"]  # the developer's reason; the customer's
                assert refused["message"] == Catalogue.load().get("identity_refused", "en")
            await ws.send(
                json.dumps({"type": "identify", "token": customer_token(secret, name="Asha")})
            )
            assert json.loads(await ws.recv()) == {
                "type": "identity",
                "verified": True,
                "name": "Asha",
            }
            # The session still chats after refusals.
            await ws.send(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
            assert json.loads(await ws.recv()) == {"type": "ack", "id": "m1"}
