"""Shared fixtures: real databases (SQLite and PostgreSQL), a real Rasa server, the pipeline."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.channels import ChannelRegistry
from bot.channels.webchat import WebChatChannel
from bot.engine.pipeline import Engine, EngineOptions
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import RasaClient
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import configured
from bot.nlu.training import compile_project, train
from bot.settings import Settings, load_settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.storage.models import Base
from bot.web.app import create_web_app
from tests.support.fake_channel import FakeChannel
from tests.support.server import serve

ROOT = Path(__file__).resolve().parent.parent
TEST_KB = ROOT / "tests" / "fixtures" / "kb"
# Trained models are cached by input hash: an unchanged test KB never retrains.
MODEL_CACHE = ROOT / ".cache" / "models"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def project_settings() -> Settings:
    settings, _ = load_settings(ROOT / "config.yml")
    return settings


# --- databases ---------------------------------------------------------------------------


async def _pg_reachable(url: str) -> str | None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    problem = await _pg_reachable(base)
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL unreachable at {base} under CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable at {base}: {problem}")
    name = f"helpdesk_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(base)

    async def create_or_drop(sql: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    await create_or_drop(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name).render_as_string(hide_password=False)
    await upgrade_async(url)
    yield url
    await create_or_drop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'helpdesk.db'}"
    await upgrade_async(url)
    return url


async def _empty_tables(db: Database) -> None:
    async with db.transaction() as session:
        if db.url.startswith("postgresql"):
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await session.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    # Resolved here, outside the event loop: the async fixtures behind it need their own turn.
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """The same test on SQLite and on PostgreSQL, each starting from empty tables."""
    database = Database(db_url)
    await _empty_tables(database)
    yield database
    await database.dispose()


# --- Rasa ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def test_model() -> Path:
    """The test knowledge base's model, trained once and cached by input hash."""
    settings = project_settings()
    kb = LiveKnowledgeBase(TEST_KB, default_language="en")
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=ROOT / ".cache" / "build-test-kb"
    )
    return await train(
        project, models_dir=MODEL_CACHE, rasa_venv=ROOT / ".venv-rasa", progress=print
    )


@pytest.fixture(scope="session")
async def rasa(test_model: Path) -> AsyncIterator[RasaSupervisor]:
    """One real Rasa server for the session, serving the test model."""
    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa", model=test_model, log_file=ROOT / ".cache" / "rasa-test.log"
    )
    await supervisor.start()
    try:
        await supervisor.wait_ready(240)
        yield supervisor
    finally:
        await supervisor.stop()


# --- the pipeline -------------------------------------------------------------------------


def engine_options() -> EngineOptions:
    settings = project_settings()
    return EngineOptions(
        brand="VoltCart",
        default_language="en",
        languages=("en", "gu", "te", "ka", "hi"),
        thresholds=configured(settings.nlu),
        low_confidence_turns=2,
    )


class Pipeline:
    """The whole bot wired as ``helpdesk run`` wires it, with a FakeChannel."""

    def __init__(self, engine: Engine, channel: FakeChannel, db: Database) -> None:
        self.engine = engine
        self.channel = channel
        self.db = db


def make_engine(db: Database, nlu: RasaClient, channel: FakeChannel) -> Engine:
    registry = ChannelRegistry()
    registry.add(channel)
    return Engine(
        db=db,
        nlu=nlu,
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=engine_options(),
    )


@pytest.fixture
async def pipeline(db: Database, rasa: RasaSupervisor) -> AsyncIterator[Pipeline]:
    channel = FakeChannel()
    nlu = rasa.client()
    engine = make_engine(db, nlu, channel)
    await channel.start(engine.receive)
    yield Pipeline(engine, channel, db)
    await nlu.close()


@pytest.fixture
async def web(db: Database, rasa: RasaSupervisor) -> AsyncIterator[tuple[str, Engine]]:
    """The web app on a real socket (web chat channel, real Rasa); yields its address."""
    channel = WebChatChannel()
    registry = ChannelRegistry()
    registry.add(channel)
    nlu = rasa.client()
    engine = Engine(
        db=db,
        nlu=nlu,
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=engine_options(),
    )
    await channel.start(engine.receive)

    async def readiness() -> dict[str, object]:
        ready = await nlu.ready()
        return {"ready": ready, "nlu": ready}

    app = create_web_app(engine=engine, webchat=channel, readiness=readiness)
    async with serve(app) as address:
        yield address, engine
    await nlu.close()
