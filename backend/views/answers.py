"""One data function per view: the answer its JSON route returns, its page renders and its Atom feed lists.

Each takes the reader's lens and returns the finished answer: rows shaped by ``listings``, ``replies``
or ``search_results``, folded for this reader (``lens.apply_reader``), with the chain facts of the same
snapshot (``chain_facts``) under ``chain``. Nothing a page or a feed shows is computed anywhere else.
The status view is ``service_info.status_document``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from backend.db.fulltext import SearchSort
from backend.db.queries import Sort, Window
from backend.views.chain_facts import chain_facts
from backend.views.lens import ReaderLens, apply_reader, reader_thread
from backend.views.listings import (
    DEFAULT_DEPTH,
    DEFAULT_LIMIT,
    REPLIES_PER_PARENT,
    build_author,
    build_feed,
    carry_params,
)
from backend.views.replies import build_replies
from backend.views.search_results import build_search


def feed_view(
    session: Session,
    lens: ReaderLens,
    sort: Sort = "hot",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    window: Window = "all",
    topic: str | None = None,
) -> dict[str, Any]:
    """Top-level posts (of ``topic`` only, when given) ranked by ``sort``; folded ones sink; BadCursor."""
    feed = build_feed(
        session, sort, limit, cursor, window=window, collapse_score=lens.threshold, counted=lens.counted, topic=topic
    )
    apply_reader(session, feed["posts"], lens, sink=sort != "new", indexed=True)
    return {**feed, "chain": chain_facts(session)}


def topic_view(
    session: Session,
    lens: ReaderLens,
    topic: str,
    sort: Sort = "hot",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    window: Window = "all",
) -> dict[str, Any]:
    """A topic's top-level posts: the feed of that topic."""
    return feed_view(session, lens, sort, limit, cursor, window=window, topic=topic)


def thread_view(
    session: Session,
    lens: ReaderLens,
    post_id: int,
    depth: int = DEFAULT_DEPTH,
    *,
    cursor: str | None = None,
    per_parent: int = REPLIES_PER_PARENT,
    carry: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """A post and its replies nested best first; ``carry`` (the lens as asked) follows the next pages' URLs."""
    thread = carry_params(
        reader_thread(session, post_id, lens, depth, cursor=cursor, per_parent=per_parent), dict(carry or {})
    )
    return None if thread is None else {**thread, "chain": chain_facts(session)}


def author_view(
    session: Session, lens: ReaderLens, author: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    """An author's totals and posts and replies, newest first: never folded by votes, muted ones fold."""
    document = build_author(session, author, limit, cursor)
    apply_reader(session, document["posts"], lens, by_votes=False)
    return {**document, "chain": chain_facts(session)}


def inbox_view(
    session: Session, lens: ReaderLens, author: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    """Replies others made to the author's posts and replies, newest first: their inbox."""
    document = build_replies(session, author, limit, cursor)
    apply_reader(session, document["replies"], lens)
    return {**document, "chain": chain_facts(session)}


def search_view(
    session: Session,
    lens: ReaderLens,
    q: str,
    sort: SearchSort = "relevance",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    budget: float | None = None,
) -> dict[str, Any]:
    """Posts and replies holding every word and phrase of ``q``; folded ones found too; BadQuery, BadCursor.

    ``budget``: seconds of database time the search may take (INDELIBLE_SEARCH_MS), else SearchTooBroad.
    """
    found = build_search(session, q, sort, limit, cursor, counted=lens.counted, budget=budget)
    apply_reader(session, found["results"], lens)
    return {**found, "chain": chain_facts(session)}


def thread_posts(thread: dict[str, Any]) -> list[dict[str, Any]]:
    """Every post of a thread answer, the top one first, then its replies as nested (depth first)."""
    posts: list[dict[str, Any]] = []
    stack = [thread["post"]]
    while stack:
        node = stack.pop()
        posts.append(node)
        stack.extend(reversed(node["replies"]))
    return posts
