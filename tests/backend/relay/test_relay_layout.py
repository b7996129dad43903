"""The relay package's own rules: one module builds every ``relay:*`` key of the shared store."""

from __future__ import annotations

import ast
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[3] / "backend"
OWNER = BACKEND / "relay" / "budget.py"


def _relay_key_literals(path: Path) -> list[int]:
    """Lines of ``path`` with a string (or f-string) literal that starts a ``relay:`` key."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("relay:"):
            lines.append(node.lineno)
        if isinstance(node, ast.JoinedStr) and node.values:
            first = node.values[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("relay:"):
                lines.append(node.lineno)
    return lines


def test_only_the_budget_module_builds_relay_keys():
    offenders = {
        str(path.relative_to(BACKEND)): lines
        for path in sorted(BACKEND.rglob("*.py"))
        if path != OWNER and (lines := _relay_key_literals(path))
    }
    assert offenders == {}


def test_the_budget_module_builds_them():  # the rule above would pass vacuously if the scan found nothing
    assert len(_relay_key_literals(OWNER)) >= 10
