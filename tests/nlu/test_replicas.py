"""Several Rasa replicas as one NLU, and model keeping for them.

The first replica is the session's real Rasa server (tests/conftest.py); the second is a
small real HTTP server that speaks the same endpoints (tests/support/fake_rasa.py), so a
test can see which replica answered, stop it and start it again; a dead replica is a
closed port.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.app import build_helpdesk
from bot.channels.webchat import WebChatChannel
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import NluUnavailable, RasaClient
from bot.nlu.kb_watch import KnowledgeWatcher, Retrainer
from bot.nlu.model_keeping import ModelKeeper
from bot.nlu.rasa_server import RasaSupervisor, free_port
from bot.nlu.replicas import RasaReplicas
from bot.nlu.training import compile_project, model_path
from bot.reports.metrics import MeteredNlu
from bot.settings import NluSettings, Secrets, Settings
from tests.conftest import MODEL_CACHE, ROOT, TEST_KB, project_settings
from tests.support.fake_rasa import INTENT, FakeRasa
from tests.support.waiting import wait_until

ORDER_QUESTION = "how can I track my order"


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


@pytest.fixture
async def fake(rasa: RasaSupervisor) -> AsyncIterator[FakeRasa]:
    """A second replica that takes the real server's token."""
    replica = FakeRasa(token=rasa.token)
    await replica.start()
    yield replica
    await replica.stop()


@pytest.fixture
async def fake_alone() -> AsyncIterator[FakeRasa]:
    """A replica with no model loaded yet (a Rasa started on an empty model store)."""
    replica = FakeRasa(token="t0ken", model_file=None)
    await replica.start()
    yield replica
    await replica.stop()


def nlu_settings(tmp_path: Path, *, models_dir: Path) -> NluSettings:
    return project_settings().nlu.model_copy(
        update={
            "models_dir": models_dir,
            "build_dir": tmp_path / "build",
            "rasa_venv": ROOT / ".venv-rasa",
        }
    )


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.rasa
async def test_parses_spread_over_the_replicas_in_turn(
    rasa: RasaSupervisor, fake: FakeRasa
) -> None:
    replicas = RasaReplicas([rasa.url, fake.url], token=rasa.token)
    try:
        results = [await replicas.parse(ORDER_QUESTION) for _ in range(6)]
    finally:
        await replicas.close()
    assert [r.intent for r in results] == ["faq/order_status", INTENT] * 3
    assert fake.parses == [ORDER_QUESTION] * 3


@pytest.mark.rasa
async def test_a_dead_replica_costs_the_caller_no_error(rasa: RasaSupervisor) -> None:
    dead = dead_url()
    replicas = RasaReplicas([dead, rasa.url, dead_url()], token=rasa.token)
    try:
        results = [await replicas.parse(ORDER_QUESTION) for _ in range(5)]
        assert [r.intent for r in results] == ["faq/order_status"] * 5
        assert not replicas.is_up(dead) and replicas.is_up(rasa.url)
        assert await replicas.ready() is True
    finally:
        await replicas.close()


async def test_a_replica_with_no_model_yet_is_skipped(fake_alone: FakeRasa) -> None:
    other = FakeRasa(token="t0ken")
    await other.start()
    replicas = RasaReplicas([fake_alone.url, other.url], token="t0ken")
    try:
        results = [await replicas.parse("hello") for _ in range(4)]
    finally:
        await replicas.close()
        await other.stop()
    assert [r.intent for r in results] == [INTENT] * 4
    assert fake_alone.parses == [] and len(other.parses) == 4


async def test_all_replicas_dead_is_nlu_unavailable() -> None:
    replicas = RasaReplicas([dead_url(), dead_url()], token="x", timeout_s=1)
    try:
        for _ in range(3):  # also once every replica is in its back-off
            with pytest.raises(NluUnavailable, match="no Rasa replica answered"):
                await replicas.parse("hello")
        assert await replicas.ready() is False
    finally:
        await replicas.close()


@pytest.mark.rasa
async def test_a_replica_that_comes_back_is_used_again(
    rasa: RasaSupervisor, fake: FakeRasa
) -> None:
    replicas = RasaReplicas(
        [fake.url, rasa.url], token=rasa.token, backoff_s=0.2, max_backoff_s=0.4
    )
    try:
        await fake.stop()  # the replica dies
        results = [await replicas.parse(ORDER_QUESTION) for _ in range(4)]
        assert [r.intent for r in results] == ["faq/order_status"] * 4
        assert not replicas.is_up(fake.url)

        await fake.start()  # ... and comes back on its address

        async def reached_again() -> bool:
            await replicas.parse(ORDER_QUESTION)
            return bool(fake.parses)

        await wait_until(reached_again, within=10, what="a parse on the replica that came back")
        assert replicas.is_up(fake.url)
    finally:
        await replicas.close()


@pytest.mark.rasa
async def test_two_real_replicas_one_killed_mid_stream(
    rasa: RasaSupervisor, test_model: Path
) -> None:
    second = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa",
        model=test_model,
        log_file=ROOT / ".cache" / "rasa-test-replica.log",
    )
    second.token = rasa.token  # one token for the replicas, as in a deployment
    await second.start()
    replicas = RasaReplicas([rasa.url, second.url], token=rasa.token, max_backoff_s=2.0)
    try:
        await second.wait_ready(240)
        intents = [(await replicas.parse(ORDER_QUESTION)).intent for _ in range(4)]
        second.kill()  # as a crash; its supervisor starts it again
        intents += [(await replicas.parse(ORDER_QUESTION)).intent for _ in range(8)]
        assert intents == ["faq/order_status"] * 12  # no parse failed
        killed = replicas.replicas[1]
        assert killed.failures >= 1  # parses met the dead replica and went on to the other

        async def used_again() -> bool:
            await replicas.parse(ORDER_QUESTION)
            return second.restarts == 1 and killed.failures == 0

        await wait_until(used_again, within=240, every=0.5, what="the restarted replica used")
    finally:
        await replicas.close()
        await second.stop()


# --- models --------------------------------------------------------------------------------


@pytest.mark.rasa
async def test_load_model_reaches_every_live_replica_and_parses_skip_the_loading_one(
    rasa: RasaSupervisor, fake: FakeRasa, test_model: Path, tmp_path: Path
) -> None:
    # The same model under another name: the real server really loads a file.
    copy = tmp_path / f"nlu-copy-{uuid.uuid4().hex[:8]}.tar.gz"
    shutil.copyfile(test_model, copy)
    dead = dead_url()
    replicas = RasaReplicas([rasa.url, fake.url, dead], token=rasa.token)
    real = replicas.replicas[0]
    try:
        loading = asyncio.create_task(replicas.keep_model(str(copy)))
        await wait_until(
            lambda: real.loading, within=30, every=0.002, what="the real replica loading"
        )
        # Rasa answers nothing while it loads: this worker's parses go to the other replica.
        during = await replicas.parse(ORDER_QUESTION)
        assert during.intent == INTENT
        report = await loading
        assert report.loaded == [rasa.url, fake.url] and report.down == [dead]
        assert await replicas.served_model(real) == copy.name
        assert fake.loads == [str(copy)] and fake.model_file == copy.name
        answers = {(await replicas.parse(ORDER_QUESTION)).intent for _ in range(2)}
        assert answers == {"faq/order_status", INTENT}  # the real one serves the new file

        # Every live replica serves it already: nothing is loaded again.
        await replicas.load_model(str(copy))
        assert fake.loads == [str(copy)]
    finally:
        await replicas.load_model(str(test_model.resolve()))  # as the session started
        await replicas.close()


async def test_load_model_with_every_replica_down_is_an_error() -> None:
    replicas = RasaReplicas([dead_url(), dead_url()], token="x")
    try:
        with pytest.raises(NluUnavailable, match="no rasa replica is up"):
            await replicas.load_model("/models/nlu-x.tar.gz")
    finally:
        await replicas.close()


@pytest.mark.rasa
async def test_keeper_reloads_a_replica_serving_another_model(
    rasa: RasaSupervisor, fake: FakeRasa, test_model: Path, tmp_path: Path
) -> None:
    # The fake replica "restarted" with an older model; the real one serves the current one.
    assert fake.model_file == "nlu-old.tar.gz"
    replicas = RasaReplicas([rasa.url, fake.url], token=rasa.token)
    kb = LiveKnowledgeBase(TEST_KB, default_language="en")
    keeper = ModelKeeper(kb, nlu_settings(tmp_path, models_dir=MODEL_CACHE), replicas)
    try:
        report = await keeper.keep_once()
        assert report.model == test_model and report.trained is False  # no new training
        assert report.swap.current == [rasa.url] and report.swap.loaded == [fake.url]
        assert fake.loads == [str(test_model.resolve())]
        assert await replicas.served_model(replicas.replicas[0]) == test_model.name

        again = await keeper.keep_once()  # nothing to do the next time
        assert again.swap.current == [rasa.url, fake.url] and len(fake.loads) == 1
    finally:
        await replicas.close()


@pytest.mark.rasa
async def test_keeper_trains_a_missing_model_and_loads_it(
    fake_alone: FakeRasa, tmp_path: Path
) -> None:
    # An empty shared model store and a replica that started without a model: one real
    # training (about a minute on a busy machine).
    models = tmp_path / "models"
    replicas = RasaReplicas([fake_alone.url], token="t0ken")
    kb = LiveKnowledgeBase(TEST_KB, default_language="en")
    keeper = ModelKeeper(kb, nlu_settings(tmp_path, models_dir=models), replicas)
    try:
        assert await replicas.ready() is False
        report = await keeper.keep_once()
        assert report.trained is True and report.model.parent == models
        assert report.model.exists()
        assert fake_alone.loads == [str(report.model.resolve())]
        assert report.swap.loaded == [fake_alone.url]
        assert await replicas.ready() is True
    finally:
        await replicas.close()


# --- the watcher on a cluster's workers -----------------------------------------------------


class Loader:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def load_model(self, model_path: str) -> None:
        self.calls.append(model_path)


def add_question(kb_dir: Path) -> None:
    path = kb_dir / "shop.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["faqs"][0]["questions"]["en"].append("is my parcel on its way yet")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize("leader", [False, True])
async def test_only_the_leader_retrains_while_every_worker_reloads(
    tmp_path: Path, leader: bool
) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(TEST_KB, kb_dir)
    pipeline = [{"name": "unused"}]
    loader = Loader()
    retrainer = Retrainer(
        pipeline=pipeline,
        build_dir=tmp_path / "build",
        models_dir=tmp_path / "models",
        rasa_venv=ROOT / ".venv-rasa",
        loader=loader,
    )
    asked: list[bool] = []

    async def may_retrain() -> bool:
        asked.append(leader)
        return leader

    kb = LiveKnowledgeBase(kb_dir, default_language="en")
    watcher = KnowledgeWatcher(kb, retrainer=retrainer, may_retrain=may_retrain)
    add_question(kb_dir)
    # The model of the edited knowledge base is in the shared store already (another
    # worker's training, say), so the leader's retrain only loads it.
    edited = LiveKnowledgeBase(kb_dir, default_language="en").current
    project = compile_project(edited, pipeline=pipeline, build_dir=tmp_path / "probe")
    model = model_path(project, tmp_path / "models")
    model.parent.mkdir()
    model.write_bytes(b"model")
    try:
        assert await watcher.check() is True
        await watcher.wait_idle()
    finally:
        await watcher.stop()
    assert asked == [leader]
    entry = kb.current.get("order_status")
    assert entry is not None and "is my parcel on its way yet" in entry.questions["en"]
    assert loader.calls == ([str(model.resolve())] if leader else [])


# --- wiring --------------------------------------------------------------------------------


def wired(tmp_path: Path, url: str, *, keep_models: bool = False) -> Settings:
    settings = project_settings()
    return settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": url, "keep_models": keep_models}),
            "database": settings.database.model_copy(
                update={"url": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}
            ),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
        }
    )


@pytest.mark.parametrize(
    ("url", "keep_models", "client", "keeper"),
    [
        ("http://127.0.0.1:5005", False, RasaClient, False),
        ("http://127.0.0.1:5005,http://127.0.0.1:5006", False, RasaReplicas, False),
        ("http://127.0.0.1:5005", True, RasaReplicas, True),
    ],
)
async def test_the_app_uses_replicas_for_several_urls_or_kept_models(
    tmp_path: Path, url: str, keep_models: bool, client: type, keeper: bool
) -> None:
    helpdesk = build_helpdesk(
        wired(tmp_path, url, keep_models=keep_models),
        Secrets.model_validate({}),
        channels=[WebChatChannel()],
        model=None,
    )
    try:
        assert isinstance(helpdesk.nlu, MeteredNlu)
        assert isinstance(helpdesk.nlu.inner, client)
        assert (helpdesk.model_keeper is not None) is keeper
        # kept models: the watcher retrains and loads them on the replicas
        assert helpdesk.watcher is not None
        assert (helpdesk.watcher.retrainer is not None) is keep_models
    finally:
        await helpdesk.nlu.close()
        await helpdesk.db.dispose()
