"""What the web app tells browsers and who may read /metrics: CSP and frame-ancestors
on the chat page, the metrics token and networks."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from bot.channels.webchat import WebChatChannel
from bot.reports.metrics import metrics_route
from bot.settings import Settings, WebSettings
from bot.storage.database import Database
from bot.web.app import create_web_app
from tests.support.server import serve


async def ready() -> dict[str, object]:
    return {"ready": True}


async def get(app: Starlette, path: str, **headers: str) -> httpx.Response:
    async with serve(app) as address, httpx.AsyncClient() as http:
        return await http.get(f"http://{address}{path}", headers=headers)


# --- /metrics -----------------------------------------------------------------------------


async def test_metrics_are_served_to_loopback_by_default(db: Database) -> None:
    response = await get(Starlette(routes=[metrics_route(db)]), "/metrics")
    assert response.status_code == 200
    assert "helpdesk_queue_length" in response.text


async def test_metrics_outside_the_networks_without_a_token_get_403(db: Database) -> None:
    app = Starlette(routes=[metrics_route(db, networks=["10.0.0.0/8"])])
    response = await get(app, "/metrics")
    assert response.status_code == 403
    assert "helpdesk_" not in response.text


async def test_metrics_with_a_token_need_it_as_bearer(db: Database) -> None:
    app = Starlette(routes=[metrics_route(db, token="scrape-s3cret", networks=[])])
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = await get(app, "/metrics", **headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    for scheme in ("Bearer", "bearer"):
        response = await get(app, "/metrics", Authorization=f"{scheme} scrape-s3cret")
        assert response.status_code == 200
        assert "helpdesk_queue_length" in response.text


def test_metrics_networks_must_be_networks() -> None:
    with pytest.raises(ValueError, match="metrics_networks"):
        Settings.model_validate({"admin": {"metrics_networks": ["not a network"]}})
    assert Settings().admin.metrics_networks == ["127.0.0.0/8", "::1/128"]


# --- the chat page's headers --------------------------------------------------------------


async def page(**options: object) -> httpx.Response:
    app = create_web_app(engine=None, webchat=WebChatChannel(), readiness=ready, **options)  # type: ignore[arg-type]
    return await get(app, "/")


async def test_the_chat_page_sends_a_csp_and_may_be_framed_by_itself_only() -> None:
    response = await page()
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_frame_ancestors_let_a_shop_embed_the_chat() -> None:
    shops = ["https://shop.example.com", "https://*.example.org"]
    response = await page(frame_ancestors=shops)
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors https://shop.example.com https://*.example.org" in csp
    assert "x-frame-options" not in response.headers  # it cannot name other sites
    denied = await page(frame_ancestors=["'none'"])
    assert denied.headers["x-frame-options"] == "DENY"


def test_frame_ancestors_cannot_smuggle_directives() -> None:
    for bad in ("https://a.example; script-src *", "https://a.example, x", "a b", ""):
        with pytest.raises(ValueError, match="frame_ancestors"):
            WebSettings(frame_ancestors=[bad])
