"""docs/benchmarks.md: each bench script owns one ``## `` section and replaces only that one."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def write_section(heading: str, section: str, docs: Path = DOCS) -> None:
    """Replace the section that starts with the line ``heading`` (up to the next ``## ``), or append it."""
    text = docs.read_text() if docs.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        rest = text[end + 1 :] if end != -1 else ""
        # one blank line between this section and the next
        text = text[:start] + section.rstrip("\n") + "\n" + ("\n" + rest if rest else "")
    docs.parent.mkdir(parents=True, exist_ok=True)
    docs.write_text(text.rstrip("\n") + "\n")
