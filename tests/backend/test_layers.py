"""Imports run one way: down the layers docs/architecture.md draws, and never in a circle (lazy ones too)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND = ROOT / "backend"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# circles known and being untied (none today); the test fails if an entry is left stale
EXPECTED_CIRCLES: set[frozenset[str]] = set()


def layers() -> list[list[str]]:
    """The ``layers`` block of docs/architecture.md: each line a layer's prefixes, the highest first."""
    block = re.search(r"```layers\n(.*?)```", ARCHITECTURE.read_text(), re.S)
    assert block, "docs/architecture.md has no ```layers block"
    return [line.split()[1:] for line in block.group(1).splitlines() if line.strip()]


def rank_of(module: str, table: list[list[str]]) -> int | None:
    """The layer of ``module`` (0 the lowest) by its longest listed prefix; None when no layer names it."""
    best: tuple[int, int] | None = None  # (prefix length, rank)
    for rank, prefixes in enumerate(reversed(table)):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), rank)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(BACKEND.rglob("*.py"))}


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Each ``backend`` module ``name`` imports (top level, inside functions, under TYPE_CHECKING), with its line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from its package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"  # ``from backend import chain`` imports the module backend.chain
                yield (submodule if submodule in MODULES else base), node.lineno


def graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _ in imports_of(name, path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }


def test_the_layers_block_names_every_module_of_backend():
    table = layers()
    assert [name for name in MODULES if rank_of(name, table) is None] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_from_its_layer_or_below(name: str):
    table = layers()
    own = rank_of(name, table)
    assert own is not None
    upward = [
        f"line {line}: {target}"
        for target, line in imports_of(name, MODULES[name])
        if target in MODULES and (rank_of(target, table) or 0) > own
    ]
    assert upward == []


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_modules_import_each_other_in_a_circle():
    found = {frozenset(group) for group in circles(graph())}
    assert found - EXPECTED_CIRCLES == set()
    assert EXPECTED_CIRCLES - found == set(), "a circle was untied: drop it from EXPECTED_CIRCLES"


def test_a_lazy_import_that_runs_up_is_found_and_a_circle_is_reported(tmp_path: Path):
    """What the rules would catch: an import inside a function that reaches up, and a circle of three."""
    fake = tmp_path / "fake.py"
    fake.write_text("from backend.db import queries\n\n\ndef later():\n    from backend import app\n")
    table = layers()
    found = dict(imports_of("backend.views.fake", fake))
    assert found == {"backend.db.queries": 1, "backend.app": 5}
    assert [
        target for target in found if (rank_of(target, table) or 0) > (rank_of("backend.views.fake", table) or 0)
    ] == ["backend.app"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_backend_tests_mirror_the_packages() -> None:
    """Each folder of tests/backend names a package of backend/ (whole-system tests stay at the top)."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    packages = {p.name for p in BACKEND.iterdir() if (p / "__init__.py").is_file()}
    assert folders, "tests/backend has no package folders"
    assert folders <= packages, f"tests/backend folders that name no backend package: {sorted(folders - packages)}"
    for folder in folders:
        assert list((tests / folder).glob("test_*.py")), f"tests/backend/{folder} holds no tests"
