"""Read queries of the API and pages: feeds, threads, authors, a voter's votes. They only read the index.

Each ``build_*`` function returns exactly the JSON document its API route
returns, so a page renders the same data as its JSON twin. Listings use keyset
pagination on (tier, sort key, id): an opaque cursor names the last row seen, so
new posts arriving between pages never make a page skip or repeat a post.

Collapsed posts (score <= the collapse threshold) form the second tier of the
hot, top and controversial listings and of a thread's replies: they come after
every other post, in the same order among themselves, and are never left out.
"new" is a timeline and keeps them in place. See docs/ranking.md.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import time
from collections import defaultdict
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, case, func, or_, select, tuple_
from sqlalchemy.orm import Session

from backend.db.models import Post, Vote

Sort = Literal["hot", "new", "top", "controversial"]
Window = Literal["day", "week", "month", "year", "all"]
WINDOW_SECONDS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400, "year": 365 * 86_400, "all": None}
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
DEFAULT_DEPTH = 6
MAX_DEPTH = 20
REPLIES_PER_PARENT = 50  # direct replies of one post shown at once, at any depth (INDELIBLE_THREAD_REPLIES)
THREAD_BUDGET = 500  # replies in one thread document at most, however wide or deep the thread

POSTS = Post.__table__
OUT_FIELDS = (
    "id", "author", "parent_id", "root_id", "depth", "cid", "digest", "title", "body", "content_status",
    "content_error", "created_at", "block_number", "tx_hash", "upvotes", "downvotes", "score", "reply_count",
)  # fmt: skip
_RANK_FIELDS = ("hot", "controversial", "wilson")  # read for ordering and cursors, not shown
_COLUMNS = [POSTS.c[name] for name in (*OUT_FIELDS, *_RANK_FIELDS)]
_SORT_KEYS = {"hot": POSTS.c.hot, "top": POSTS.c.score, "controversial": POSTS.c.controversial, "new": POSTS.c.id}

_TOP_LEVEL = POSTS.c.parent_id.is_(None)
MALFORMED_CURSOR = "cursor: malformed; pass next_cursor back exactly as it was given"


class BadCursor(ValueError):
    """A cursor that this listing did not make; the message says what is wrong."""


def encode_cursor(payload: dict[str, Any]) -> str:
    """Opaque cursor: base64url of compact JSON, without padding."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, listing: str) -> dict[str, Any]:
    """The payload of ``cursor``, checked to belong to ``listing``; BadCursor otherwise."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(MALFORMED_CURSOR) from exc
    if not isinstance(payload, dict):
        raise BadCursor(MALFORMED_CURSOR)
    if payload.get("l") != listing:
        raise BadCursor(f"cursor: made for another listing, not {listing}")
    if not (_is_int(payload.get("i")) and payload.get("t") in (0, 1) and _is_number(payload.get("k", 0))):
        raise BadCursor(MALFORMED_CURSOR)
    if "w" in payload and not _is_int(payload["w"]):
        raise BadCursor(MALFORMED_CURSOR)
    return payload


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def post_out(row: dict[str, Any], threshold: int | None) -> dict[str, Any]:
    """A post row as the API shows it; ``threshold`` None never collapses (an author's own page)."""
    out = dict(row)  # a C-level copy, then drop the ranking columns: twice as fast as picking 17 fields
    for name in _RANK_FIELDS:
        del out[name]
    out["collapsed"] = threshold is not None and row["score"] <= threshold
    return out


def _rows(session: Session, statement: Select[Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    result = session.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


# Statements are built once per shape and take their values as bound parameters: building a
# select and computing its cache key cost more than running it on its index (docs/benchmarks.md).
@functools.cache
def _tier_statement(sort: Sort, tier: int, windowed: bool, after: bool) -> Select[Any]:
    key = _SORT_KEYS[sort]
    statement = select(*_COLUMNS).where(_TOP_LEVEL)
    threshold = bindparam("threshold", type_=POSTS.c.score.type)
    if sort != "new" and tier == 1:
        statement = statement.where(POSTS.c.score <= threshold)
    elif sort != "new":
        # "+ 0" keeps SQLite from ranging over a score index and sorting, instead of walking the key's index
        statement = statement.where((POSTS.c.score if sort == "top" else POSTS.c.score + 0) > threshold)
    if windowed:
        statement = statement.where(POSTS.c.created_at >= bindparam("since", type_=POSTS.c.created_at.type))
    if after:
        after_id = bindparam("after_id", type_=POSTS.c.id.type)
        statement = statement.where(
            POSTS.c.id < after_id
            if sort == "new"
            else tuple_(key, POSTS.c.id) < tuple_(bindparam("after_key", type_=key.type), after_id)
        )
    order = (POSTS.c.id.desc(),) if sort == "new" else (key.desc(), POSTS.c.id.desc())
    return statement.order_by(*order).limit(bindparam("n"))


def _tier_page(
    session: Session, sort: Sort, tier: int, threshold: int, since: int | None, after: tuple[Any, int] | None, n: int
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"n": n}
    if sort != "new":
        params["threshold"] = threshold
    if since is not None:
        params["since"] = since
    if after is not None:
        params["after_id"] = after[1]
        if sort != "new":
            params["after_key"] = after[0]
    return _rows(session, _tier_statement(sort, tier, since is not None, after is not None), params)


def build_feed(
    session: Session,
    sort: Sort = "hot",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    window: Window = "all",
    collapse_score: int = -5,
    now: int | None = None,
) -> dict[str, Any]:
    """One page of top-level posts: ``{"posts": [...], "next_cursor": ...}``; BadCursor for a bad cursor."""
    listing = f"posts:{sort}:{window}" if sort == "top" else f"posts:{sort}"
    state = decode_cursor(cursor, listing) if cursor else None
    seconds = WINDOW_SECONDS[window] if sort == "top" else None
    since = (state or {}).get("w") if state else None
    if seconds is not None and since is None:
        since = int(now if now is not None else time.time()) - seconds
    tier = state["t"] if state else 0
    after = (state["k"], state["i"]) if state else None
    rows = _tier_page(session, sort, tier, collapse_score, since, after, limit + 1)
    if sort != "new" and tier == 0 and len(rows) <= limit:
        rows += _tier_page(session, sort, 1, collapse_score, since, None, limit + 1 - len(rows))
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        last_tier = 0 if sort == "new" or last["score"] > collapse_score else 1
        payload = {"l": listing, "t": last_tier, "k": last[_SORT_KEYS[sort].name], "i": last["id"]}
        if since is not None:
            payload["w"] = since
        next_cursor = encode_cursor(payload)
    return {"posts": [post_out(row, collapse_score) for row in page], "next_cursor": next_cursor}


_ID = bindparam("id", type_=POSTS.c.id.type)
_ROOT = bindparam("root", type_=POSTS.c.root_id.type)
_BELOW = bindparam("below", type_=POSTS.c.depth.type)
_AUTHOR = bindparam("author", type_=POSTS.c.author.type)
_POST = select(*_COLUMNS).where(POSTS.c.id == _ID)
_SUBTREE = select(*_COLUMNS).where(POSTS.c.root_id == _ROOT, POSTS.c.depth > _BELOW)
# a thread's replies: the shown fields, then the Wilson bound they are ordered by (one dict per reply)
_THREAD_NEWEST = _SUBTREE.order_by(POSTS.c.id.desc())
_AUTHOR_TOTALS = select(
    func.count().filter(_TOP_LEVEL),
    func.count().filter(POSTS.c.parent_id.is_not(None)),
    func.coalesce(func.sum(POSTS.c.upvotes), 0),
    func.coalesce(func.sum(POSTS.c.downvotes), 0),
).where(POSTS.c.author == _AUTHOR)
_AUTHOR_PAGE = select(*_COLUMNS).where(POSTS.c.author == _AUTHOR).order_by(POSTS.c.id.desc()).limit(bindparam("n"))
_AUTHOR_PAGE_AFTER = _AUTHOR_PAGE.where(POSTS.c.id < bindparam("after_id", type_=POSTS.c.id.type))
_RECENT = select(*_COLUMNS).where(_TOP_LEVEL).order_by(POSTS.c.id.desc()).limit(bindparam("n"))


def get_post(session: Session, post_id: int) -> dict[str, Any] | None:
    """One post row, or None."""
    rows = _rows(session, _POST, {"id": post_id})
    return rows[0] if rows else None


# A thread's replies, one level per query: each parent's first ``per_parent`` children best first (not
# collapsed, then the Wilson lower bound, then the older reply), numbered by a window function over just the
# parents of that level (ix_posts_parent finds them), then the level cut at ``budget`` rows taking each
# parent's 1st child, then each one's 2nd..., so a wide level shares the budget instead of the first parent
# taking it all. Levels stop when the budget is spent; every cut shows as ``more_replies`` with a cursor.
_TIER = case((POSTS.c.score <= bindparam("threshold", type_=POSTS.c.score.type), 1), else_=0)
_REPLY_FIELDS = [POSTS.c[name] for name in (*OUT_FIELDS, "wilson")]


@functools.cache
def _level_statement(after: bool) -> Select[Any]:
    statement = select(
        *_REPLY_FIELDS,
        _TIER.label("tier"),
        func.row_number()
        .over(partition_by=POSTS.c.parent_id, order_by=(_TIER, POSTS.c.wilson.desc(), POSTS.c.id))
        .label("rn"),
    ).where(POSTS.c.parent_id.in_(bindparam("parents", type_=POSTS.c.id.type, expanding=True)))
    if after:
        tier, wilson = bindparam("after_tier"), bindparam("after_wilson", type_=POSTS.c.wilson.type)
        after_id = bindparam("after_id", type_=POSTS.c.id.type)
        statement = statement.where(
            or_(
                _TIER > tier,
                and_(
                    _TIER == tier, or_(POSTS.c.wilson < wilson, and_(POSTS.c.wilson == wilson, POSTS.c.id > after_id))
                ),
            )
        )
    level = statement.subquery()
    return (
        select(*(level.c[name] for name in (*OUT_FIELDS, "wilson", "tier")))
        .where(level.c.rn <= bindparam("per_parent"))
        .order_by(level.c.rn, level.c.parent_id)
        .limit(bindparam("budget"))
    )


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
    state = decode_cursor(cursor, replies_listing(post_id)) if cursor else None
    shown_before = state.get("n", 0) if state else 0
    if state is not None and ("k" not in state or not _is_int(shown_before) or shown_before < 0):
        raise BadCursor(MALFORMED_CURSOR)
    top = get_post(session, post_id)
    if top is None:
        return None
    children: dict[int, list[dict[str, Any]]] = defaultdict(list)
    last_key: dict[int, tuple[int, float, int]] = {}  # each parent's last shown child: (tier, wilson, id)
    parents, level, left = [post_id], 0, budget
    while parents and level < depth and left > 0:
        params: dict[str, Any] = {
            "parents": parents,
            "threshold": collapse_score,
            "per_parent": per_parent,
            "budget": left,
        }
        if state is not None and level == 0:
            params |= {"after_tier": state["t"], "after_wilson": state["k"], "after_id": state["i"]}
        rows = session.execute(_level_statement(state is not None and level == 0), params).all()
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
        out["url"] = f"/api/posts/{out['id']}"
        return out

    return {"post": node(post_out(top, collapse_score), shown_before), "depth": depth}


def _more_replies(post: dict[str, Any], shown: int, last: tuple[int, float, int] | None) -> dict[str, Any] | None:
    """What is left of ``post``'s direct replies after ``shown`` of them: count, cursor and URL; None if none."""
    count = post["reply_count"] - shown
    if count <= 0:
        return None
    if last is None:  # none shown here (depth or budget reached): the post's own page starts them
        return {"count": count, "cursor": None, "url": f"/api/posts/{post['id']}"}
    tier, wilson, after_id = last
    cursor = encode_cursor({"l": replies_listing(post["id"]), "t": tier, "k": wilson, "i": after_id, "n": shown})
    return {"count": count, "cursor": cursor, "url": f"/api/posts/{post['id']}?cursor={cursor}"}


def thread_rows(session: Session, post_id: int, limit: int) -> tuple[Any, list[Any]] | None:
    """The post and its newest ``limit`` descendants, newest first (for the thread's Atom feed)."""
    top = get_post(session, post_id)
    if top is None:
        return None
    rows = _rows(session, _THREAD_NEWEST, {"root": top["root_id"], "below": top["depth"]})
    if top["depth"] == 0:
        return top, rows[:limit]
    inside = {top["id"]}
    for row in sorted(rows, key=lambda r: r["id"]):  # a parent's id is always below its replies'
        if row["parent_id"] in inside:
            inside.add(row["id"])
    return top, [row for row in rows if row["id"] in inside][:limit]


def author_totals(session: Session, address: str) -> dict[str, int]:
    """Posts, replies, upvotes and downvotes received by ``address`` (a checksum address)."""
    row = session.execute(_AUTHOR_TOTALS, {"author": address}).one()
    return {"posts": row[0], "replies": row[1], "upvotes_received": int(row[2]), "downvotes_received": int(row[3])}


def build_author(
    session: Session, address: str, limit: int = DEFAULT_LIMIT, cursor: str | None = None
) -> dict[str, Any]:
    """An author's posts and replies, newest first, never collapsed (any address: maybe none yet)."""
    state = decode_cursor(cursor, f"author:{address}") if cursor else None
    totals = author_totals(session, address)
    params = {"author": address, "n": limit + 1}
    if state:
        rows = _rows(session, _AUTHOR_PAGE_AFTER, {**params, "after_id": state["i"]})
    else:
        rows = _rows(session, _AUTHOR_PAGE, params)
    page = rows[:limit]
    next_cursor = encode_cursor({"l": f"author:{address}", "t": 0, "i": page[-1]["id"]}) if len(rows) > limit else None
    return {
        "address": address,
        "totals": totals,
        "posts": [post_out(row, None) for row in page],
        "next_cursor": next_cursor,
    }


def recent_posts(session: Session, limit: int, author: str | None = None) -> list[dict[str, Any]]:
    """Newest top-level posts, or newest posts and replies of ``author`` (for Atom feeds)."""
    if author is None:
        return _rows(session, _RECENT, {"n": limit})
    return _rows(session, _AUTHOR_PAGE, {"author": author, "n": limit})


VOTES = Vote.__table__
# a voter's standing votes on some posts: the (post_id, voter) key serves it; a withdrawn vote has no row,
# and "direction != 0" keeps one from ever showing if it had
_VOTES_OF = (
    select(VOTES.c.post_id, VOTES.c.direction)
    .where(
        VOTES.c.voter == bindparam("voter", type_=VOTES.c.voter.type),
        VOTES.c.post_id.in_(bindparam("post_ids", type_=VOTES.c.post_id.type, expanding=True)),
        VOTES.c.direction != 0,
    )
    .order_by(VOTES.c.post_id)
)


def build_votes(session: Session, voter: str, post_ids: list[int]) -> dict[str, Any]:
    """``voter``'s current vote on each of ``post_ids`` that has one: ``{"voter": ..., "votes": {"<id>": +1/-1}}``."""
    rows = session.execute(_VOTES_OF, {"voter": voter, "post_ids": sorted(set(post_ids))}).all()
    return {"voter": voter, "votes": {str(post_id): direction for post_id, direction in rows}}
