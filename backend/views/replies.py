"""Inbox documents: the replies others made to an author's posts, newest first, folded ones marked."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.db.inbox import replies_to
from backend.views.cursors import decode_cursor, encode_cursor
from backend.views.listings import DEFAULT_LIMIT, post_url


def build_replies(
    session: Session, address: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None, *, collapse_score: int = -5
) -> dict[str, Any]:
    """``{"address", "replies": [...], "next_cursor"}`` for a checksum ``address``; BadCursor for a bad cursor."""
    listing = f"replies-to:{address}"
    resume = decode_cursor(cursor, listing) if cursor else None
    rows = replies_to(session, address, limit + 1, resume["i"] if resume else None)
    page = rows[:limit]
    next_cursor = encode_cursor({"l": listing, "t": 0, "i": page[-1]["id"]}) if len(rows) > limit else None
    replies = []
    for row in page:
        out = dict(row)
        out["collapsed"] = row["score"] <= collapse_score
        out["url"] = post_url(row["id"])
        out["parent_url"] = post_url(row["parent_id"])
        replies.append(out)
    return {"address": address, "replies": replies, "next_cursor": next_cursor}
