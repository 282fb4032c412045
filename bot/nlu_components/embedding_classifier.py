"""EmbeddingIntentClassifier: intents from sentence embeddings, in seconds, with honest signals.

Runs inside Rasa's Python 3.10 (``.venv-rasa``) and imports nothing of the bot.

Two views of the same embeddings:

- a softmax (multinomial logistic regression) over the intents, trained in seconds
  on the dense sentence features: its probabilities are the intent ranking;
- the training examples themselves: the cosine similarity of the message to the
  nearest example of the top intent is reported as ``helpdesk_signals.similarity``
  in the parse response, so the bot can refuse a confident guess about something
  nothing in the training data resembles.

Optionally (``lexical: word`` or ``char``) TF-IDF n-grams of the message join the
embeddings in the softmax (bot/nlu_components/lexical.py); the similarity signal stays
on the embeddings alone.

Retraining after a knowledge-base edit costs the embeddings of the changed questions
(the featurizer's cache has the rest) plus one softmax fit: seconds, not DIET's epochs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu_components import lexical
from bot.nlu_components.class_weights import COVERAGE, example_weights
from bot.nlu_components.script_copies import script_copies
from bot.nlu_components.sentence_embeddings import is_answer, script_of

logger = logging.getLogger(__name__)

SIGNALS_KEY = "helpdesk_signals"
MODEL_FILE = "embedding_classifier.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class EmbeddingIntentClassifier(IntentClassifier, GraphComponent):
    """Softmax over dense sentence features, plus nearest-example similarity."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [DenseFeaturizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Inverse L2 strength of the softmax; embeddings are unit vectors.
            "C": 20.0,
            "max_iter": 300,
            # Weight classes by 1/frequency, so a big intent does not swallow small ones.
            "class_weight": "balanced",
            # The out-of-scope class's examples are scaled by this: a number, or
            # "coverage", the share of FAQ entries asked in the example's script
            # (class_weights.py says why; chosen on validation lines, bench/RESULTS.md).
            "out_of_scope_intent": "out_of_scope",
            "out_of_scope_weight": COVERAGE,
            # How the bot names FAQ intents for Rasa (bot.nlu.client.rasa_intent_name).
            "faq_prefix": "faq__",
            # Copy each FAQ question into the scripts its entry is not asked in, moved
            # as the bot's own intents move between scripts (script_copies.py says why).
            "script_copies": True,
            # Only these featurizers' features (their names or aliases); None: all dense.
            "featurizers": None,
            # Intents in the ranking; 0: all of them. The bot offers the best FAQ
            # guesses from it when unsure, so it must reach past the core intents.
            "ranking_length": 0,
            "random_seed": 42,
            # TF-IDF n-grams next to the embeddings: None (off), "word" or "char".
            "lexical": None,
            "lexical_weight": 1.0,
            "lexical_min_df": 2,
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["numpy", "sklearn"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        weights: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.weights = weights
        # Stored in half precision; converted once here, not on every message.
        self._examples = weights["examples"].astype(np.float32) if weights is not None else None
        self._lexical = _stored_vocabulary(weights)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmbeddingIntentClassifier:
        return cls(config, model_storage, resource)

    def _features(self, messages: list[Message]) -> np.ndarray:
        rows = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, self.config["featurizers"])
            if sentence is None:
                raise ValueError(
                    "EmbeddingIntentClassifier needs dense sentence features: put "
                    "SentenceEmbeddingFeaturizer before it in the pipeline"
                )
            rows.append(np.asarray(sentence.features, dtype=np.float32).reshape(-1))
        matrix = np.stack(rows)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        unit: np.ndarray = matrix / np.maximum(norms, 1e-12)
        return unit

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("EmbeddingIntentClassifier: no intent examples, nothing to train")
            return self._resource
        X = self._features(examples)
        labels = np.array([str(e.get(INTENT)) for e in examples])
        classes, y = np.unique(labels, return_inverse=True)
        texts = [str(e.get(TEXT)) for e in examples]
        scripts = np.array([script_of(t) for t in texts])
        questions = np.array([not is_answer(e) for e in examples])
        sample_weight = self._sample_weights(labels, scripts, questions)
        copies, copy_labels, copy_weights = self._script_copies(
            X, labels, scripts, questions, sample_weight
        )
        vocabulary = None
        inputs: Any = np.vstack([X, copies])
        if self.config["lexical"]:
            vocabulary = lexical.fit(
                str(self.config["lexical"]),
                texts,
                int(self.config["lexical_min_df"]),
                float(self.config["lexical_weight"]),
            )
            # A copy has no words of its own: its n-gram columns stay empty.
            inputs = self._with_lexical(inputs, texts + [""] * len(copies), vocabulary)
        fit_y = np.concatenate([y, np.searchsorted(classes, copy_labels)]).astype(int)
        fit_weight = np.concatenate([sample_weight, copy_weights])
        if len(classes) == 1:
            coef = np.zeros((1, inputs.shape[1]), dtype=np.float32)
            intercept = np.zeros(1, dtype=np.float32)
        else:
            model = LogisticRegression(
                C=float(self.config["C"]),
                max_iter=int(self.config["max_iter"]),
                random_state=int(self.config["random_seed"]),
                multi_class="multinomial",
            )
            model.fit(inputs, fit_y, sample_weight=fit_weight)
            coef, intercept = model.coef_, model.intercept_
            if len(classes) == 2:
                # sklearn keeps one row for two classes; the softmax below wants two.
                coef = np.vstack([-coef / 2, coef / 2])
                intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        self.weights = {
            "classes": classes.astype(str),
            "coef": np.asarray(coef, dtype=np.float32),
            "intercept": np.asarray(intercept, dtype=np.float32),
            "examples": X.astype(np.float16),  # half precision: plenty for a cosine
            "example_class": y.astype(np.int32),
            # How many script copies of FAQ questions were trained (not kept as examples).
            "script_copies": np.array(len(copies), dtype=np.int32),
        }
        if vocabulary is not None:
            self.weights |= {
                "lexical_kind": np.array(vocabulary.kind),
                "lexical_terms": vocabulary.terms,
                "lexical_idf": vocabulary.idf,
                "lexical_weight": np.array(vocabulary.weight),
            }
        self._examples = X
        self._lexical = vocabulary
        self.persist()
        return self._resource

    def _sample_weights(
        self, labels: np.ndarray, scripts: np.ndarray, questions: np.ndarray
    ) -> np.ndarray:
        class_weight = self.config["class_weight"]
        if class_weight not in ("balanced", None):
            raise ValueError("EmbeddingIntentClassifier: class_weight is 'balanced' or null")
        return example_weights(
            labels,
            scripts,
            questions,
            balanced=class_weight == "balanced",
            out_of_scope_intent=str(self.config["out_of_scope_intent"]),
            out_of_scope_weight=self.config["out_of_scope_weight"],
            faq_prefix=str(self.config["faq_prefix"]),
        )

    def _script_copies(
        self,
        X: np.ndarray,
        labels: np.ndarray,
        scripts: np.ndarray,
        questions: np.ndarray,
        weights: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.config["script_copies"]:
            return X[:0], labels[:0], weights[:0]
        copies = script_copies(
            X,
            labels,
            scripts,
            questions,
            weights,
            faq_prefix=str(self.config["faq_prefix"]),
            out_of_scope_intent=str(self.config["out_of_scope_intent"]),
        )
        if len(copies[0]):
            logger.debug(
                "EmbeddingIntentClassifier: %d FAQ questions' script copies", len(copies[0])
            )
        return copies

    def persist(self) -> None:
        if self.weights is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            # numpy's stubs match **arrays against savez's allow_pickle keyword.
            np.savez(directory / MODEL_FILE, **self.weights)  # type: ignore[arg-type]

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EmbeddingIntentClassifier:
        try:
            # allow_pickle=False: a model file is data, never code.
            with (
                model_storage.read_from(resource) as directory,
                np.load(directory / MODEL_FILE, allow_pickle=False) as stored,
            ):
                weights = {key: stored[key] for key in stored.files}
        except (ValueError, FileNotFoundError):
            logger.debug("EmbeddingIntentClassifier: nothing persisted, untrained")
            weights = None
        return cls(config, model_storage, resource, weights)

    def process(self, messages: list[Message]) -> list[Message]:
        if self.weights is None or self._examples is None or not messages:
            return messages
        X = self._features(messages)
        inputs: Any = X
        if self._lexical is not None:
            texts = [str(m.get(TEXT) or "") for m in messages]
            inputs = self._with_lexical(X, texts, self._lexical)
        probabilities = self._softmax(inputs)
        similarities = X @ self._examples.T
        for message, probs, sims in zip(messages, probabilities, similarities, strict=False):
            ranking, signals = self._rank(probs, sims)
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(SIGNALS_KEY, signals, add_to_output=True)
        return messages

    def _with_lexical(
        self, X: np.ndarray, texts: list[str], vocabulary: lexical.LexicalVocabulary
    ) -> Any:
        """The embeddings with the texts' TF-IDF n-grams appended (a sparse matrix)."""
        from scipy import sparse

        tfidf = lexical.transform(vocabulary, texts)
        return sparse.hstack([sparse.csr_matrix(X), tfidf], format="csr")

    def _softmax(self, X: Any) -> np.ndarray:
        assert self.weights is not None  # process() returns early on an untrained model
        logits = np.asarray(X @ self.weights["coef"].T) + self.weights["intercept"]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probabilities

    def _rank(
        self, probs: np.ndarray, sims: np.ndarray
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        assert self.weights is not None
        classes = self.weights["classes"]
        order = np.argsort(-probs)
        length = int(self.config["ranking_length"]) or len(order)
        ranking = [{"name": str(classes[i]), "confidence": float(probs[i])} for i in order[:length]]
        owner = self.weights["example_class"]
        top = int(order[0])
        of_top = sims[owner == top]
        nearest = int(np.argmax(sims))
        signals = {
            "similarity": float(of_top.max()) if of_top.size else 0.0,
            "nearest_similarity": float(sims[nearest]),
            "nearest_intent": str(classes[owner[nearest]]),
        }
        return ranking, signals


def _stored_vocabulary(weights: dict[str, np.ndarray] | None) -> lexical.LexicalVocabulary | None:
    if weights is None or "lexical_terms" not in weights:
        return None
    return lexical.LexicalVocabulary(
        str(weights["lexical_kind"]),
        weights["lexical_terms"],
        weights["lexical_idf"],
        float(weights["lexical_weight"]),
    )
