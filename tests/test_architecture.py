"""The floor plan, checked by reading the imports, so the next change cannot quietly break it.

- ``run/`` (writes run folders) and ``reports/`` (reads them) never import each other;
- ``models/``, ``tasks/`` and ``media/`` import neither wing, nor the front doors (``cli``, ``api``, ``demo``);
- no import circle anywhere, function-local imports included (a local import that only hides a
  circle is a circle);
- only ``tasks/`` names a benchmark and only ``models/`` a model family or a hub model, in code (a
  string constant that is a registered benchmark's or family's name; prose in docstrings is free);
- a file holds one job: none past 400 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fvlm_eval"
WINGS = ("fvlm_eval.run", "fvlm_eval.reports")
NEUTRAL = ("fvlm_eval.models", "fvlm_eval.tasks", "fvlm_eval.media")
FRONT_DOORS = ("fvlm_eval.cli", "fvlm_eval.api", "fvlm_eval.api_checks", "fvlm_eval.demo", "fvlm_eval.__main__")
MAX_LINES = 400
PENDING_SPLIT: set[str] = set()  # files allowed past MAX_LINES while a split is under way


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "__pycache__" not in p.parts}


def _is_module(name: str, known: dict[str, Path]) -> bool:
    return name in known


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The fvlm_eval modules ``path`` imports, anywhere in it (a name imported from a package is the
    submodule when there is one); the package ``fvlm_eval`` itself (its lazy API) is left out."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith("fvlm_eval.") and _is_module(name, known):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def within(name: str, packages) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_the_wings_never_import_each_other():
    found = [
        (m, i)
        for m, targets in graph().items()
        for i in targets
        if (within(m, ["fvlm_eval.run"]) and within(i, ["fvlm_eval.reports"]))
        or (within(m, ["fvlm_eval.reports"]) and within(i, ["fvlm_eval.run"]))
    ]
    assert not found, f"a wing imports the other: {found}"


def test_models_tasks_and_media_import_neither_wing_nor_a_front_door():
    found = [
        (m, i)
        for m, targets in graph().items()
        if within(m, NEUTRAL)
        for i in targets
        if within(i, WINGS) or within(i, FRONT_DOORS)
    ]
    assert not found, f"{found}"


def test_the_shared_vocabulary_imports_no_package_above_it():
    """The root modules (types, protocols, records, summary, files, errors...) are what everything builds on:
    they import no wing, no front door, and none of models/, tasks/, media/."""
    root_modules = [
        name
        for name, path in modules().items()
        if path.parent == PACKAGE and path.name != "__init__.py" and name not in FRONT_DOORS
    ]
    found = [(m, i) for m in root_modules for i in graph()[m] if within(i, WINGS + NEUTRAL + FRONT_DOORS)]
    assert not found, f"{found}"


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle (a list of modules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle_anywhere():
    edges = graph()
    for name in list(edges):  # importing a.b.c runs a/__init__ and a/b/__init__ first: those count too (but for the
        own = {".".join(name.split(".")[:i]) for i in range(2, name.count(".") + 2)}  # packages holding the importer)
        for target in list(edges[name]):
            parts = target.split(".")
            edges[name] |= {".".join(parts[:i]) for i in range(2, len(parts))} - own
    found = cycle(edges)
    assert found is None, " -> ".join(found)


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def _constants(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings, with their line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _words(text: str) -> set[str]:
    return set(text.replace(",", " ").replace("/", " ").replace("(", " ").replace(")", " ").split())


@pytest.mark.parametrize("kind", ["benchmark", "family"])
def test_only_tasks_name_a_benchmark_and_only_models_a_family(kind):
    from fvlm_eval.models.families import BUILT_IN
    from fvlm_eval.tasks import BENCHMARKS

    if kind == "benchmark":
        names, home = set(BENCHMARKS), "fvlm_eval.tasks"
    else:
        names = {f.name for f in BUILT_IN} | {hub for f in BUILT_IN for hub in f.hub_ids}
        home = "fvlm_eval.models"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for name, path in modules().items()
        if not within(name, [home])
        for line, text in _constants(path)
        if _words(text) & names
    ]
    assert not found, f"{kind} names outside {home}:\n" + "\n".join(found)


def test_a_file_holds_one_job():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and str(p.relative_to(ROOT)) not in PENDING_SPLIT
    }
    assert not long, f"files past {MAX_LINES} lines (split them by job): {long}"
