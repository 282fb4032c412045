"""Compile the knowledge base and core intents into a Rasa project, and train it.

The model file is named by a hash of everything that shapes it (training data,
pipeline, Rasa version, our own Rasa components), so unchanged inputs never retrain
and a model can never be served against data it was not trained on.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.loader import KnowledgeBase
from bot.nlu.client import rasa_intent_name
from bot.settings import NluSettings

RASA_VERSION = "3.6.21"
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # bot/
EXAMPLES_DIR = PACKAGE_DIR / "intents" / "examples"
COMPONENTS_DIR = PACKAGE_DIR / "nlu_components"
RASA_CACHE_DIR = Path("build") / "rasa-cache"  # relative to the working directory, like models/

Progress = Callable[[str], None]


class TrainingError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class CompiledProject:
    directory: Path
    config_file: Path
    nlu_file: Path
    fingerprint: str

    @property
    def model_name(self) -> str:
        return f"nlu-{self.fingerprint[:20]}"


@dataclass(frozen=True, slots=True)
class CoreIntent:
    name: str
    examples: dict[str, tuple[str, ...]]


def load_core_intents(directory: Path = EXAMPLES_DIR) -> list[CoreIntent]:
    intents: list[CoreIntent] = []
    paths = sorted(directory.glob("*.yml"))
    if not paths:  # a model without the bot's own intents would answer "hello" with an FAQ
        raise TrainingError(f"no core intent examples in {directory}")
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "intent" not in data or "examples" not in data:
            raise TrainingError(f"{path}: expected 'intent' and 'examples'")
        examples = {
            str(lang): tuple(str(t).strip() for t in texts if str(t).strip())
            for lang, texts in (data["examples"] or {}).items()
        }
        intents.append(CoreIntent(name=str(data["intent"]), examples=examples))
    return intents


_ANNOTATION = re.compile(r"[\[\]{}]")


def _clean(text: str) -> str:
    # Rasa reads "[x](entity)" and "{...}" in examples as entity annotations.
    return _ANNOTATION.sub(" ", " ".join(text.split())).strip()


# Marks an FAQ answer among the training examples (Rasa keeps per-example metadata): the
# featurizer learns each language's offset from questions only, since an answer differs
# from a question by its form as well as by its language.
ANSWER_METADATA = {"helpdesk": "answer"}
# An answer is a paragraph; its first part says what it is about, and e5 reads 512 tokens.
MAX_ANSWER_CHARS = 600


def training_examples(kb: KnowledgeBase, core: list[CoreIntent]) -> dict[str, list[str]]:
    """Rasa intent name -> examples (all languages mixed; the model is multilingual)."""
    data: dict[str, list[str]] = {}
    for entry in sorted(kb, key=lambda e: e.id):
        name = rasa_intent_name(f"faq/{entry.id}")
        data[name] = _unique(q for qs in entry.questions.values() for q in qs)
    for intent in sorted(core, key=lambda i: i.name):
        data.setdefault(intent.name, [])
        data[intent.name] = _unique(
            [*data[intent.name], *(t for ts in intent.examples.values() for t in ts)]
        )
    return data


def answer_examples(kb: KnowledgeBase) -> dict[str, list[str]]:
    """Rasa intent name -> the entry's answers, one per language.

    Admins often write questions in one language and answers in every language the bot
    serves; the answer in Telugu is then the only Telugu text the model sees for that
    entry. Trained as examples of their entry, answers carry it across languages
    (bench/RESULTS.md, "sparse demo")."""
    return {
        rasa_intent_name(f"faq/{entry.id}"): _unique(
            answer[:MAX_ANSWER_CHARS] for answer in entry.answers.values()
        )
        for entry in sorted(kb, key=lambda e: e.id)
    }


def _intent_block(name: str, texts: list[str], answers: list[str]) -> dict[str, Any]:
    if not answers:
        return {"intent": name, "examples": _Literal("".join(f"- {t}\n" for t in texts))}
    # The list form: the only one in which Rasa keeps an example's metadata.
    questions = [{"text": t} for t in texts]
    marked = [{"text": a, "metadata": dict(ANSWER_METADATA)} for a in answers if a not in texts]
    return {"intent": name, "examples": questions + marked}


def _unique(texts: Any) -> list[str]:
    seen: dict[str, None] = {}
    for text in texts:
        cleaned = _clean(text)
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


class _Literal(str):
    pass


def _literal_representer(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal_representer)


def compile_project(
    kb: KnowledgeBase,
    *,
    pipeline: list[dict[str, Any]],
    build_dir: Path,
    core: list[CoreIntent] | None = None,
    answers: bool = True,
) -> CompiledProject:
    """Write ``config.yml`` and ``data/nlu.yml`` for Rasa; return their fingerprint.

    ``answers``: the entries' answers are training examples too (marked as answers);
    False for data sets whose "answers" are only labels (the benchmarks')."""
    if not pipeline:
        raise TrainingError("nlu.pipeline is empty in the configuration")
    examples = training_examples(kb, core if core is not None else load_core_intents())
    extra = answer_examples(kb) if answers else {}
    nlu_doc = {
        "version": "3.1",
        "nlu": [_intent_block(n, t, extra.get(n, [])) for n, t in examples.items() if t],
    }
    config_doc = {
        "recipe": "default.v1",
        "assistant_id": "helpdesk",
        "language": "xx",
        "pipeline": pipeline,
        "policies": [],
    }
    nlu_text = yaml.dump(nlu_doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
    config_text = yaml.safe_dump(config_doc, allow_unicode=True, sort_keys=False)
    (build_dir / "data").mkdir(parents=True, exist_ok=True)
    nlu_file = build_dir / "data" / "nlu.yml"
    config_file = build_dir / "config.yml"
    _write_if_changed(nlu_file, nlu_text)
    _write_if_changed(config_file, config_text)
    digest = hashlib.sha256()
    for part in (RASA_VERSION, config_text, nlu_text, _components_fingerprint()):
        digest.update(part.encode())
        digest.update(b"\0")
    return CompiledProject(build_dir, config_file, nlu_file, digest.hexdigest())


def _components_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(COMPONENTS_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def model_path(project: CompiledProject, models_dir: Path) -> Path:
    return models_dir / f"{project.model_name}.tar.gz"


def rasa_executable(venv: Path) -> Path:
    rasa = venv / "bin" / "rasa"
    if not rasa.exists():
        raise TrainingError(
            f"Rasa is not installed at {venv} (expected {rasa}). "
            "Run `make setup` to create the Rasa environment."
        )
    return rasa


def rasa_environment(*, serving: bool = False) -> dict[str, str]:
    """The environment of a Rasa process: ``rasa train``, or ``rasa run`` when ``serving``."""
    env = dict(os.environ)
    if serving:
        # The e5 engine's OpenMP runtime reads these once, at load. A server parses one
        # short message at a time: a second thread barely helps, and OpenMP threads
        # that spin-wait for a descheduled peer on a 2-core machine put 100 ms stalls
        # into ~5% of parses (p99 111 ms vs 27 ms with one passive thread, measured
        # in bench/RESULTS.md). Training keeps every core for its batches.
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.update(
        {
            # Rasa would phone home and TensorFlow would flood the log otherwise.
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            # Our graph components live in bot/nlu_components and are imported by Rasa.
            "PYTHONPATH": str(COMPONENTS_DIR.parent.parent),
            # Rasa caches trained components in ./.rasa/cache by default: keep that
            # (tens of MB of TensorFlow weights) out of the working tree and out of git.
            "RASA_CACHE_DIRECTORY": str(RASA_CACHE_DIR.resolve()),
        }
    )
    return env


async def train(
    project: CompiledProject,
    *,
    models_dir: Path,
    rasa_venv: Path,
    progress: Progress = print,
    force: bool = False,
) -> Path:
    """Train unless a model for exactly these inputs exists; return the model file.

    Two processes asked for the same model (two test runs, ``helpdesk run`` beside
    ``helpdesk train``) train it once: the second waits on a lock, then finds it.
    """
    target = model_path(project, models_dir)
    if target.exists() and not force:
        progress(f"model up to date: {target}")
        return target
    rasa = rasa_executable(rasa_venv)
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / f".{project.model_name}.lock").open("w") as lock:
        await asyncio.to_thread(fcntl.flock, lock.fileno(), fcntl.LOCK_EX)
        try:
            if target.exists() and not force:
                progress(f"model up to date: {target}")
                return target
            return await _train_locked(project, target, rasa, progress)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


async def train_for(
    kb: KnowledgeBase,
    settings: NluSettings,
    *,
    progress: Progress = print,
    build_dir: Path | None = None,
    force: bool = False,
) -> Path:
    """Compile ``kb`` with the configured pipeline and train it: ``helpdesk train``, the
    model ``helpdesk run`` needs, and ``helpdesk nlu eval``'s (a no-op for unchanged inputs)."""
    project = compile_project(
        kb, pipeline=settings.pipeline, build_dir=build_dir or settings.build_dir
    )
    progress(f"compiled {len(kb)} FAQ entries into {project.directory}")
    return await train(
        project,
        models_dir=settings.models_dir,
        rasa_venv=settings.rasa_venv,
        progress=progress,
        force=force,
    )


async def _train_locked(
    project: CompiledProject, target: Path, rasa: Path, progress: Progress
) -> Path:
    scratch = Path(tempfile.mkdtemp(prefix=f".training-{project.model_name}-", dir=target.parent))
    progress(f"training {project.model_name} from {project.nlu_file} ...")
    process = await asyncio.create_subprocess_exec(
        str(rasa),
        "train",
        "nlu",
        "--config",
        str(project.config_file),
        "--nlu",
        str(project.nlu_file),
        "--out",
        str(scratch),
        "--fixed-model-name",
        project.model_name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=rasa_environment(),
    )
    assert process.stdout is not None
    tail: list[str] = []
    async for raw in _lines(process.stdout):
        line = raw.rstrip()
        if not line:
            continue
        tail = [*tail[-40:], line]
        if _worth_showing(line):
            progress(line)
    code = await process.wait()
    produced = scratch / f"{project.model_name}.tar.gz"
    if code != 0 or not produced.exists():
        shutil.rmtree(scratch, ignore_errors=True)
        raise TrainingError(f"rasa train failed (exit {code}):\n" + "\n".join(tail[-20:]))
    # Rename into place only when complete: a half-written model is never picked up.
    produced.replace(target)
    shutil.rmtree(scratch, ignore_errors=True)
    progress(f"trained {target}")
    return target


async def _lines(stream: asyncio.StreamReader) -> Any:
    # tqdm progress bars end lines with \r, not \n: split on both to show live progress.
    buffer = b""
    while chunk := await stream.read(4096):
        buffer += chunk
        *complete, buffer = re.split(rb"[\r\n]", buffer)
        for line in complete:
            yield line.decode("utf-8", "replace")
    if buffer:
        yield buffer.decode("utf-8", "replace")


_SHOWN = re.compile(r"Epochs:\s+(\d+)%|Training|Finished|Your Rasa model|error|Error|rror:")
_last_percent: dict[str, int] = {}


def _worth_showing(line: str) -> bool:
    match = _SHOWN.search(line)
    if not match:
        return False
    if match.group(1) is not None:
        # One line per 10% of epochs, not one per epoch.
        percent = int(match.group(1))
        bucket = percent // 10
        if _last_percent.get("epochs") == bucket:
            return False
        _last_percent["epochs"] = bucket
    return True


def describe_examples(examples: dict[str, list[str]]) -> str:
    return json.dumps({k: len(v) for k, v in examples.items()})
