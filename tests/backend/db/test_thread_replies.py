"""A big thread's pages: the same documents as a straightforward reference, read by a seek and the page's rows.

``queries.reply_rows`` reads a parent with more replies than a post shows (a big thread's root), and the page
after a cursor, by keyset queries down ``ix_read_replies*`` instead of numbering every reply by a window
function. The reference below takes every reply of the level's parents and orders, numbers and cuts them in
Python; every page of the big thread (every cursor followed), under both lenses and three thresholds, is the
same document built either way.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from backend.db import queries
from backend.db.models import Post
from backend.db.session import ensure_schema, make_engine
from backend.views.listings import build_thread
from tests.support.index import DATABASES, empty_index_url, post_row

NOW = 1_800_000_000
ROOT = 1
DIRECT = 1_500  # the root's direct replies: ids 2..DIRECT + 1
NESTED = 400  # replies of the root's first replies, 0 to 80 each (some past a page, some within)
POSTS = Post.__table__
THREADS = (ROOT, 2, 3, 6)  # the root's pages and some replies' own (80, 55 and 3 replies)


def _tallies(rng: random.Random) -> tuple[int, int]:
    """Few distinct tallies, so that many replies share a Wilson bound (the cursor's ties); some fold."""
    if rng.random() < 0.08:
        return rng.randint(0, 2), rng.randint(6, 9)
    return rng.randint(0, 3), rng.randint(0, 2)


def _row(post_id: int, parent: int | None, depth: int, replies: int, rng: random.Random) -> dict[str, Any]:
    up, down = _tallies(rng)
    cu, cd = (up, down) if rng.random() < 0.7 else _tallies(rng)
    created = NOW - 100_000 + post_id
    return post_row(
        post_id, parent=parent, root=ROOT, depth=depth, title=None if parent else "Root", body=f"reply {post_id}",
        created=created, replies=replies, tallies=(up, down), counted=(cu, cd),
    )  # fmt: skip


@pytest.fixture(scope="module", params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A root with DIRECT replies, its first replies with NESTED replies of their own (and those a few more)."""
    made = make_engine(empty_index_url(request.param, tmp_path_factory.mktemp("thread-replies")))
    ensure_schema(made)
    rng = random.Random(25)
    parent_of: dict[int, tuple[int, int]] = {post_id: (ROOT, 1) for post_id in range(2, DIRECT + 2)}
    next_id = DIRECT + 2
    for parent, replies in zip((2, 3, 4, 5, 6), (80, 55, 50, 49, 3), strict=True):  # past a page, within one
        for post_id in range(next_id, next_id + replies):
            parent_of[post_id] = (parent, 2)
        next_id += replies
    while next_id < DIRECT + 2 + NESTED:  # the rest: chains under the root's later replies
        parent = rng.choice([p for p, (_, depth) in parent_of.items() if depth < 4 and p > 7])
        parent_of[next_id] = (parent, parent_of[parent][1] + 1)
        next_id += 1
    counts: dict[int, int] = defaultdict(int)
    for parent, _ in parent_of.values():
        counts[parent] += 1
    rows = [_row(ROOT, None, 0, counts[ROOT], rng)]
    rows += [_row(post_id, parent, depth, counts[post_id], rng) for post_id, (parent, depth) in parent_of.items()]
    with made.begin() as conn:
        conn.execute(POSTS.insert(), rows)
        conn.execute(text("ANALYZE"))
    yield made
    made.dispose()


def _reference_rows(
    session: Session,
    parents: dict[int, int],
    threshold: int,
    per_parent: int,
    budget: int,
    after: tuple[int, float, int] | None = None,
    counted: bool = True,
) -> list[Sequence[Any]]:
    """``queries.reply_rows`` the plain way: every reply of ``parents``, ordered, numbered and cut in Python."""
    score, wilson = queries.score_name(counted), "counted_wilson" if counted else "wilson"
    replies = session.execute(select(POSTS).where(POSTS.c.parent_id.in_(list(parents)))).mappings().all()
    by_parent: dict[int, list[tuple[int, float, int, dict[str, Any]]]] = defaultdict(list)
    for reply in replies:
        key = (1 if reply[score] <= threshold else 0, -reply[wilson], reply["id"])
        if after is None or key > (after[0], -after[1], after[2]):
            by_parent[reply["parent_id"]].append((*key, dict(reply)))
    numbered = []
    for parent, entries in by_parent.items():
        for rn, (tier, _, _, reply) in enumerate(sorted(entries, key=lambda entry: entry[:3])[:per_parent], 1):
            numbered.append((rn, parent, (*(reply[name] for name in queries.OUT_FIELDS), reply[wilson], tier)))
    numbered.sort(key=lambda entry: entry[:2])
    return [row for _, _, row in numbered[:budget]]


def _pages(engine: Engine, post_id: int, counted: bool, fold: int | None, per_parent: int, budget: int) -> list[Any]:
    """Every document of ``post_id``'s thread, following its more_replies cursor to the end."""
    pages, cursor = [], None
    with Session(engine) as session:
        while True:
            document = build_thread(
                session,
                post_id,
                6,
                collapse_score=fold,
                counted=counted,
                cursor=cursor,
                per_parent=per_parent,
                budget=budget,
            )
            assert document is not None
            pages.append(document)
            more = document["post"]["more_replies"]
            if more is None:
                return pages
            cursor = more["cursor"]


@pytest.mark.parametrize(("per_parent", "budget"), [(50, 500), (7, 40)])
@pytest.mark.parametrize("fold", [-5, 0, None])
@pytest.mark.parametrize("counted", [True, False])
def test_every_page_of_a_big_thread_is_the_reference_s(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, counted: bool, fold: int | None, per_parent: int, budget: int
) -> None:
    threads = {post_id: _pages(engine, post_id, counted, fold, per_parent, budget) for post_id in THREADS}
    monkeypatch.setattr(queries, "reply_rows", _reference_rows)
    reference = {post_id: _pages(engine, post_id, counted, fold, per_parent, budget) for post_id in THREADS}
    assert threads == reference
    pages = threads[ROOT]
    assert len(pages) > DIRECT // per_parent // 2
    shown = [reply["id"] for page in pages for reply in page["post"]["replies"]]
    assert sorted(shown) == list(range(2, DIRECT + 2))  # every direct reply once, over the pages
    assert any(reply["replies"] for page in pages for reply in page["post"]["replies"])  # and the levels below
    assert len(threads[2]) > 1 and len(threads[6]) == 1  # a reply's own pages: past a page, within one


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


@pytest.mark.parametrize("counted", [True, False])
@pytest.mark.parametrize("run", ["all", "tie", "below"])
def test_a_big_parent_s_page_is_a_seek_in_its_replies_index_without_a_sort(
    engine: Engine, counted: bool, run: Any
) -> None:
    index = "ix_read_replies_counted" if counted else "ix_read_replies"
    params = {"parent": ROOT, "threshold": -5, "n": 50, "after_wilson": 0.2, "after_id": 700}
    plan = _plan(engine, queries._replies_statement(counted, 0, run), params)
    if engine.dialect.name == "postgresql":
        assert f"Index Scan using {index}" in plan and "Sort" not in plan, plan
    else:
        assert f"SEARCH posts USING INDEX {index} (parent_id=?" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("counted", [True, False])
@pytest.mark.parametrize("run", ["all", "tie", "below"])
def test_a_big_parent_s_collapsed_replies_are_found_by_their_score(engine: Engine, counted: bool, run: Any) -> None:
    score = "counted_score" if counted else "score"
    params = {"parent": ROOT, "threshold": -5, "n": 50, "after_wilson": 0.0, "after_id": 700}
    plan = _plan(engine, queries._replies_statement(counted, 1, run), params)
    if engine.dialect.name == "postgresql":  # the planner's own choice: an index with the parent, no seq scan
        assert "Index Cond: ((parent_id = " in plan and "Seq Scan" not in plan, plan
    else:  # a range of the score: the collapsed replies only, then sorted
        top = "ix_read_feed_top_counted" if counted else "ix_read_feed_top"
        assert f"SEARCH posts USING INDEX {top} (parent_id=? AND {score}<?)" in plan, plan
