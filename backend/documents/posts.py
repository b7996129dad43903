"""Post documents: feeds, threads, authors' pages and a voter's votes, with their URLs and cursors.

Each ``build_*`` function returns exactly the JSON document its API route
returns, so a page renders the same data as its JSON twin. The rows come from
``backend.db.queries``; the shape, the links and the cursors are made here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy.orm import Session

from backend.db import queries
from backend.db.queries import OUT_FIELDS, RANK_FIELDS, SORT_KEYS, WINDOW_SECONDS, Sort, Window
from backend.documents.cursors import MALFORMED_CURSOR, BadCursor, decode_cursor, encode_cursor, is_int

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DEFAULT_DEPTH = 6
MAX_DEPTH = 20
REPLIES_PER_PARENT = 50  # direct replies of one post shown at once, at any depth (INDELIBLE_THREAD_REPLIES)
THREAD_BUDGET = 500  # replies in one thread document at most, however wide or deep the thread


def post_url(post_id: int) -> str:
    """The JSON URL of a post and its thread."""
    return f"/api/posts/{post_id}"


def post_out(row: dict[str, Any], threshold: int | None) -> dict[str, Any]:
    """A post row as the API shows it; ``threshold`` None never collapses (an author's own page)."""
    out = dict(row)  # a C-level copy, then drop the ranking columns: twice as fast as picking 17 fields
    for name in RANK_FIELDS:
        del out[name]
    out["collapsed"] = threshold is not None and row["score"] <= threshold
    return out


def build_feed(
    session: Session,
    sort: Sort = "hot",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    window: Window = "all",
    collapse_score: int = -5,
    now: int | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """One page of top-level posts (of ``topic`` only, when given): ``{"posts", "next_cursor"}``; BadCursor."""
    listing = f"posts:{sort}:{window}" if sort == "top" else f"posts:{sort}"
    if topic is not None:
        listing += f":t:{topic}"
    resume = decode_cursor(cursor, listing) if cursor else None
    seconds = WINDOW_SECONDS[window] if sort == "top" else None
    since = resume.get("w") if resume else None
    if seconds is not None and since is None:
        since = int(now if now is not None else time.time()) - seconds
    tier = resume["t"] if resume else 0
    after = (resume["k"], resume["i"]) if resume else None
    rows = queries.listing_rows(session, sort, tier, collapse_score, since, after, limit + 1, topic)
    if sort != "new" and tier == 0 and len(rows) <= limit:
        rows += queries.listing_rows(session, sort, 1, collapse_score, since, None, limit + 1 - len(rows), topic)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        last_tier = 0 if sort == "new" or last["score"] > collapse_score else 1
        payload = {"l": listing, "t": last_tier, "k": last[SORT_KEYS[sort].name], "i": last["id"]}
        if since is not None:
            payload["w"] = since
        next_cursor = encode_cursor(payload)
    return {"posts": [post_out(row, collapse_score) for row in page], "next_cursor": next_cursor}


def replies_listing(post_id: int) -> str:
    """The cursor listing of one post's direct replies."""
    return f"replies:{post_id}"


def build_thread(
    session: Session,
    post_id: int,
    depth: int = DEFAULT_DEPTH,
    *,
    collapse_score: int = -5,
    cursor: str | None = None,
    per_parent: int = REPLIES_PER_PARENT,
    budget: int = THREAD_BUDGET,
) -> dict[str, Any] | None:
    """The post with ``depth`` levels of replies nested under ``replies``, best first; None when absent.

    Each post shows at most ``per_parent`` replies and the document at most ``budget``; a post with
    replies left out has ``more_replies: {count, cursor, url}``, and ``cursor`` (from such a
    ``more_replies``) pages this post's direct replies after the ones already shown. BadCursor for a bad one.
    """
    resume = decode_cursor(cursor, replies_listing(post_id)) if cursor else None
    shown_before = resume.get("n", 0) if resume else 0
    if resume is not None and ("k" not in resume or not is_int(shown_before) or shown_before < 0):
        raise BadCursor(MALFORMED_CURSOR)
    top = queries.get_post(session, post_id)
    if top is None:
        return None
    children: dict[int, list[dict[str, Any]]] = defaultdict(list)
    last_key: dict[int, tuple[int, float, int]] = {}  # each parent's last shown child: (tier, wilson, id)
    parents, level, left = [post_id], 0, budget
    while parents and level < depth and left > 0:
        after = (resume["t"], resume["k"], resume["i"]) if resume is not None and level == 0 else None
        rows = queries.reply_rows(session, parents, collapse_score, per_parent, left, after)
        parents = []
        for row in rows:
            out = dict(zip(OUT_FIELDS, row, strict=False))  # every field but the trailing wilson and tier
            children[out["parent_id"]].append(out)
            last_key[out["parent_id"]] = (row[-1], row[-2], out["id"])
            if out["reply_count"]:
                parents.append(out["id"])
        level, left = level + 1, left - len(rows)

    def node(out: dict[str, Any], before: int = 0) -> dict[str, Any]:
        replies = children.get(out["id"], [])  # in order already: the level query numbers them best first
        out["collapsed"] = out["score"] <= collapse_score
        out["replies"] = [node(reply) for reply in replies]
        out["more_replies"] = _more_replies(out, before + len(replies), last_key.get(out["id"]))
        out["url"] = post_url(out["id"])
        return out

    return {"post": node(post_out(top, collapse_score), shown_before), "depth": depth}


def _more_replies(post: dict[str, Any], shown: int, last: tuple[int, float, int] | None) -> dict[str, Any] | None:
    """What is left of ``post``'s direct replies after ``shown`` of them: count, cursor and URL; None if none."""
    count = post["reply_count"] - shown
    if count <= 0:
        return None
    if last is None:  # none shown here (depth or budget reached): the post's own page starts them
        return {"count": count, "cursor": None, "url": post_url(post["id"])}
    tier, wilson, after_id = last
    cursor = encode_cursor({"l": replies_listing(post["id"]), "t": tier, "k": wilson, "i": after_id, "n": shown})
    return {"count": count, "cursor": cursor, "url": f"{post_url(post['id'])}?cursor={cursor}"}


def build_author(
    session: Session, address: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    """An author's posts and replies, newest first, never collapsed (any address: maybe none yet)."""
    listing = f"author:{address}"
    resume = decode_cursor(cursor, listing) if cursor else None
    totals = queries.author_totals(session, address)
    rows = queries.author_rows(session, address, limit + 1, resume["i"] if resume else None)
    page = rows[:limit]
    next_cursor = encode_cursor({"l": listing, "t": 0, "i": page[-1]["id"]}) if len(rows) > limit else None
    return {
        "address": address,
        "totals": totals,
        "posts": [post_out(row, None) for row in page],
        "next_cursor": next_cursor,
    }


def build_votes(session: Session, voter: str, post_ids: list[int]) -> dict[str, Any]:
    """``voter``'s current vote on each of ``post_ids`` that has one: ``{"voter": ..., "votes": {"<id>": +1/-1}}``."""
    rows = queries.vote_rows(session, voter, post_ids)
    return {"voter": voter, "votes": {str(post_id): direction for post_id, direction in rows}}


def build_topics(session: Session, limit: int = MAX_LIMIT) -> dict[str, Any]:
    """Topics by activity: ``{"topics": [{"topic", "posts", "last_post_at", "url"}]}``, most recent first."""
    rows = queries.topic_rows(session, limit)
    return {"topics": [row | {"url": f"/api/posts?topic={row['topic']}"} for row in rows]}
