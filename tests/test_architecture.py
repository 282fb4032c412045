"""The house rules of docs/architecture.md, checked on the source: who may import whom.

Imports are read with ``ast`` (nothing is executed). Imports under ``if TYPE_CHECKING:``
count too: a type-only arrow that runs back up is still an arrow a reader must follow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "bot"

# Layers, lowest first. A module may import its own layer's modules (no cycles, checked
# below) and any layer under it; never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "bot.messages",
        "bot.i18n",
        "bot.events",
        "bot.commands",
        "bot.ports",
        "bot.tasks",
        "bot.knowledge.languages",
        "bot.tickets.business_hours",
    ),
    ("bot.settings", "bot.storage", "bot.cluster"),
    ("bot.knowledge", "bot.nlu", "bot.channels"),
    (
        "bot.handoff",
        "bot.intents",
        "bot.tickets",
        "bot.desk",
        "bot.reports",
        "bot.surveys",
        "bot.customers",
    ),
    ("bot.engine",),
    ("bot.web",),
    ("bot.app", "bot.wiring"),
    ("bot.cli",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {
        module_name(path): path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts
    }


def imported(path: Path, name: str) -> Iterator[str]:
    """Every ``bot.*`` name the module imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("bot"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            if base.startswith("bot"):
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)


def dependencies() -> dict[str, set[str]]:
    modules = bot_modules()
    return {
        name: {
            target
            for target in imported(path, name)
            if target in modules and target != name and not name.startswith(target + ".")
        }
        for name, path in modules.items()
    }


def layer_of(module: str) -> int:
    best, depth = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > depth:
                best, depth = index, len(prefix)
    return best


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(
        name
        for name in bot_modules()
        if name not in ("bot", "bot.nlu_components")
        and not name.startswith("bot.nlu_components.")
        and layer_of(name) < 0
    )
    assert unplaced == [], "add these to LAYERS and to docs/architecture.md"


def test_no_import_runs_back_up() -> None:
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in dependencies().items()
        if layer_of(source) >= 0
        for target in targets
        if layer_of(target) > layer_of(source)
    )
    assert upward == [], "\n".join(upward)


def test_no_import_cycle() -> None:
    graph = dependencies()
    # Tarjan's strongly connected components: any component of two or more is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # Channels convert payloads; the engine stores and decides.
        ("bot.channels", ("bot.storage", "bot.engine", "bot.intents", "bot.desk")),
        # Intents return replies; they never send and know no transport.
        ("bot.intents", ("bot.channels", "bot.engine", "bot.web")),
        # The NLU is stateless.
        ("bot.nlu", ("bot.storage", "bot.engine", "bot.reports")),
        # Runs inside Rasa's own Python: nothing of the bot.
        ("bot.nlu_components", ("bot.",)),
    ],
)
def test_package_boundaries(package: str, forbidden: tuple[str, ...]) -> None:
    crossings = sorted(
        f"{source} -> {target}"
        for source, targets in dependencies().items()
        if source == package or source.startswith(package + ".")
        for target in targets
        if not target.startswith(package)
        and any(
            target == f or target.startswith(f if f.endswith(".") else f + ".") for f in forbidden
        )
    )
    assert crossings == [], "\n".join(crossings)


def test_only_a_few_modules_sit_directly_in_bot() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(top) <= 11, top
