"""Login throttling over real HTTP: parallel guesses, spraying names, forged proxy headers.

The throttle counts an attempt before the password is checked, per (address, name), per
address across names and per name across addresses; ``web.forwarded_allow_ips`` decides
whose ``X-Forwarded-For`` names the client address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError

from bot.app import proxy_options
from bot.nlu.rasa_server import free_port
from bot.settings import WebSettings
from bot.storage.database import Database
from bot.web.app import create_web_app
from bot.web.console.auth import LoginThrottle, Throttled
from tests.support.console import LOGIN_TOKEN, PASSWORD, AgentClient, make_console
from tests.support.desk import DeskRig, make_rig
from tests.support.waiting import wait_until

WRONG = "Wrong name or password."
BLOCKED = "Too many failed attempts"


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    rig = await make_rig(db)
    await rig.add_agent("priya", password=PASSWORD)
    return rig


@asynccontextmanager
async def console_server(rig: DeskRig, web: WebSettings) -> AsyncIterator[str]:
    """The console under uvicorn with the proxy options ``helpdesk run`` gives it."""

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(
        engine=rig.engine, webchat=None, readiness=readiness, console=make_console(rig)
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            **proxy_options(web),
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started or task.done(), within=10, what="uvicorn listening")
    assert server.started, task
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def login_form(client: AgentClient) -> str:
    form = await client.http.get("/console/login")
    match = LOGIN_TOKEN.search(form.text)
    assert match, form.text
    return match.group(1)


async def attempt(
    client: AgentClient, name: str, password: str, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    token = await login_form(client)
    return await client.http.post(
        "/console/login",
        data={"name": name, "password": password, "token": token},
        headers={"Origin": client.base, **(headers or {})},
    )


def outcome(response: httpx.Response) -> str:
    if response.status_code == 429 and BLOCKED in response.text:
        return "blocked"
    if response.status_code == 401 and WRONG in response.text:
        return "checked"
    return f"{response.status_code}: {response.text[:200]}"


async def test_parallel_guesses_stop_at_the_limit_before_their_passwords_are_checked(
    rig: DeskRig,
) -> None:
    async with console_server(rig, WebSettings()) as base:
        clients = [AgentClient(base) for _ in range(40)]
        tokens = [await login_form(client) for client in clients]

        async def guess(client: AgentClient, token: str, n: int) -> str:
            response = await client.http.post(
                "/console/login",
                data={"name": "priya", "password": f"guess {n}", "token": token},
                headers={"Origin": base},
            )
            return outcome(response)

        results = await asyncio.gather(
            *(guess(c, t, n) for n, (c, t) in enumerate(zip(clients, tokens, strict=True)))
        )
        # Even the right password waits out the window now.
        right = outcome(await attempt(clients[0], "priya", PASSWORD))
        for client in clients:
            await client.close()
    assert results.count("checked") == 5, results
    assert results.count("blocked") == 35
    assert right == "blocked"


async def test_spraying_many_names_from_one_address_is_throttled(rig: DeskRig) -> None:
    async with console_server(rig, WebSettings()) as base:
        client = AgentClient(base)
        results = [outcome(await attempt(client, f"agent{n}", "password1")) for n in range(40)]
        await client.close()
    limit = 20  # per address, across names
    assert results[:limit] == ["checked"] * limit
    assert results[limit:] == ["blocked"] * (40 - limit)


async def test_a_forged_forwarded_for_from_an_untrusted_peer_gets_no_more_guesses(
    rig: DeskRig,
) -> None:
    # uvicorn alone trusts X-Forwarded-For from 127.0.0.1; the default here trusts nobody.
    async with console_server(rig, WebSettings()) as base:
        client = AgentClient(base)
        results = [
            outcome(
                await attempt(
                    client, "priya", "guess", headers={"X-Forwarded-For": f"198.51.100.{n}"}
                )
            )
            for n in range(10)
        ]
        await client.close()
    assert results == ["checked"] * 5 + ["blocked"] * 5


async def test_a_configured_proxy_names_the_client(rig: DeskRig) -> None:
    web = WebSettings(forwarded_allow_ips=["127.0.0.1"])
    async with console_server(rig, web) as base:
        client = AgentClient(base)
        first = [
            outcome(
                await attempt(client, "priya", "guess", headers={"X-Forwarded-For": "203.0.113.7"})
            )
            for _ in range(6)
        ]
        # Another customer behind the same proxy is a different address: not blocked.
        other = await attempt(client, "priya", PASSWORD, headers={"X-Forwarded-For": "203.0.113.8"})
        await client.close()
    assert first == ["checked"] * 5 + ["blocked"]
    assert other.status_code == 303


def test_proxy_headers_are_off_unless_a_proxy_is_configured() -> None:
    assert proxy_options(WebSettings()) == {"proxy_headers": False}
    options: dict[str, Any] = proxy_options(WebSettings(forwarded_allow_ips=["10.0.0.0/8"]))
    assert options == {"proxy_headers": True, "forwarded_allow_ips": ["10.0.0.0/8"]}


def test_a_success_clears_the_pair_but_not_the_address() -> None:
    throttle = LoginThrottle(per_pair=2, per_address=3, per_name=10)
    throttle.begin("10.0.0.1", "a").failed()
    throttle.begin("10.0.0.1", "a").succeeded()
    throttle.begin("10.0.0.1", "a").failed()
    throttle.begin("10.0.0.1", "b").failed()
    with pytest.raises(Throttled):
        throttle.begin("10.0.0.1", "c")  # three failures from this address


def test_many_addresses_guessing_one_name_are_throttled_too() -> None:
    throttle = LoginThrottle(per_pair=5, per_address=20, per_name=4)
    for n in range(4):
        throttle.begin(f"10.0.0.{n}", "priya").failed()
    with pytest.raises(Throttled):
        throttle.begin("10.0.0.99", "priya")


def test_a_proxy_that_is_not_an_address_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="forwarded_allow_ips"):
        WebSettings(forwarded_allow_ips=["proxy.example.com"])
    assert WebSettings(forwarded_allow_ips=["*", "::1", "10.0.0.0/8"]).forwarded_allow_ips
