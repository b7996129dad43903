"""The indexer's per-topic table against the posts it summarises, and the /api/topics query it replaced."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from backend.db.models import Post, Topic

# the statement /api/topics ran before the topics table (schema 9): every top-level post grouped per request
OLD_TOPICS = (
    select(Post.topic, func.count().label("posts"), func.max(Post.created_at).label("last_post_at"))
    .where(Post.topic.is_not(None), Post.parent_id.is_(None))
    .group_by(Post.topic)
    .order_by(func.max(Post.created_at).desc(), func.max(Post.id).desc())
)


def recounted(engine: Engine) -> list[tuple[Any, ...]]:
    """(topic, posts, last_post_at, last_post_id) of every topic, grouped from the posts now, in topic order."""
    query = (
        select(Post.topic, func.count(), func.max(Post.created_at), func.max(Post.id))
        .where(Post.topic.is_not(None), Post.parent_id.is_(None))
        .group_by(Post.topic)
        .order_by(Post.topic)
    )
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    """The topics table's rows in topic order."""
    query = select(Topic.topic, Topic.posts, Topic.last_post_at, Topic.last_post_id).order_by(Topic.topic)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def assert_topics_kept(engine: Engine) -> list[tuple[Any, ...]]:
    """The topics table equals the GROUP BY of the posts; returns its rows (topic order)."""
    rows = stored(engine)
    assert rows == recounted(engine), "the topics table differs from GROUP BY topic over the posts"
    return rows


def old_topics(engine: Engine, n: int = 100) -> list[dict[str, Any]]:
    """What /api/topics's rows were before the table: the GROUP BY statement of schema 9."""
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(OLD_TOPICS.limit(n))]
