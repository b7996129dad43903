"""Search documents: one page of posts matching a query, each with its matched words highlighted, escaped.

Highlights are made here, not by the engine's ``snippet()``/``ts_headline``: the text is cut into
words, each piece is HTML-escaped, and only then are the matched words wrapped in ``<mark>``, so
nothing a post says can become markup, and both engines highlight alike.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from markupsafe import escape
from sqlalchemy.orm import Session

from backend.db import fulltext
from backend.db.fulltext import SearchSort
from backend.views.cursors import decode_cursor, encode_cursor
from backend.views.listings import DEFAULT_LIMIT, post_url

SNIPPET_CHARS = 240  # of the body around the first match
_WORD = re.compile(r"[^\W_]+")


def search_listing(terms: list[tuple[str, ...]], sort: SearchSort, counted: bool = True) -> str:
    """The cursor listing of one query and sort (a hash of the terms keeps cursors short); top's follows its score."""
    digest = hashlib.sha256(repr(terms).encode()).hexdigest()[:16]
    return f"search:{sort}{':all' if sort == 'top' and not counted else ''}:{digest}"


def highlight(value: str | None, words: set[str], *, snippet: bool = False) -> str | None:
    """``value`` escaped, each of ``words`` wrapped in ``<mark>``; with ``snippet``, a window around the first."""
    if value is None:
        return None
    start, end = 0, len(value)
    if snippet and len(value) > SNIPPET_CHARS:
        first = next((m.start() for m in _WORD.finditer(value) if m.group().lower() in words), 0)
        start = max(0, first - SNIPPET_CHARS // 3)
        end = min(len(value), start + SNIPPET_CHARS)
    pieces: list[str] = ["…" if start > 0 else ""]
    at = start
    for match in _WORD.finditer(value, start, end):
        if match.group().lower() in words:
            pieces.append(str(escape(value[at : match.start()])))
            pieces.append(f"<mark>{escape(match.group())}</mark>")
            at = match.end()
    pieces.append(str(escape(value[at:end])))
    pieces.append("…" if end < len(value) else "")
    return "".join(pieces)


def build_search(
    session: Session,
    q: str,
    sort: SearchSort = "relevance",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    collapse_score: int = -5,
    counted: bool = True,
    budget: float | None = None,
) -> dict[str, Any]:
    """One page of posts and replies matching ``q``; BadQuery for a query with nothing to search, BadCursor.

    ``counted``: top ranks by the counted score (every lens but ``all``), as the feeds do. ``budget``: seconds
    of database time at most, else SearchTooBroad (a BadQuery).
    """
    terms = fulltext.parse_query(q)
    listing = search_listing(terms, sort, counted)
    resume = decode_cursor(cursor, listing) if cursor else None
    after = (resume.get("k", 0), resume["i"]) if resume else None
    rows = fulltext.search_rows(session, terms, sort, after, limit + 1, counted=counted, budget=budget)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor({"l": listing, "t": 0, "k": page[-1]["search_key"], "i": page[-1]["id"]})
    words = {word for term in terms for word in term}
    results = []
    for row in page:
        out = {name: value for name, value in row.items() if name != "search_key"}
        out["collapsed"] = row["score"] <= collapse_score
        out["url"] = post_url(row["id"])
        out["thread_url"] = post_url(row["root_id"])
        out["highlight"] = {
            "title": highlight(row["title"], words),
            "body": highlight(row["body"], words, snippet=True),
        }
        results.append(out)
    return {"query": q, "sort": sort, "terms": [" ".join(term) for term in terms], "results": results,
            "next_cursor": next_cursor}  # fmt: skip
