"""The engine's bookkeeping in the index: the checkpoint and the recent block hashes that find a fork point.

Runs inside the caller's transaction, so a range's rows and its checkpoint commit together.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.engine import Connection

from backend.db.models import Block, Meta
from backend.db.write import get_meta, insert_ignore, set_meta

KEEP_BLOCKS = 128  # recent block hashes kept to find a fork point
_BLOCKS = Block.metadata.tables[Block.__tablename__]  # Core's Table (a model's __table__ is any FromClause)


def read(conn: Connection) -> tuple[int, str]:
    """The last indexed block and its hash ("" before the first range)."""
    meta = get_meta(conn)
    return int(meta["indexed_block"]), meta.get("indexed_block_hash", "")


def set_checkpoint(conn: Connection, number: int, block_hash: str) -> None:
    """The last block whose logs are all in the index."""
    set_meta(conn, "indexed_block", str(number))
    set_meta(conn, "indexed_block_hash", block_hash)


def advance(conn: Connection, headers: dict[int, dict[str, Any]], end: int, end_hash: str) -> None:
    """Record a stored range's block hashes, forget those too old to matter, move the checkpoint to ``end``."""
    blocks = [
        {"number": n, "hash": h["hash"], "parent_hash": h.get("parentHash")}
        for n, h in sorted(headers.items())
        if h is not None
    ]
    insert_ignore(conn, _BLOCKS, blocks)
    conn.execute(delete(Block).where(and_(Block.number < end - KEEP_BLOCKS, Block.number != end)))
    set_checkpoint(conn, end, end_hash)


def recent_blocks(conn: Connection) -> list[tuple[int, str]]:
    """The stored (number, hash) of recent blocks, newest first: where to look for a fork point."""
    return [(n, h) for n, h in conn.execute(select(Block.number, Block.hash).order_by(Block.number.desc()))]


def rewind(conn: Connection, fork_block: int, fork_hash: str) -> None:
    """Forget the blocks above ``fork_block`` and move the checkpoint back to it."""
    conn.execute(delete(Block).where(Block.number > fork_block))
    set_checkpoint(conn, fork_block, fork_hash)


def wipe(conn: Connection) -> None:
    """Forget every block and every meta key but the schema version (the chain identity goes with them)."""
    conn.execute(delete(Block))
    conn.execute(delete(Meta).where(Meta.key != "schema_version"))
