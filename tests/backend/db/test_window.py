"""Top's window (day, week, ...): the same pages whichever index finds them, and the index that reads least.

A window with few top-level posts is found by ``ix_read_window`` and sorted (an empty week used to walk every
top-level post down ``ix_read_feed_top*``); a busy one walks the top index to the page. SQLite counts the window
first (``queries.WINDOW_SORT_MAX``), PostgreSQL's planner chooses from its statistics.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from backend.db import queries
from backend.db.models import Post
from backend.db.session import ensure_schema, make_engine
from backend.views.listings import build_feed
from tests.support.index import DATABASES, empty_index_url, post_row

NOW = 1_800_000_000
DAY = 86_400
POSTS = 3_000  # top-level, one every 3 hours back from NOW - 2 days: none in the last day, 41 in the last week
WINDOWS = ["day", "week", "month", "year", "all"]


def _row(post_id: int, rng: random.Random) -> dict[str, Any]:
    created = NOW - 2 * DAY - (POSTS - post_id) * 3 * 3_600
    up, down = rng.randint(0, 30), rng.randint(0, 12)
    cu, cd = rng.randint(0, up), rng.randint(0, down)
    return post_row(
        post_id,
        parent=None,
        root=post_id,
        depth=0,
        title=f"P{post_id}",
        body="b",
        created=created,
        replies=0,
        tallies=(up, down),
        counted=(cu, cd),
    )


@pytest.fixture(scope="module", params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An index of POSTS top-level posts with random tallies, analysed."""
    made = make_engine(empty_index_url(request.param, tmp_path_factory.mktemp("window")))
    ensure_schema(made)
    rng = random.Random(11)
    with made.begin() as conn:
        conn.execute(Post.__table__.insert(), [_row(post_id, rng) for post_id in range(1, POSTS + 1)])
        conn.execute(text("ANALYZE"))
    yield made
    made.dispose()


def _pages(engine: Engine, window: Any, now: int, counted: bool) -> list[list[int]]:
    """Every page of top's window (25 a page, by cursor) as post ids."""
    pages, cursor = [], None
    with Session(engine) as session:
        while True:
            page = build_feed(session, "top", 25, cursor, window=window, now=now, counted=counted, collapse_score=3)
            pages.append([post["id"] for post in page["posts"]])
            cursor = page["next_cursor"]
            if cursor is None or len(pages) > 200:
                return pages


@pytest.mark.parametrize("counted", [True, False])
@pytest.mark.parametrize("now", [NOW, NOW + 30 * DAY], ids=["recent", "quiet-month"])
@pytest.mark.parametrize("window", WINDOWS)
def test_a_windowed_top_listing_is_the_same_whichever_index_finds_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, window: str, now: int, counted: bool
) -> None:
    monkeypatch.setattr(queries, "WINDOW_SORT_MAX", 0)  # never small: the walk down the top index
    walked = _pages(engine, window, now, counted)
    monkeypatch.setattr(queries, "WINDOW_SORT_MAX", 10**9)  # always small (SQLite): the window's index, sorted
    sorted_ = _pages(engine, window, now, counted)
    monkeypatch.undo()
    chosen = _pages(engine, window, now, counted)
    assert walked == sorted_ == chosen
    # the window's posts, collapsed ones last (never left out): one every 3 hours up to NOW - 2 days
    expected = {
        NOW: {"day": 0, "week": 41, "month": 225, "year": 2_905, "all": POSTS},
        NOW + 30 * DAY: {"day": 0, "week": 0, "month": 0, "year": 2_665, "all": POSTS},
    }[now][window]
    assert sum(len(page) for page in chosen) == expected


def _plan(engine: Engine, statement: Any, params: dict[str, Any]) -> str:
    compiled = statement.compile(dialect=engine.dialect)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), {**compiled.params, **params}).all()
        else:
            values = compiled.construct_params(params)
            args = tuple(values[name] for name in compiled.positiontup or ())
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), args).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_an_empty_window_reads_the_window_index_and_a_busy_one_walks_the_top_index(engine: Engine) -> None:
    postgres = engine.dialect.name == "postgresql"
    params = {"n": 26, "threshold": -5}
    if postgres:  # the planner's own choice, from the statistics of created_at
        statement = queries._tier_statement("top", 0, True, False, False, True, True)
        empty = _plan(engine, statement, {**params, "since": NOW})
        busy = _plan(engine, statement, {**params, "since": NOW - 400 * DAY})
        assert "ix_read_window" in empty and "ix_read_feed_top_counted" not in empty, empty
        assert "Index Scan Backward using ix_read_feed_top_counted" in busy and "Sort" not in busy, busy
        return
    with Session(engine) as session:
        assert queries._small_window(session, NOW) and not queries._small_window(session, NOW - 400 * DAY)
    counting = _plan(engine, queries._WINDOW_COUNT, {"since": NOW, "cap": queries.WINDOW_SORT_MAX})
    assert "SEARCH posts USING INDEX ix_read_window (created_at>?)" in counting, counting
    params["since"] = NOW
    small = _plan(engine, queries._tier_statement("top", 0, True, False, False, True, False, True), params)
    assert "SEARCH posts USING INDEX ix_read_window (created_at>?)" in small, small
    walk = _plan(engine, queries._tier_statement("top", 0, True, False, False, True, False, False), params)
    assert "ix_read_feed_top_counted" in walk and "TEMP B-TREE" not in walk, walk
