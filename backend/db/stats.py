"""Read-only summaries of the index for /api/status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from backend.db.models import ContentQueue, Post, Vote, VoteEvent
from backend.db.write import get_meta


def index_summary(engine: Engine) -> dict[str, Any]:
    """Checkpoint, chain identity and row counts of the index."""
    with engine.connect() as conn:
        meta = get_meta(conn)
        content = dict(conn.execute(select(Post.content_status, func.count()).group_by(Post.content_status)).all())
        indexed = meta.get("indexed_block")
        return {
            "indexed_block": int(indexed) if indexed is not None else None,
            "indexed_block_hash": meta.get("indexed_block_hash") or None,
            "chain_id": int(meta["chain_id"]) if "chain_id" in meta else None,
            "genesis_hash": meta.get("genesis_hash"),
            "contract_address": meta.get("contract_address"),
            "deployment_block": int(meta["deployment_block"]) if "deployment_block" in meta else None,
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
