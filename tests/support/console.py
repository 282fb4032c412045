"""The agent console on a real socket, and an HTTP client that logs in like a browser."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx

from bot.channels.webchat import WebChatChannel
from bot.customers.linking import LinkCodes
from bot.web.app import create_web_app
from bot.web.console import Console
from bot.web.console.auth import Sessions
from tests.support.desk import DeskRig
from tests.support.server import serve

PASSWORD = "correct horse battery"
CSRF = re.compile(r'<meta name="csrf" content="([^"]+)">')
LOGIN_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def make_console(rig: DeskRig, *, secure_cookies: bool | None = None) -> Console:
    sessions = Sessions(
        db=rig.db,
        secret_key="test-console-secret",
        lifetime=timedelta(hours=8),
        clock=rig.clock,
        secure_cookies=secure_cookies,
    )
    return Console(desk=rig.desk, sessions=sessions)


@asynccontextmanager
async def serve_console(
    rig: DeskRig,
    *,
    webchat: WebChatChannel | None = None,
    secure_cookies: bool | None = None,
    links: LinkCodes | None = None,
) -> AsyncIterator[str]:
    """The whole web app (console, and the web chat if given); yields ``http://host:port``."""

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(
        engine=rig.engine,
        webchat=webchat,
        readiness=readiness,
        console=make_console(rig, secure_cookies=secure_cookies),
        links=links,
    )
    async with serve(app) as address:
        yield f"http://{address}"


class AgentClient:
    """An agent's browser, as far as HTTP goes: cookies, the login form, the CSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=20)
        self.csrf = ""

    async def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.http.get("/console/login")
        match = LOGIN_TOKEN.search(form.text)
        assert match, form.text
        response = await self.http.post(
            "/console/login",
            data={"name": name, "password": password, "token": match.group(1)},
            headers={"Origin": self.base},
        )
        if response.status_code == 303:
            page = await self.http.get("/console/")
            found = CSRF.search(page.text)
            assert found, page.text
            self.csrf = found.group(1)
        return response

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        csrf: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        fields = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.http.post(
            path, data=fields, headers={"Origin": self.base, **(headers or {})}
        )

    async def close(self) -> None:
        await self.http.aclose()


async def console_page(rig: DeskRig, path: str, *, agent: str = "priya") -> str:
    """One console page as ``agent`` (already added with the test password) sees it."""
    async with serve_console(rig) as base:
        client = AgentClient(base)
        try:
            assert (await client.login(agent)).status_code == 303
            return (await client.http.get(path)).text
        finally:
            await client.close()
