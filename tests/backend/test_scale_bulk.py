"""bench/scale.py's bulk fill leaves exactly the rows the indexer's own write path (store_range) leaves.

The same made-up chain (posts, replies down to a deep thread, 3 votes per post, a NonceUsed per signed item,
some documents missing and some invalid) goes once through ``store_range`` + ``checkpoint.advance`` range by
range, and once through ``bench.scale_bulk.fill``; every table is compared row for row in key order (derived
columns included: tallies, rankings, reply counts, counted tallies, first activity, nonces, content queue,
blocks and meta), then the full-text search (SQLite's posts_fts, PostgreSQL's generated ``search`` column, which
is a column of the posts rows compared) and the indexes and constraints the bulk path drops and makes again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from backend.db.models import Base
from backend.db.session import make_engine
from bench import scale, scale_bulk
from bench.api import drop_tables
from tests.support.inbox import assert_inbox_kept
from tests.support.topics import assert_topics_kept

POSTS = 1_200  # past the big thread's start (post 100) and across ~30 ranges; replies reach depth > 2
WORDS = ["w0", "w1", "w7", "w50", "w400", "w3000", "topic3", "reply", "says"]


def _chain() -> scale.Chain:
    return scale.Chain(start_time=1_700_000_000, missing_every=97, invalid_every=53)


def _everything(engine: Engine) -> dict[str, Any]:
    """Every table's rows in key order, the search results of a few words, and the schema's indexes."""
    dump: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            dump[table.name] = [tuple(row) for row in conn.execute(select(table).order_by(*order))]
        if engine.dialect.name == "postgresql":
            dump["search"] = [
                conn.execute(
                    text("SELECT id FROM posts WHERE search @@ to_tsquery('simple', :w) ORDER BY id"), {"w": word}
                ).all()
                for word in WORDS
            ]
            dump["schema"] = conn.execute(
                text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 2")
            ).all()
            dump["constraints"] = conn.execute(
                text(
                    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE connamespace = 'public'::regnamespace ORDER BY 2"
                )
            ).all()
        else:
            conn.exec_driver_sql("INSERT INTO posts_fts(posts_fts) VALUES ('integrity-check')")
            dump["search"] = [
                conn.execute(
                    text("SELECT rowid FROM posts_fts WHERE posts_fts MATCH :w ORDER BY rowid"), {"w": word}
                ).all()
                for word in WORDS
            ]
            dump["fts_docsize"] = conn.exec_driver_sql("SELECT * FROM posts_fts_docsize ORDER BY id").all()
            dump["schema"] = conn.exec_driver_sql(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name"
            ).all()
    return dump


def _fresh(database_url: str, tmp_path: Path, name: str) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / name}"
    drop_tables(database_url)
    return database_url


def test_bulk_fill_makes_the_rows_store_range_makes(database_url: str, tmp_path: Path) -> None:
    url = _fresh(database_url, tmp_path, "real.sqlite3")
    real_chain = _chain()
    scale.fill(url, real_chain, POSTS, progress=False)
    engine = make_engine(url)
    real = _everything(engine)
    assert_topics_kept(engine)
    assert_inbox_kept(engine)
    engine.dispose()

    url = _fresh(database_url, tmp_path, "bulk.sqlite3")
    bulk_chain = _chain()
    filled = scale_bulk.fill(url, bulk_chain, POSTS, scale.RANGE_BLOCKS, progress=False, spool=tmp_path)
    engine = make_engine(url)
    bulk = _everything(engine)
    engine.dispose()

    assert filled["events"] == 8 * POSTS  # a PostCreated and 3 VoteCast, each with its NonceUsed
    posts = real["posts"]
    assert len(posts) == POSTS
    statuses = {row[9] for row in posts}  # content_status: every kind the chain makes
    assert statuses == {"pinned", "missing", "invalid"}
    assert max(row[4] for row in posts) > 2  # depth: replies to replies
    assert any(row[20] > 0 for row in posts)  # reply_count
    assert any(row[24] != row[17] for row in posts)  # counted_upvotes differs from upvotes somewhere
    assert real["content_queue"] and real["first_activity"] and real["nonces"] and real["blocks"] and real["inbox"]
    assert len(real["topics"]) == len(scale.TOPICS) and sum(row[1] for row in real["topics"]) > POSTS // 10
    assert all(hits for hits in real["search"][:4])
    for name in real:
        assert bulk[name] == real[name], f"{name} differs between the bulk path and store_range"
