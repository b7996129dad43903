"""The indexer's inbox table against the posts it is drawn from, and the join the inbox ran before it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from backend.db.models import InboxEntry, Post

_PARENT = aliased(Post, name="parent")
# every reply under its parent's author, but one's own replies: the join /api/authors/{a}/replies ran (schema 13)
JOINED = (
    select(_PARENT.author, Post.id)
    .join(_PARENT, _PARENT.id == Post.parent_id)
    .where(Post.author != _PARENT.author)
    .order_by(_PARENT.author, Post.id)
)


def assert_inbox_kept(engine: Engine) -> list[tuple[Any, ...]]:
    """The inbox table holds exactly each reply under its parent's author (one's own left out); returns its rows."""
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(select(InboxEntry).order_by(*InboxEntry.__table__.primary_key))]
        joined = [tuple(row) for row in conn.execute(JOINED)]
    assert stored == joined, "the inbox table differs from the replies joined to their parents' authors"
    return stored
