"""The tickets API against its own OpenAPI document (schemathesis): for generated input,
valid and invalid, no 5xx, and every response matches the document.

The API runs in its own thread and event loop (schemathesis calls it synchronously),
on a fresh SQLite database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.nlu.rasa_server import free_port
from bot.storage.api_tokens import ApiTokenRepository
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.storage.models import Conversation
from bot.tickets.business_hours import BusinessHours
from bot.tickets.rules import TicketPolicy
from bot.tickets.service import TicketService
from bot.tickets.sla import SlaPolicy, Target
from bot.web.api import TicketApi
from tests.support.waiting import wait_until


class NoCustomers:
    """API-made tickets have no conversation: nothing is ever sent."""

    async def store_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        replies: Sequence[OutboundMessage],
        *,
        language: str | None,
        agent_id: int | None = None,
    ) -> list[int]:
        return []

    async def deliver(self, row_ids: Sequence[int]) -> int:
        return 0


class ApiThread:
    def __init__(self, url: str) -> None:
        self.url = url
        self.port = free_port()
        self.token = ""
        self.ready = threading.Event()
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        await upgrade_async(self.url)
        db = Database(self.url)
        async with db.transaction() as session:
            self.token, _ = await ApiTokenRepository(session).add("fuzz")
        hours = BusinessHours.parse(timezone="Asia/Kolkata", weekly={"mon-fri": "09:00-18:00"})
        target = Target(timedelta(hours=8), timedelta(hours=40))
        service = TicketService(
            db=db,
            line=NoCustomers(),
            catalogue=Catalogue.load(default_language="en"),
            brand="VoltCart",
            policy=TicketPolicy(SlaPolicy(hours, {"normal": target}), timedelta(hours=72)),
        )
        # A few tickets so that GET/PATCH on HD-1001.. reach real rows too.
        for n in range(3):
            await service.create(subject=f"Seed {n}", description="", priority="normal", actor="t")
        app = Starlette()
        TicketApi(service).install(app)
        server = self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        # uvicorn signals no event when it listens; its ``started`` flag is all there is.
        await wait_until(lambda: server.started, within=10, what="uvicorn listening")
        self.ready.set()
        await serving
        await db.dispose()


@pytest.fixture(scope="module")
def api_thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiThread]:
    path: Path = tmp_path_factory.mktemp("api") / "fuzz.db"
    api = ApiThread(f"sqlite+aiosqlite:///{path}")
    api.thread.start()
    assert api.ready.wait(30), "the API server did not start"
    yield api
    assert api.server is not None
    api.server.should_exit = True
    api.thread.join(10)


def operations(api: ApiThread) -> list[Any]:
    loaded = schemathesis.openapi.from_url(f"http://127.0.0.1:{api.port}/api/v1/openapi.json")
    return [result.ok() for result in loaded.get_all_operations()]  # type: ignore[union-attr]


# The schemathesis pytest plugin's lazy fixtures do not run under this pytest (9.x), so
# each operation gets a plain hypothesis run, with valid and with invalid input.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_document(api_thread: ApiThread, mode: Any) -> None:
    base = f"http://127.0.0.1:{api_thread.port}"
    headers = {"Authorization": f"Bearer {api_thread.token}"}
    # Negative cases may drop the Authorization header on purpose; the token injected
    # here puts it back, and schemathesis would then call the (now valid) request a
    # "schema-violating request accepted". No 5xx and response conformance stay checked;
    # rejection of bad input is tested case by case in tests/web/test_api.py.
    excluded = [negative_data_rejection] if mode == GenerationMode.NEGATIVE else []
    ops = operations(api_thread)
    assert len(ops) == 7  # the six ticket operations and the numbers
    for operation in ops:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, excluded_checks=excluded)

        run()
