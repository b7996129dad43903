"""The feed's statements walk an index in the page's order on both engines: no sort of every post."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend.db import inbox, queries
from backend.db.session import ensure_schema, make_engine
from tests.support.index import DATABASES, empty_index_url

# every listing shape of the front page that reads no topic (a topic's posts are few enough to sort)
SHAPES = [
    (sort, tier, windowed, after, counted)
    for sort, tier, windowed, after, counted in itertools.product(
        ("hot", "top", "controversial", "new"), (0, 1), (False, True), (False, True), (True, False)
    )
    if (sort != "new" or tier == 0) and (sort == "top" or not windowed)
]


@pytest.fixture(scope="module", params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An empty index of each engine."""
    made = make_engine(empty_index_url(request.param, tmp_path_factory.mktemp("plans")))
    ensure_schema(made)
    yield made
    made.dispose()


def _params(sort: str, windowed: bool, after: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"n": 26}
    if sort != "new":
        params["threshold"] = -5
    if windowed:
        params["since"] = 1_700_000_000
    if after:
        params["after_id"] = 1000
        if sort != "new":
            params["after_key"] = 3
    return params


def _plan(engine: Engine, sort: Any, tier: int, windowed: bool, after: bool, counted: bool) -> str:
    postgres = engine.dialect.name == "postgresql"
    statement = queries._tier_statement(sort, tier, windowed, after, False, counted, postgres)
    return _explain(engine, statement, _params(sort, windowed, after))


def _explain(engine: Engine, statement: Any, params: dict[str, Any]) -> str:
    postgres = engine.dialect.name == "postgresql"
    with Session(engine) as session:
        connection = session.connection()
        if postgres:
            # an empty table is cheapest to read whole; with those paths priced out, a sort is left
            # only when no index gives the page's order
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            connection.exec_driver_sql("SET LOCAL enable_sort = off")
            connection.exec_driver_sql("SET LOCAL enable_incremental_sort = off")
            compiled = statement.compile(dialect=engine.dialect)
            sql = "EXPLAIN (COSTS OFF) " + str(compiled)
            rows = connection.exec_driver_sql(sql, {**compiled.params, **params}).all()
        else:
            compiled = statement.compile(dialect=engine.dialect)
            values = compiled.construct_params(params)
            args = tuple(values[name] for name in compiled.positiontup or ())
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), args).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "-".join(str(part) for part in shape))
def test_each_front_page_listing_walks_an_index_in_its_order_and_sorts_nothing(
    engine: Engine, shape: tuple[Any, int, bool, bool, bool]
) -> None:
    plan = _plan(engine, *shape)
    if engine.dialect.name == "postgresql":
        assert "Sort" not in plan and "Seq Scan" not in plan, plan
        assert "Index Scan Backward" in plan, plan
    else:
        assert "SEARCH posts USING" in plan, plan
        # SQLite ranges over the few collapsed posts by score and sorts them (the "+ 0" keeps tier 0 off that path)
        assert shape[1] == 1 or "TEMP B-TREE" not in plan, plan


def test_a_topics_new_listing_walks_an_index_in_id_order(engine: Engine) -> None:
    """The topic's page sorted new and its Atom feed (the same view) read one index, sorting nothing."""
    postgres = engine.dialect.name == "postgresql"
    statement = queries._tier_statement("new", 0, False, False, True, True, postgres)
    plan = _explain(engine, statement, {"n": 51, "topic": "rust"})
    assert ("Sort" not in plan and "Seq Scan" not in plan) if postgres else "TEMP B-TREE" not in plan, plan


def test_the_topics_list_reads_the_per_topic_table_in_its_order(engine: Engine) -> None:
    """/api/topics walks ix_topics_recent backwards: it reads no post and sorts nothing, whatever the index's size."""
    plan = _explain(engine, queries._TOPICS, {"n": 100})
    assert "posts" not in plan, plan
    if engine.dialect.name == "postgresql":
        assert "Sort" not in plan and "Index Scan Backward using ix_topics_recent" in plan, plan
    else:
        assert "SCAN topics USING INDEX ix_topics_recent" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("after", [False, True])
def test_a_topics_page_as_it_opens_walks_its_own_index_and_sorts_nothing(engine: Engine, after: bool) -> None:
    """The topic's page sorted hot under the default lens (how /t/<topic> and /api/posts?topic= open) walks
    ix_read_topic_hot_counted in the page's order, its first page and the next; a big topic is never sorted."""
    postgres = engine.dialect.name == "postgresql"
    statement = queries._tier_statement("hot", 0, False, after, True, True, postgres)
    plan = _explain(engine, statement, {**_params("hot", False, after), "topic": "rust"})
    assert "ix_read_topic_hot_counted" in plan, plan
    assert ("Sort" not in plan and "Seq Scan" not in plan) if postgres else "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("after", [False, True])
def test_the_inbox_walks_its_own_key_and_reads_no_other_post_of_the_author(engine: Engine, after: bool) -> None:
    """An inbox page (the API's, the page's, the Atom feed's) walks the inbox table's key (recipient, reply_id)
    down and reads each reply by its primary key: not the author's posts, not their replies, no sort."""
    statement = inbox._REPLIES_TO_AFTER if after else inbox._REPLIES_TO
    params: dict[str, Any] = {"author": "0x" + "ab" * 20, "n": 51, **({"after_id": 1000} if after else {})}
    plan = _explain(engine, statement, params)
    if engine.dialect.name == "postgresql":
        assert "Sort" not in plan and "Index Only Scan Backward using inbox_pkey" in plan, plan
        assert "ix_posts_author" not in plan and "ix_posts_parent" not in plan, plan
    else:
        inbox_step, posts_step = plan.splitlines()
        assert inbox_step.startswith("SEARCH inbox USING PRIMARY KEY (recipient=?"), plan
        assert posts_step in (
            "SEARCH posts USING INDEX sqlite_autoindex_posts_1 (id=?)",
            "SEARCH posts USING INTEGER PRIMARY KEY (rowid=?)",
        ), plan


def test_postgres_connections_plan_each_statement_afresh_and_compile_none(engine: Engine) -> None:
    """A pooled PostgreSQL connection plans with the parameters and never JIT-compiles, however costly the plan.

    jit_above_cost is set to 0 here so that JIT would compile this search's plan if it were on (at 10 million
    posts a rare word's plan passes the default 100,000 and compiling cost 12 ms a search).
    """
    if engine.dialect.name != "postgresql":
        assert engine.dialect.name == "sqlite"  # SQLite has neither plan cache nor JIT
        return
    with Session(engine) as session:
        connection = session.connection()
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_custom_plan"
        assert connection.exec_driver_sql("SHOW jit").scalar_one() == "off"
        connection.exec_driver_sql("SET LOCAL jit_above_cost = 0")
        plan = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM posts WHERE search @@ phraseto_tsquery('simple', 'w1')"
            " ORDER BY id DESC LIMIT 2000"
        ).scalar_one()
    assert plan[0]["Plan"]["Node Type"] == "Limit"
    assert "JIT" not in plan[0]
