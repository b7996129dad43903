"""Post documents: feeds, threads, authors' pages and a voter's votes, with their URLs and cursors.

Each ``build_*`` function returns exactly the JSON document its API route
returns, so a page renders the same data as its JSON twin. The rows come from
``backend.db.queries``; the shape, the links and the cursors are made here.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from backend.db import queries
from backend.db.queries import NEVER_FOLD, OUT_FIELDS, RANK_FIELDS, WINDOW_SECONDS, Sort, Window, score_name, sort_key
from backend.views.cursors import MALFORMED_CURSOR, BadCursor, decode_cursor, encode_cursor, is_int

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DEFAULT_DEPTH = 6
MAX_DEPTH = 20
REPLIES_PER_PARENT = 50  # direct replies of one post shown at once, at any depth (INDELIBLE_THREAD_REPLIES)
THREAD_BUDGET = 500  # replies in one thread document at most, however wide or deep the thread


def post_url(post_id: int) -> str:
    """The JSON URL of a post and its thread."""
    return f"/api/posts/{post_id}"


def post_out(row: dict[str, Any], threshold: int | None, counted: bool = True) -> dict[str, Any]:
    """A post row as the API shows it; ``threshold`` None never collapses (an author's own, the never-fold lens)."""
    out = dict(row)  # a C-level copy, then drop the ranking columns: twice as fast as picking 17 fields
    for name in RANK_FIELDS:
        del out[name]
    out["collapsed"] = threshold is not None and row[score_name(counted)] <= threshold
    out["muted"] = False  # a reader's mute list sets it (backend.views.lens.apply_reader)
    return out


def lens_suffix(counted: bool) -> str:
    """What a cursor's listing adds for the "all votes" lens, so a cursor never crosses lenses."""
    return "" if counted else ":all"


def build_feed(
    session: Session,
    sort: Sort = "hot",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    window: Window = "all",
    collapse_score: int | None = -5,
    counted: bool = True,
    now: int | None = None,
    topic: str | None = None,
) -> dict[str, Any]:
    """One page of top-level posts (of ``topic`` only, when given): ``{"posts", "next_cursor"}``; BadCursor.

    ``counted`` ranks and folds by the default lens's counted tallies (False: every vote);
    ``collapse_score`` None folds nothing.
    """
    listing = (f"posts:{sort}:{window}" if sort == "top" else f"posts:{sort}") + lens_suffix(counted)
    if topic is not None:
        listing += f":t:{topic}"
    fold = NEVER_FOLD if collapse_score is None else collapse_score
    resume = decode_cursor(cursor, listing) if cursor else None
    seconds = WINDOW_SECONDS[window] if sort == "top" else None
    since = resume.get("w") if resume else None
    if seconds is not None and since is None:
        since = int(now if now is not None else time.time()) - seconds
    tier = resume["t"] if resume else 0
    after = (resume["k"], resume["i"]) if resume else None
    rows = queries.listing_rows(session, sort, tier, fold, since, after, limit + 1, topic, counted)
    if sort != "new" and tier == 0 and len(rows) <= limit:
        rows += queries.listing_rows(session, sort, 1, fold, since, None, limit + 1 - len(rows), topic, counted)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        last_tier = 0 if sort == "new" or last[score_name(counted)] > fold else 1
        payload = {"l": listing, "t": last_tier, "k": last[sort_key(sort, counted).name], "i": last["id"]}
        if since is not None:
            payload["w"] = since
        next_cursor = encode_cursor(payload)
    return {"posts": [post_out(row, collapse_score, counted) for row in page], "next_cursor": next_cursor}


def replies_listing(post_id: int, counted: bool = True) -> str:
    """The cursor listing of one post's direct replies."""
    return f"replies:{post_id}{lens_suffix(counted)}"


def build_thread(
    session: Session,
    post_id: int,
    depth: int = DEFAULT_DEPTH,
    *,
    collapse_score: int | None = -5,
    counted: bool = True,
    cursor: str | None = None,
    per_parent: int = REPLIES_PER_PARENT,
    budget: int = THREAD_BUDGET,
) -> dict[str, Any] | None:
    """The post with ``depth`` levels of replies nested under ``replies``, best first; None when absent.

    Each post shows at most ``per_parent`` replies and the document at most ``budget``; a post with
    replies left out has ``more_replies: {count, cursor, url}``, and ``cursor`` (from such a
    ``more_replies``) pages this post's direct replies after the ones already shown. BadCursor for a bad one.
    """
    resume = decode_cursor(cursor, replies_listing(post_id, counted)) if cursor else None
    fold = NEVER_FOLD if collapse_score is None else collapse_score
    score = score_name(counted)
    shown_before = resume.get("n", 0) if resume else 0
    if resume is not None and ("k" not in resume or not is_int(shown_before) or shown_before < 0):
        raise BadCursor(MALFORMED_CURSOR)
    top = queries.get_post(session, post_id)
    if top is None:
        return None
    children: dict[int, list[dict[str, Any]]] = defaultdict(list)
    last_key: dict[int, tuple[int, float, int]] = {}  # each parent's last shown child: (tier, wilson, id)
    parents, level, left = {post_id: top["reply_count"]}, 0, budget  # each with its reply count
    while parents and level < depth and left > 0:
        after = (resume["t"], resume["k"], resume["i"]) if resume is not None and level == 0 else None
        rows = queries.reply_rows(session, parents, fold, per_parent, left, after, counted)
        parents = {}
        for row in rows:
            out = dict(zip(OUT_FIELDS, row, strict=False))  # every field but the trailing wilson and tier
            children[out["parent_id"]].append(out)
            last_key[out["parent_id"]] = (row[-1], row[-2], out["id"])
            if out["reply_count"]:
                parents[out["id"]] = out["reply_count"]
        level, left = level + 1, left - len(rows)

    def node(out: dict[str, Any], before: int = 0) -> dict[str, Any]:
        replies = children.get(out["id"], [])  # in order already: the level query numbers them best first
        out["collapsed"] = collapse_score is not None and out[score] <= collapse_score
        out["muted"] = False
        out["replies"] = [node(reply) for reply in replies]
        out["more_replies"] = _more_replies(out, before + len(replies), last_key.get(out["id"]), counted)
        out["url"] = post_url(out["id"])
        return out

    return {"post": node(post_out(top, collapse_score, counted), shown_before), "depth": depth}


def _more_replies(
    post: dict[str, Any], shown: int, last: tuple[int, float, int] | None, counted: bool = True
) -> dict[str, Any] | None:
    """What is left of ``post``'s direct replies after ``shown`` of them: count, cursor and URL; None if none."""
    count = post["reply_count"] - shown
    if count <= 0:
        return None
    if last is None:  # none shown here (depth or budget reached): the post's own page starts them
        return {"count": count, "cursor": None, "url": post_url(post["id"])}
    tier, wilson, after_id = last
    payload = {"l": replies_listing(post["id"], counted), "t": tier, "k": wilson, "i": after_id, "n": shown}
    cursor = encode_cursor(payload)
    lens = "" if counted else "&lens=all"  # the cursor belongs to its lens's order
    return {"count": count, "cursor": cursor, "url": f"{post_url(post['id'])}?cursor={cursor}{lens}"}


def carry_params(thread: dict[str, Any] | None, params: dict[str, str]) -> dict[str, Any] | None:
    """``thread`` with every ``more_replies.url`` carrying the reader's lens ``params`` as asked."""
    if thread is None or not params:
        return thread
    stack = [thread["post"]]
    while stack:
        node = stack.pop()
        stack.extend(node["replies"])
        more = node["more_replies"]
        if more is not None:
            query = ({"cursor": more["cursor"]} if more["cursor"] else {}) | params  # the asked lens replaces its own
            more["url"] = f"{post_url(node['id'])}?{urlencode(query)}"
    return thread


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
