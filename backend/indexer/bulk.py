"""Raw SQL fast paths of ``store``: one statement for many rows, straight through the driver's executemany.

Kept as raw SQL for speed: on a backfill these run for thousands of rows per range, and SQLAlchemy's
per-row parameter processing was most of their cost. Statements are constants of ours; every value is a
bound parameter. Current votes go through ``backend.db.write``'s bulk helpers (COPY on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from backend.db.models import Base, Vote
from backend.db.write import delete_by_key, execute_many, upsert_fast

_SET_REPLY_COUNT = "UPDATE posts SET reply_count = ? WHERE id = ?"
_VOTES = Base.metadata.tables[Vote.__tablename__]  # Core's Table (a model's __table__ is any FromClause)
_VOTE_KEY = ("post_id", "voter")
_VOTE_COLUMNS = (*_VOTE_KEY, "direction", "block_number", "log_index")

_INSERT_FIRST = "INSERT INTO first_activity (address, block_number, log_index) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
_SET_FIRST = "UPDATE first_activity SET block_number = ?, log_index = ? WHERE address = ?"


def insert_first_activity(conn: Connection, rows: Sequence[tuple[str, int, int]]) -> None:
    """Record (address, block number, log index) first actions of addresses not seen before."""
    execute_many(conn, _INSERT_FIRST, rows)


def set_first_activity(conn: Connection, rows: Sequence[tuple[int, int, str]]) -> None:
    """Move first actions earlier: (block number, log index, address) rows."""
    execute_many(conn, _SET_FIRST, rows)


def set_reply_counts(conn: Connection, counts: Sequence[tuple[int, int]]) -> None:
    """Set posts' reply_count from (count, post id) pairs."""
    execute_many(conn, _SET_REPLY_COUNT, counts)


def delete_votes(conn: Connection, pairs: Sequence[tuple[int, str]]) -> None:
    """Remove the current votes of these (post id, voter) pairs."""
    delete_by_key(conn, _VOTES, _VOTE_KEY, pairs)


def upsert_votes(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Set current votes from (post id, voter, direction, block number, log index) rows (one per pair)."""
    upsert_fast(conn, _VOTES, _VOTE_COLUMNS, _VOTE_KEY, rows)
