"""Full-text search over posts' titles and bodies: safe query parsing and one read query per engine.

A user's text never reaches FTS5's or PostgreSQL's query syntax as written: it is cut into words
(letters and digits) and "quoted phrases", and each becomes a quoted FTS5 phrase or a bound
``phraseto_tsquery`` argument, all of them required (AND). So any string gives results or a
``BadQuery`` with a reason, never a syntax error. Both engines tokenise without stemming or stop
words (FTS5 ``unicode61``, PostgreSQL ``'simple'``), so they find the same posts for the same words.

``relevance`` and ``top`` order a bounded candidate set, the newest ``CANDIDATES`` matches (both
engines walk matches down the id order and stop there); ``new`` walks every match (docs/find.md).

A search is bounded in time as well: words that are each in many posts but never together make any
engine read every post of one of them to find none. ``search_rows`` takes a budget of database time
(``INDELIBLE_SEARCH_MS``); PostgreSQL cancels the statement past it (``statement_timeout``, set for the
search's transaction only), SQLite's progress handler interrupts it; either is ``SearchTooBroad``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from backend.db.queries import OUT_FIELDS, score_name

SearchSort = Literal["relevance", "new", "top"]
MAX_TERMS = 12  # words and phrases in one query: each is one more index lookup
MAX_PHRASE_WORDS = 12

_WORD = re.compile(r"[^\W_]+")  # letters and digits, as both tokenizers split them (underscore separates)
_COLUMNS = ", ".join(f"p.{name}" for name in OUT_FIELDS)
TITLE_WEIGHT = 10.0  # a word in the title counts as much as ten in the body
# relevance and top rank only the newest CANDIDATES matches: ranking every match of a word most posts hold
# costs time in proportion to the whole index (docs/find.md); sort=new walks every match
CANDIDATES = 2000


class BadQuery(ValueError):
    """A search query that cannot be searched; the message says why (a 422)."""


class SearchTooBroad(BadQuery):
    """A search that would take more than its budget of database time (a 422 saying so)."""

    def __init__(self, budget: float) -> None:
        super().__init__(
            f"q: query too broad: it took more than the {budget * 1000:.0f} ms of database time a search may take"
            " (its words are each in too many posts, or this node is busy);"
            ' add a rarer word, search a "quoted phrase" or try again later'
        )


_PROGRESS_STEPS = 50_000  # SQLite virtual machine steps between two looks at the clock (well under a millisecond);
# a Python call every 1,000 steps cost a phrase search over every post half its time again (7.4 -> 11.3 ms)


@contextmanager
def _bounded(conn: Connection, budget: float | None) -> Iterator[None]:
    """Statements run inside take at most ``budget`` seconds of database time each; SearchTooBroad past it."""
    if budget is None:
        yield
        return
    if conn.dialect.name == "postgresql":
        # for this read transaction only (is_local): the pooled connection keeps no limit
        conn.execute(
            text("SELECT set_config('statement_timeout', :ms, true)"), {"ms": str(max(1, round(budget * 1000)))}
        )
        try:
            yield
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled: statement_timeout
                raise SearchTooBroad(budget) from exc
            raise
        # the rest of the answer (its chain facts, a trusted lens's tallies) is not the search: unbounded again
        conn.exec_driver_sql("SET LOCAL statement_timeout TO DEFAULT")
        return
    # SQLite: the progress handler interrupts the statement between two steps of its virtual machine once the
    # budget is spent (ranking, joining, sorting); FTS5 merges the words' posting lists inside one step it
    # cannot interrupt, so a statement that ends past the deadline is refused all the same
    raw: Any = conn.connection.driver_connection
    deadline = time.perf_counter() + budget
    expired = False

    def past_deadline() -> int:
        nonlocal expired
        expired = time.perf_counter() > deadline
        return int(expired)  # non-zero interrupts the statement

    raw.set_progress_handler(past_deadline, _PROGRESS_STEPS)
    try:
        yield
        if time.perf_counter() > deadline:
            raise SearchTooBroad(budget)
    except OperationalError as exc:
        if expired:
            raise SearchTooBroad(budget) from exc
        raise
    finally:
        raw.set_progress_handler(None, 0)


def parse_query(q: str) -> list[tuple[str, ...]]:
    """The query's terms: each a word ``("word",)`` or a phrase ``("two", "words")``, lowercased."""
    terms: list[tuple[str, ...]] = []
    for index, part in enumerate(q.split('"')):
        words = [word.lower() for word in _WORD.findall(part)]
        if index % 2 == 1 and words:  # inside quotes (an unclosed quote runs to the end)
            if len(words) > MAX_PHRASE_WORDS:
                raise BadQuery(f"q: a phrase may have at most {MAX_PHRASE_WORDS} words")
            terms.append(tuple(words))
        else:
            terms.extend((word,) for word in words)
    unique = list(dict.fromkeys(terms))
    if not unique:
        raise BadQuery("q: no words to search for (a word is letters or digits)")
    if len(unique) > MAX_TERMS:
        raise BadQuery(f"q: at most {MAX_TERMS} words and phrases, got {len(unique)}")
    return unique


def fts5_expression(terms: list[tuple[str, ...]]) -> str:
    """An FTS5 MATCH expression requiring every term; words hold no quotes, so each quoted phrase is literal."""
    return " AND ".join('"' + " ".join(term) + '"' for term in terms)


@functools.cache
def _sqlite_statement(sort: SearchSort, after: bool, score: str) -> TextClause:
    # the newest CANDIDATES matches, walked down the FTS5 rowid (= post id) order, which stops early
    newest = "FROM posts_fts WHERE posts_fts MATCH :match ORDER BY rowid DESC LIMIT :candidates"
    if sort == "new":
        keyset = "AND rowid < :after_id " if after else ""
        return text(
            f"SELECT {_COLUMNS}, p.id AS search_key FROM posts p WHERE p.id IN ("
            f"SELECT rowid FROM posts_fts WHERE posts_fts MATCH :match {keyset}ORDER BY rowid DESC LIMIT :n) "
            "ORDER BY p.id DESC"
        )
    if sort == "top":
        keyset = f"AND (p.{score} < :after_key OR (p.{score} = :after_key AND p.id < :after_id)) " if after else ""
        return text(
            f"SELECT {_COLUMNS}, p.{score} AS search_key FROM posts p WHERE p.id IN (SELECT rowid {newest}) "
            f"{keyset}ORDER BY p.{score} DESC, p.id DESC LIMIT :n"
        )
    keyset = "WHERE f.k > :after_key OR (f.k = :after_key AND f.id < :after_id) " if after else ""
    return text(
        f"SELECT {_COLUMNS}, f.k AS search_key FROM ("
        f"SELECT rowid AS id, bm25(posts_fts, {TITLE_WEIGHT}, 1.0) AS k {newest}"
        f") f JOIN posts p ON p.id = f.id {keyset}ORDER BY f.k, f.id DESC LIMIT :n"
    )


@functools.cache
def _postgres_statement(sort: SearchSort, n_terms: int, after: bool, score: str) -> TextClause:
    # a subquery in FROM, not a CTE: PostgreSQL folds the constant tsquery into the plan and estimates its
    # matches, so a common word walks the primary key down and stops, where a rare one reads the GIN index
    q = "(SELECT " + " && ".join(f"phraseto_tsquery('simple', :t{i})" for i in range(n_terms)) + " AS query) q"
    if sort == "new":
        keyset = "AND p.id < :after_id " if after else ""
        return text(
            f"SELECT {_COLUMNS}, p.id AS search_key FROM posts p, {q} "
            f"WHERE p.search @@ q.query {keyset}ORDER BY p.id DESC LIMIT :n"
        )
    if sort == "top":
        key, order = f"p.{score}", "c.k DESC, c.id DESC"
        keyset = "WHERE c.k < :after_key OR (c.k = :after_key AND c.id < :after_id) " if after else ""
    else:
        # ts_rank is higher for better matches; its negation sorts ascending like FTS5's bm25
        key, order = "-CAST(ts_rank('{0.1, 0.2, 0.4, 1.0}', p.search, q.query) AS double precision)", "c.k, c.id DESC"
        keyset = "WHERE c.k > :after_key OR (c.k = :after_key AND c.id < :after_id) " if after else ""
    # the same candidate rule as on SQLite: the newest CANDIDATES matches
    return text(
        f"SELECT {_COLUMNS}, c.k AS search_key FROM (SELECT p.id, {key} AS k FROM posts p, {q} "
        "WHERE p.search @@ q.query ORDER BY p.id DESC LIMIT :candidates) c "
        f"JOIN posts p ON p.id = c.id {keyset}ORDER BY {order} LIMIT :n"
    )


def search_rows(
    session: Session,
    terms: list[tuple[str, ...]],
    sort: SearchSort,
    after: tuple[Any, int] | None,
    n: int,
    *,
    candidates: int = CANDIDATES,
    counted: bool = True,
    budget: float | None = None,
) -> list[dict[str, Any]]:
    """Up to ``n`` posts matching every term, in ``sort`` order after ``after`` (key, id); each has ``search_key``.

    ``new`` reaches every match; ``relevance`` and ``top`` order the newest ``candidates`` matches only; ``top``
    ranks by the counted score, or the raw one when not ``counted`` (the ``all`` lens), as the feeds do.
    ``budget``: seconds of database time at most, else SearchTooBroad (None: unbounded, for benchmarks).
    """
    score = score_name(counted)
    params: dict[str, Any] = {"n": n, "candidates": candidates}
    if after is not None:
        params["after_key"], params["after_id"] = after
    if session.get_bind().dialect.name == "postgresql":
        statement = _postgres_statement(sort, len(terms), after is not None, score)
        # a custom plan sees how common the words are: the index's connections plan each run (make_engine)
        params |= {f"t{i}": " ".join(term) for i, term in enumerate(terms)}
    else:
        statement = _sqlite_statement(sort, after is not None, score)
        params["match"] = fts5_expression(terms)
    with _bounded(session.connection(), budget):
        result = session.execute(statement, params)
        keys = list(result.keys())
        rows = result.all()  # SQLite computes rows as they are fetched: inside the bound too
    return [dict(zip(keys, row, strict=True)) for row in rows]
