"""The ``topics`` table: each topic's top-level posts counted, with its newest, kept by every writer of ``posts``.

``/api/topics`` (and the pages listing topics) reads a few rows of it instead of grouping every top-level post
on every request. Each writer keeps it in the transaction that writes ``posts``:

* a range's new posts (``store``), and a root post whose content arrives later with a topic (``content_sync``),
  are counted up: ``add`` (an upsert per topic: posts + n, the larger newest post);
* anything that removes a post from a topic or may not have inserted every row (a reorg's rollback, a range
  re-indexed below stored posts, a root whose stored topic is rewritten or quarantined) recounts the topics it
  touches from ``posts`` (``recount``: ``GROUP BY topic`` of those topics' top-level posts, over ``ix_read_topic``).

Either way a row equals ``GROUP BY topic`` of the top-level posts with that topic, and a topic left with none
has no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.engine import Connection

from backend.db.models import Post, Topic
from backend.db.write import chunks, execute_many

# (topic, post id, created_at) of a top-level post with a topic
TopicPost = tuple[str, int, int]

_ADD = (
    "INSERT INTO topics (topic, posts, last_post_at, last_post_id) VALUES (?, ?, ?, ?) ON CONFLICT (topic) DO UPDATE "
    "SET posts = topics.posts + excluded.posts, last_post_at = {most}(topics.last_post_at, excluded.last_post_at), "
    "last_post_id = {most}(topics.last_post_id, excluded.last_post_id)"
)


def add(conn: Connection, posts: Iterable[TopicPost]) -> None:
    """Count newly stored top-level posts into their topics (each post once: the caller knows it went in)."""
    totals: dict[str, tuple[int, int, int]] = {}
    for topic, post_id, created_at in posts:
        count, newest_at, newest_id = totals.get(topic, (0, created_at, post_id))
        totals[topic] = (count + 1, max(newest_at, created_at), max(newest_id, post_id))
    if totals:  # one row per topic, in topic order (the same lock order in every transaction)
        most = "greatest" if conn.dialect.name == "postgresql" else "max"
        execute_many(conn, _ADD.format(most=most), [(topic, *totals[topic]) for topic in sorted(totals)])


def _grouped(topics: Sequence[str] | None) -> Select[str | None, int, int, int]:
    query = select(Post.topic, func.count(), func.max(Post.created_at), func.max(Post.id)).where(
        Post.topic.is_not(None), Post.parent_id.is_(None)
    )
    if topics is not None:
        query = query.where(Post.topic.in_(topics))
    return query.group_by(Post.topic)


_COLUMNS = ("topic", "posts", "last_post_at", "last_post_id")


def recount(conn: Connection, topics: Iterable[str | None]) -> None:
    """The rows of these topics recounted from the stored top-level posts (no row when none is left)."""
    names = sorted({topic for topic in topics if topic is not None})
    for part in chunks(names):
        conn.execute(delete(Topic).where(Topic.topic.in_(part)))
        conn.execute(insert(Topic).from_select(_COLUMNS, _grouped(part)))


def rebuild(conn: Connection) -> None:
    """Every row recounted from ``posts`` (for a table filled other than through the indexer: benchmarks)."""
    conn.execute(delete(Topic))
    conn.execute(insert(Topic).from_select(_COLUMNS, _grouped(None)))
