"""Summaries of the index for /api/status: counted by the indexer, published in ``meta``, read per request.

Counting every post, author and vote costs a full scan of each table: the
indexer does it at most every few seconds (``backend.indexer.publish``) and
writes the result, with its own state and what it last heard from the node,
as one JSON value in the table ``index_status``. A status request reads the
meta rows and that value (two small queries) and never asks the node anything.
``index_status`` is bookkeeping beside the index, not part of it (its own
MetaData, like ``backend.limits``): a wipe or a dump of the index leaves it out.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from backend.db.models import ContentQueue, Post, Vote, VoteEvent
from backend.db.write import get_meta

STATUS_KEY = "status"  # the row of the indexer's published snapshot (JSON)
STATUS = Table(
    "index_status", MetaData(), Column("key", String(50), primary_key=True), Column("value", Text, nullable=False)
)
# the share of the time full counts may take: after a count of d seconds, if d is at least SLOW_COUNT_SECONDS,
# the next one waits at least d / COUNT_DUTY (at 10M posts a count is seconds of database work: every few seconds,
# it would hold a core of the readers'); a faster count is taken whenever the index moved, as the snapshot's counts
# are then those of its indexed block
COUNT_DUTY = 0.05
SLOW_COUNT_SECONDS = 0.25
_CREATE = "CREATE TABLE IF NOT EXISTS index_status (key VARCHAR(50) PRIMARY KEY, value TEXT NOT NULL)"


def ensure_status_table(engine: Engine) -> None:
    """Create ``index_status`` if missing (safe beside other processes doing the same)."""
    try:
        with engine.begin() as conn:
            conn.execute(text(_CREATE))
    except SQLAlchemyError:  # another process created it between the check and the CREATE (PostgreSQL)
        with engine.connect() as conn:
            conn.execute(select(STATUS.c.key).limit(1))


def index_meta(meta: dict[str, str]) -> dict[str, Any]:
    """Checkpoint and chain identity of the index, from its meta rows."""
    indexed = meta.get("indexed_block")
    return {
        "indexed_block": int(indexed) if indexed is not None else None,
        "indexed_block_hash": meta.get("indexed_block_hash") or None,
        "chain_id": int(meta["chain_id"]) if "chain_id" in meta else None,
        "genesis_hash": meta.get("genesis_hash"),
        "contract_address": meta.get("contract_address"),
        "deployment_block": int(meta["deployment_block"]) if "deployment_block" in meta else None,
    }


def index_counts(conn: Connection) -> dict[str, Any]:
    """Row counts of the index (full counts: for the indexer's periodic snapshot, not per request)."""
    content = dict(conn.execute(select(Post.content_status, func.count()).group_by(Post.content_status)).all())
    return {
        "posts": conn.execute(select(func.count()).select_from(Post)).scalar_one(),
        "authors": conn.execute(select(func.count(Post.author.distinct()))).scalar_one(),
        "votes": conn.execute(select(func.count()).select_from(Vote)).scalar_one(),
        "vote_events": conn.execute(select(func.count()).select_from(VoteEvent)).scalar_one(),
        "content": {
            "pinned": content.get("pinned", 0),
            "missing": content.get("missing", 0),
            "invalid": content.get("invalid", 0),
            "queued": conn.execute(select(func.count()).select_from(ContentQueue)).scalar_one(),
        },
    }


def timed_counts(conn: Connection) -> tuple[dict[str, Any], float]:
    """``index_counts`` and how long they took (s), for ``count_gap``."""
    began = time.perf_counter()
    counts = index_counts(conn)
    return counts, time.perf_counter() - began


def count_gap(interval: float, cost: float) -> float:
    """Seconds to wait before counting again: ``interval``, or longer when the last count took ``cost`` seconds."""
    return interval if cost < SLOW_COUNT_SECONDS else max(interval, cost / COUNT_DUTY)


def index_summary(engine: Engine) -> dict[str, Any]:
    """Checkpoint, chain identity and row counts of the index, counted now (tests, benchmarks, the indexer)."""
    with engine.connect() as conn:
        return {**index_meta(get_meta(conn)), **index_counts(conn)}


def publish(conn: Connection, snapshot: dict[str, Any]) -> None:
    """Store the indexer's status snapshot (the indexer thread only)."""
    value = json.dumps(snapshot, separators=(",", ":"))
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(STATUS)
    statement = insert.values(key=STATUS_KEY, value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=[STATUS.c.key], set_={"value": value}))


def read_status(engine: Engine) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The index's checkpoint and identity, and the last published snapshot (None before the first)."""
    with engine.connect() as conn:
        meta = get_meta(conn)  # the index database down raises here
    try:
        with engine.connect() as conn:
            raw = conn.execute(select(STATUS.c.value).where(STATUS.c.key == STATUS_KEY)).scalar()
    except SQLAlchemyError:  # no indexer has made the table yet
        raw = None
    try:
        snapshot = json.loads(raw) if raw else None
    except ValueError:
        snapshot = None
    return index_meta(meta), snapshot if isinstance(snapshot, dict) else None
