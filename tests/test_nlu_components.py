"""Our Rasa components in a real Rasa: train, persist, load, featurize, classify.

A small knowledge base whose FAQ questions are English only is trained through the
project's own path (``compile_project`` -> ``rasa train nlu``), the model file is
served by a real Rasa server, and questions in other languages must still find the
English-only entries: that only works when the sentence embeddings reach the
classifier.
"""

from __future__ import annotations

import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.knowledge import FaqEntry, KnowledgeBase
from bot.nlu import SIGNALS_KEY
from bot.rasa_server import RasaSupervisor
from bot.training import CoreIntent, compile_project, train
from tests.conftest import MODEL_CACHE, ROOT

pytestmark = pytest.mark.rasa

PIPELINE = [
    {"name": "WhitespaceTokenizer"},
    {"name": "bot.nlu_components.sentence_embeddings.SentenceEmbeddingFeaturizer"},
    {"name": "bot.nlu_components.embedding_classifier.EmbeddingIntentClassifier"},
]

KB = KnowledgeBase(
    {
        "order_status": FaqEntry(
            "order_status",
            {"en": ("Where is my order?", "track my package", "my parcel has not arrived")},
            {"en": "Track it under My Orders."},
        ),
        "reset_password": FaqEntry(
            "reset_password",
            {"en": ("I forgot my password", "how do I reset my password", "can't log in")},
            {"en": "Use 'Forgot password' on the login page."},
        ),
        "refund": FaqEntry(
            "refund",
            {"en": ("when will I get my money back", "refund status", "how long do refunds take")},
            {"en": "Refunds take 5-7 working days."},
        ),
    }
)
CORE = [
    CoreIntent(
        "out_of_scope",
        {"en": ("what's the weather today", "tell me a joke", "who won the football match")},
    )
]


@pytest.fixture(scope="module")
async def embedding_model() -> Path:
    project = compile_project(
        KB, pipeline=PIPELINE, build_dir=ROOT / ".cache" / "build-components", core=CORE
    )
    return await train(
        project, models_dir=MODEL_CACHE, rasa_venv=ROOT / ".venv-rasa", progress=print
    )


@pytest.fixture(scope="module")
async def embedding_server(embedding_model: Path) -> AsyncIterator[RasaSupervisor]:
    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa",
        model=embedding_model,
        log_file=ROOT / ".cache" / "rasa-components.log",
    )
    await supervisor.start()
    try:
        await supervisor.wait_ready(240)
        yield supervisor
    finally:
        await supervisor.stop()


def test_the_model_persists_both_components(embedding_model: Path) -> None:
    with tarfile.open(embedding_model) as archive:
        names = archive.getnames()
    assert any(n.endswith("embedding_classifier.npz") for n in names), names
    assert any(n.endswith("script_means.npz") for n in names), names


async def test_english_questions_are_classified_with_signals(
    embedding_server: RasaSupervisor,
) -> None:
    client = embedding_server.client(timeout_s=30)
    try:
        result = await client.parse("where is my package right now")
        raw = await client._request("POST", "/model/parse", json={"text": "reset my password"})
    finally:
        await client.close()
    assert result.intent == "faq/order_status"
    assert result.similarity is not None and 0.5 < result.similarity <= 1.0
    assert raw["intent"]["name"] == "faq__reset_password"
    assert set(raw[SIGNALS_KEY]) >= {"similarity", "nearest_similarity", "nearest_intent"}


@pytest.mark.parametrize(
    ("text", "faq"),
    [
        ("મારો ઓર્ડર ક્યાં છે?", "faq/order_status"),  # Gujarati
        ("నా పాస్‌వర్డ్ మర్చిపోయాను", "faq/reset_password"),  # Telugu
        ("როდის დამიბრუნდება ფული?", "faq/refund"),  # Georgian
        ("मेरा ऑर्डर कहाँ है?", "faq/order_status"),  # Hindi
    ],
)
async def test_english_only_faqs_answer_other_languages(
    embedding_server: RasaSupervisor, text: str, faq: str
) -> None:
    client = embedding_server.client(timeout_s=30)
    try:
        result = await client.parse(text)
    finally:
        await client.close()
    assert result.intent == faq, result.ranking
