"""Our Rasa components in a real Rasa: train, persist, load, featurize, classify.

A small knowledge base whose FAQ questions are English only is trained through the
project's own path (``compile_project`` -> ``rasa train nlu``), the model file is
served by a real Rasa server, and questions in other languages must still find the
English-only entries: that only works when the sentence embeddings reach the
classifier.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from bot.knowledge.loader import FaqEntry, KnowledgeBase
from bot.nlu.client import SIGNALS_KEY
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.training import CoreIntent, compile_project, train
from tests.conftest import MODEL_CACHE, ROOT

pytestmark = pytest.mark.rasa

PIPELINE: list[dict[str, object]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "bot.nlu_components.sentence_embeddings.SentenceEmbeddingFeaturizer"},
    {"name": "bot.nlu_components.embedding_classifier.EmbeddingIntentClassifier"},
]

# The same, with word TF-IDF next to the embeddings in the softmax (off by default).
LEXICAL_PIPELINE: list[dict[str, object]] = [
    *PIPELINE[:2],
    {**PIPELINE[2], "lexical": "word"},
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
            {
                "en": "Use 'Forgot password' on the login page.",
                # The only Telugu text in the data: an answer, never a question.
                "te": "లాగిన్ పేజీలో 'Forgot password' నొక్కి కొత్త పాస్‌వర్డ్ పెట్టుకోండి.",
            },
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
        {
            "en": ("what's the weather today", "tell me a joke", "who won the football match"),
            # Gujarati here and in the small talk, never in the FAQs: the Gujarati FAQ
            # question below must still reach its English-only entry.
            "gu": ("આજે હવામાન કેવું છે", "મને એક જોક કહો"),
        },
    ),
    CoreIntent("greet", {"en": ("hello", "hi there", "good morning"), "gu": ("નમસ્તે", "હેલો")}),
    CoreIntent("goodbye", {"en": ("bye", "see you later", "goodbye"), "gu": ("આવજો", "ફરી મળીશું")}),
]


async def trained(
    pipeline: list[dict[str, object]], build: str, core: list[CoreIntent] = CORE
) -> Path:
    """The small KB trained through the project's own path (cached by input hash)."""
    project = compile_project(KB, pipeline=pipeline, build_dir=ROOT / ".cache" / build, core=core)
    return await train(
        project, models_dir=MODEL_CACHE, rasa_venv=ROOT / ".venv-rasa", progress=print
    )


def stored_arrays(model: Path, file_suffix: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file in the model archive whose name ends so."""
    with tarfile.open(model) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(file_suffix))
        handle = archive.extractfile(member)
        assert handle is not None
        with np.load(io.BytesIO(handle.read()), allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}


@pytest.fixture(scope="module")
async def embedding_model() -> Path:
    return await trained(PIPELINE, "build-components")


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
    stored = stored_arrays(embedding_model, "script_means.npz")
    # Three intents speak English and Gujarati: language directions were learnt.
    directions = stored["__language_directions__"]
    assert directions.shape[1] == 384 and 1 <= len(directions) <= 16
    assert np.allclose(directions @ directions.T, np.eye(len(directions)), atol=1e-4)


def test_answers_are_examples_but_languages_are_learnt_from_questions(
    embedding_model: Path,
) -> None:
    classifier = stored_arrays(embedding_model, "embedding_classifier.npz")
    questions = sum(len(q) for e in KB for q in e.questions.values())
    answers = sum(len(e.answers) for e in KB)
    core = sum(len(t) for c in CORE for t in c.examples.values())
    assert len(classifier["example_class"]) == questions + answers + core
    # The Telugu answer taught its entry, not what Telugu looks like: a script's offset
    # learnt from one answer would be the answer's form as much as its language.
    means = stored_arrays(embedding_model, "script_means.npz")
    assert "TELUGU" not in means and "GUJARATI" in means


def test_english_only_questions_are_also_trained_in_the_bot_s_other_script(
    embedding_model: Path,
) -> None:
    classifier = stored_arrays(embedding_model, "embedding_classifier.npz")
    # Greetings and goodbyes are in English and Gujarati, the FAQs in English only: each
    # FAQ question gets one Gujarati copy (none from the Telugu answer, which no own
    # intent speaks), and the copies are trained, not kept as examples.
    questions = sum(len(q) for e in KB for q in e.questions.values())
    assert int(classifier["script_copies"]) == questions


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


@pytest.fixture(scope="module")
async def lexical_model() -> Path:
    # English-only small talk: word features shared with Gujarati small talk would pull
    # a Gujarati question there (why lexical features are off by default, docs/nlu.md).
    english_only = CoreIntent("out_of_scope", {"en": CORE[0].examples["en"]})
    return await trained(LEXICAL_PIPELINE, "build-lexical", core=[english_only])


def stored_weights(model: Path) -> dict[str, np.ndarray]:
    return stored_arrays(model, "classifier.npz")


async def test_lexical_features_are_persisted_and_used_at_parse_time(
    lexical_model: Path, embedding_model: Path
) -> None:
    weights = stored_weights(lexical_model)
    terms = [str(t) for t in weights["lexical_terms"]]
    assert "password" in terms and "my order" in terms
    # One softmax over both: a column per embedding dimension, then one per n-gram.
    dense = stored_weights(embedding_model)["coef"].shape[1]
    assert weights["coef"].shape[1] == dense + len(terms)
    assert "lexical_terms" not in stored_weights(embedding_model)

    supervisor = RasaSupervisor(
        rasa_venv=ROOT / ".venv-rasa",
        model=lexical_model,
        log_file=ROOT / ".cache" / "rasa-lexical.log",
    )
    await supervisor.start()
    client = supervisor.client(timeout_s=30)
    try:
        await supervisor.wait_ready(240)
        english = await client.parse("I forgot my password again")
        gujarati = await client.parse("મારો ઓર્ડર ક્યાં છે?")
    finally:
        await client.close()
        await supervisor.stop()
    assert english.intent == "faq/reset_password"
    assert gujarati.intent == "faq/order_status"  # the embeddings still cross languages
    assert english.similarity is not None
