"""Read queries of the API, the pages and the feeds: SQL over the index, answered as rows (dicts or tuples).

They only read. Shaping rows into documents, URLs and cursors is
``backend.views``' job. Listings use keyset pagination on (tier, sort key,
id): the caller passes the last row's key back as ``after``.

Collapsed posts (score <= the collapse threshold) form the second tier of the
hot, top and controversial listings and of a thread's replies: they come after
every other post, in the same order among themselves, and are never left out.
"new" is a timeline and keeps them in place. See docs/ranking.md.

Each listing reads either the counted figures (``counted=True``: the default lens, votes of voters
active before the post) or the raw ones (the "all votes" lens); both have their own indexes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import Integer, Row, Select, Table, bindparam, case, func, literal_column, select, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from backend.db.models import NonceEvent, Post, Topic, Vote

Sort = Literal["hot", "new", "top", "controversial"]
Window = Literal["day", "week", "month", "year", "all"]
WINDOW_SECONDS = {"day": 86_400, "week": 7 * 86_400, "month": 30 * 86_400, "year": 365 * 86_400, "all": None}

POSTS = Post.__table__
OUT_FIELDS = (
    "id", "author", "parent_id", "root_id", "depth", "cid", "digest", "title", "body", "content_status",
    "content_error", "topic", "created_at", "block_number", "tx_hash", "upvotes", "downvotes", "score", "reply_count",
    "counted_upvotes", "counted_downvotes", "counted_score",
)  # fmt: skip
# read for ordering and cursors, not shown
RANK_FIELDS = ("hot", "controversial", "wilson", "counted_hot", "counted_controversial", "counted_wilson")
_COLUMNS = [POSTS.c[name] for name in (*OUT_FIELDS, *RANK_FIELDS)]
SORT_KEYS = {"hot": POSTS.c.hot, "top": POSTS.c.score, "controversial": POSTS.c.controversial, "new": POSTS.c.id}
COUNTED_SORT_KEYS = {
    "hot": POSTS.c.counted_hot,
    "top": POSTS.c.counted_score,
    "controversial": POSTS.c.counted_controversial,
    "new": POSTS.c.id,
}
NEVER_FOLD = -(2**62)  # a threshold no score reaches: the "never fold" lens


def sort_key(sort: Sort, counted: bool) -> Any:
    """The column a listing is ordered by under the default lens (``counted``) or the raw tallies."""
    return (COUNTED_SORT_KEYS if counted else SORT_KEYS)[sort]


def score_name(counted: bool) -> str:
    """The score column a lens folds by."""
    return "counted_score" if counted else "score"


_TOP_LEVEL = POSTS.c.parent_id.is_(None)


def _rows(session: Session, statement: Select[Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    result = session.execute(statement, params)
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


# Statements are built once per shape and take their values as bound parameters: building a
# select and computing its cache key cost more than running it on its index (docs/benchmarks.md).
@functools.cache
def _tier_statement(
    sort: Sort,
    tier: int,
    windowed: bool,
    after: bool,
    topic: bool = False,
    counted: bool = True,
    postgres: bool = False,
    by_window: bool = False,
) -> Select[Any]:
    key = sort_key(sort, counted)
    score = POSTS.c[score_name(counted)]
    statement = select(*_COLUMNS).where(_TOP_LEVEL)
    # a topic: hot under the default lens (its page as it opens) walks ix_read_topic_hot_counted; the other
    # sorts and lenses find the topic's posts by ix_read_topic and sort them (a topic is a slice of the feed)
    if topic:
        statement = statement.where(POSTS.c.topic == bindparam("topic", type_=POSTS.c.topic.type))
    threshold = bindparam("threshold", type_=POSTS.c.score.type)
    if sort != "new" and tier == 1:
        statement = statement.where(score <= threshold)
    elif sort != "new":
        # "+ 0" keeps SQLite from ranging over a score index and sorting, instead of walking the key's index;
        # PostgreSQL reads the bare score from the key's index (its last column) and stops at the page
        plain = sort == "top" or postgres
        statement = statement.where((score if plain else score + 0) > threshold)
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
    if postgres:
        # "parent_id IS NULL" is no equality to PostgreSQL's planner, so the (parent_id, key, id) indexes only
        # match the order with parent_id in it (all NULL: the same order); without it, a seq scan and a sort
        order = (POSTS.c.parent_id.desc(), *order)
    if by_window:  # SQLite: the window's few posts from ix_read_window, sorted (see listing_rows)
        statement = statement.with_hint(POSTS, "INDEXED BY ix_read_window", "sqlite")
    elif topic and sort == "hot" and counted and tier == 0:
        # SQLite, from its statistics, would take ix_read_topic (two equalities, as this one has) and sort the
        # topic's posts: 1,000,000 posts, a topic of 3,800, ANALYZEd
        statement = statement.with_hint(POSTS, "INDEXED BY ix_read_topic_hot_counted", "sqlite")
    return statement.order_by(*order).limit(bindparam("n"))


@compiles(Table, "sqlite")
def _sqlite_from_hint(table: Table, compiler: SQLCompiler, **kw: Any) -> str:
    """A table as SQLite's FROM renders it, with the ``with_hint(..., "sqlite")`` of the statement (its
    INDEXED BY): SQLAlchemy's SQLite dialect drops FROM hints."""
    sql: str = compiler.visit_table(table, **kw)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it untyped
    hints = kw.get("fromhints")
    return f"{sql} {hints[table]}" if sql and hints and table in hints else sql


# SQLite has no statistics of a range's size (no STAT4): below this many top-level posts in top's window,
# finding them by ix_read_window and sorting them costs less than walking ix_read_feed_top* down to the page
# (an empty window walks every top-level post); at or above it, the walk finds its page soon enough
WINDOW_SORT_MAX = 1000
_WINDOW_COUNT = select(func.count()).select_from(
    select(POSTS.c.id)
    .where(_TOP_LEVEL, POSTS.c.created_at >= bindparam("since", type_=POSTS.c.created_at.type))
    .with_hint(POSTS, "INDEXED BY ix_read_window", "sqlite")  # its planner would walk a feed index instead
    .limit(bindparam("cap"))
    .subquery()
)


def _small_window(session: Session, since: int) -> bool:
    """Fewer than WINDOW_SORT_MAX top-level posts are as new as ``since`` (at most that many index entries read)."""
    return bool(session.execute(_WINDOW_COUNT, {"since": since, "cap": WINDOW_SORT_MAX}).scalar_one() < WINDOW_SORT_MAX)


def listing_rows(
    session: Session,
    sort: Sort,
    tier: int,
    threshold: int,
    since: int | None,
    after: tuple[Any, int] | None,
    n: int,
    topic: str | None = None,
    counted: bool = True,
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"n": n}
    if topic is not None:
        params["topic"] = topic
    if sort != "new":
        params["threshold"] = threshold
    if since is not None:
        params["since"] = since
    if after is not None:
        params["after_id"] = after[1]
        if sort != "new":
            params["after_key"] = after[0]
    postgres = session.get_bind().dialect.name == "postgresql"  # its connections plan each run (make_engine)
    # top's window on SQLite: the same rows in the same order by whichever index reads fewer entries (the
    # collapsed tier ranges over its few posts by score either way)
    by_window = since is not None and tier == 0 and topic is None and not postgres and _small_window(session, since)
    statement = _tier_statement(
        sort, tier, since is not None, after is not None, topic is not None, counted, postgres, by_window
    )
    return _rows(session, statement, params)


_ID = bindparam("id", type_=POSTS.c.id.type)
_AUTHOR = bindparam("author", type_=POSTS.c.author.type)
_POST = select(*_COLUMNS).where(POSTS.c.id == _ID)
_AUTHOR_TOTALS = select(
    func.count().filter(_TOP_LEVEL),
    func.count().filter(POSTS.c.parent_id.is_not(None)),
    func.coalesce(func.sum(POSTS.c.upvotes), 0),
    func.coalesce(func.sum(POSTS.c.downvotes), 0),
).where(POSTS.c.author == _AUTHOR)
_AUTHOR_PAGE = select(*_COLUMNS).where(POSTS.c.author == _AUTHOR).order_by(POSTS.c.id.desc()).limit(bindparam("n"))
_AUTHOR_PAGE_AFTER = _AUTHOR_PAGE.where(POSTS.c.id < bindparam("after_id", type_=POSTS.c.id.type))


def get_post(session: Session, post_id: int) -> dict[str, Any] | None:
    """One post row, or None."""
    rows = _rows(session, _POST, {"id": post_id})
    return rows[0] if rows else None


# A thread's replies, one level at a time: each parent's first ``per_parent`` children best first (not
# collapsed, then the Wilson lower bound, then the older reply), then the level cut at ``budget`` rows taking
# each parent's 1st child, then each one's 2nd..., so a wide level shares the budget instead of the first parent
# taking it all. Levels stop when the budget is spent; every cut shows as ``more_replies`` with a cursor.
# Parents with at most ``per_parent`` replies: one query numbers all their replies by a window function (it
# reads no more than it may show). A parent with more (a big thread's root), or the page after a cursor: its
# own keyset queries down ix_read_replies* (parent_id, wilson DESC, id, score), each reading about the rows it
# returns, so a page costs the same at 100 replies or 100,000; its collapsed replies by ix_read_feed_top*
# (parent_id, score), sorted: as many rows as the post has collapsed replies.
@functools.cache
def _level_statement(counted: bool = True) -> Select[Any]:
    score, wilson_column = POSTS.c[score_name(counted)], POSTS.c["counted_wilson" if counted else "wilson"]
    reply_tier = case((score <= bindparam("threshold", type_=POSTS.c.score.type), 1), else_=0)
    level = (
        select(
            *(POSTS.c[name] for name in OUT_FIELDS),
            wilson_column.label("wilson"),
            reply_tier.label("tier"),
            func.row_number()
            .over(partition_by=POSTS.c.parent_id, order_by=(reply_tier, wilson_column.desc(), POSTS.c.id))
            .label("rn"),
        )
        .where(POSTS.c.parent_id.in_(bindparam("parents", type_=POSTS.c.id.type, expanding=True)))
        .subquery()
    )
    return (
        select(*(level.c[name] for name in (*OUT_FIELDS, "wilson", "tier", "rn")))
        .where(level.c.rn <= bindparam("per_parent"))
        .order_by(level.c.rn, level.c.parent_id)
        .limit(bindparam("budget"))
    )


ReplyRun = Literal["all", "tie", "below"]


@functools.cache
def _replies_statement(counted: bool, tier: int, run: ReplyRun) -> Select[Any]:
    """One parent's replies of one tier in order, from the start (``all``), or after a cursor's (wilson, id):
    the rest of its Wilson bound (``tie``), then the lower ones (``below``); each a seek in ix_read_replies*."""
    score, wilson_column = POSTS.c[score_name(counted)], POSTS.c["counted_wilson" if counted else "wilson"]
    threshold = bindparam("threshold", type_=POSTS.c.score.type)
    statement = select(
        *(POSTS.c[name] for name in OUT_FIELDS),
        wilson_column.label("wilson"),
        literal_column(str(tier), Integer()).label("tier"),
    ).where(
        POSTS.c.parent_id == bindparam("parent", type_=POSTS.c.id.type),
        score > threshold if tier == 0 else score <= threshold,
    )
    wilson = bindparam("after_wilson", type_=POSTS.c.wilson.type)
    if run == "tie":
        statement = statement.where(wilson_column == wilson, POSTS.c.id > bindparam("after_id", type_=POSTS.c.id.type))
    elif run == "below":
        statement = statement.where(wilson_column < wilson)
    # SQLite has no range sizes to choose by (PostgreSQL's planner makes the same choices from its statistics):
    # the uncollapsed tier walks ix_read_replies* in order from the seek; the collapsed tier, few replies
    # (net -5 and below) among many, is found by ix_read_feed_top* (parent_id, score) and sorted, rather than
    # filtering every reply of the parent out of ix_read_replies*
    index = ("ix_read_replies" if tier == 0 else "ix_read_feed_top") + ("_counted" if counted else "")
    return (
        statement.with_hint(POSTS, f"INDEXED BY {index}", "sqlite")
        .order_by(wilson_column.desc(), POSTS.c.id)
        .limit(bindparam("n"))
    )


def _parent_replies(
    session: Session, parent: int, params: dict[str, Any], n: int, after: tuple[int, float, int] | None, counted: bool
) -> list[Row[*tuple[Any, ...]]]:
    """``parent``'s first ``n`` replies in the thread's order (after ``after``: tier, wilson, id), tier by tier."""
    rows: list[Row[*tuple[Any, ...]]] = []
    for tier in (0, 1):
        runs: tuple[ReplyRun, ...] = ("all",)
        if after is not None:
            if tier < after[0]:
                continue
            if tier == after[0]:
                runs = ("tie", "below")
        for run in runs:
            bound: dict[str, Any] = {"parent": parent, "n": n - len(rows)}
            if run != "all" and after is not None:
                bound |= {"after_wilson": after[1], "after_id": after[2]}
            rows.extend(session.execute(_replies_statement(counted, tier, run), params | bound).all())
            if len(rows) >= n:
                return rows
    return rows


def reply_rows(
    session: Session,
    parents: dict[int, int],
    threshold: int,
    per_parent: int,
    budget: int,
    after: tuple[int, float, int] | None = None,
    counted: bool = True,
) -> list[Sequence[Any]]:
    """One level of a thread: each parent's first ``per_parent`` replies, ``budget`` at most, best first.

    ``parents`` maps each parent to its reply count (which way its replies are read; the rows are the same
    either way). Each row is the OUT_FIELDS, then the Wilson bound and the tier; ``after`` (tier, wilson, id)
    starts after that reply (the one parent's next page).
    """
    params: dict[str, Any] = {"threshold": threshold}
    small = [] if after is not None else [parent for parent, count in parents.items() if count <= per_parent]
    numbered: list[tuple[int, int, Sequence[Any]]] = []  # (rn, parent, row): the window statement's order
    if small:
        bound = {"parents": small, "per_parent": per_parent, "budget": budget}
        for row in session.execute(_level_statement(counted), params | bound):
            numbered.append((row[-1], row[2], row[:-1]))
    for parent in parents.keys() - set(small):
        replies = _parent_replies(session, parent, params, min(per_parent, budget), after, counted)
        numbered.extend((rn, parent, row) for rn, row in enumerate(replies, 1))
    numbered.sort(key=lambda entry: entry[:2])
    return [row for _, _, row in numbered[:budget]]


def author_totals(session: Session, address: str) -> dict[str, int]:
    """Posts, replies, upvotes and downvotes received by ``address`` (a checksum address)."""
    row = session.execute(_AUTHOR_TOTALS, {"author": address}).one()
    return {"posts": row[0], "replies": row[1], "upvotes_received": int(row[2]), "downvotes_received": int(row[3])}


def author_rows(session: Session, address: str, n: int, after_id: int | None = None) -> list[dict[str, Any]]:
    """``address``'s newest ``n`` posts and replies, below ``after_id`` when given."""
    if after_id is None:
        return _rows(session, _AUTHOR_PAGE, {"author": address, "n": n})
    return _rows(session, _AUTHOR_PAGE_AFTER, {"author": address, "n": n, "after_id": after_id})


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


def vote_rows(session: Session, voter: str, post_ids: list[int]) -> Sequence[Row[*tuple[Any, ...]]]:
    """``voter``'s standing votes on ``post_ids``: (post_id, direction) rows, by post id."""
    result = session.execute(_VOTES_OF, {"voter": voter, "post_ids": sorted(set(post_ids))})
    return result.all()


# the indexer's per-topic table (GROUP BY topic of the top-level posts, kept in each range's transaction):
# the first n rows of ix_topics_recent, whatever the size of the index
TOPICS = Topic.__table__
_TOPICS = (
    select(TOPICS.c.topic, TOPICS.c.posts, TOPICS.c.last_post_at)
    .order_by(TOPICS.c.last_post_at.desc(), TOPICS.c.last_post_id.desc())
    .limit(bindparam("n"))
)


def topic_rows(session: Session, n: int) -> list[dict[str, Any]]:
    """Topics with their number of top-level posts and newest post's time, most recently active first
    (the newest post's id breaks ties)."""
    return _rows(session, _TOPICS, {"n": n})


# the trusted lens's tallies of the shown posts: the votes primary key (post_id, voter) finds each pair
_TRUSTED_TALLIES = (
    select(
        VOTES.c.post_id,
        func.count().filter(VOTES.c.direction > 0),
        func.count().filter(VOTES.c.direction < 0),
    )
    .where(
        VOTES.c.post_id.in_(bindparam("post_ids", type_=VOTES.c.post_id.type, expanding=True)),
        VOTES.c.voter.in_(bindparam("voters", type_=VOTES.c.voter.type, expanding=True)),
    )
    .group_by(VOTES.c.post_id)
)


def trusted_tallies(session: Session, voters: list[str], post_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Upvotes and downvotes of ``voters`` (checksum addresses) on each of ``post_ids`` they voted on."""
    if not voters or not post_ids:
        return {}
    rows = session.execute(_TRUSTED_TALLIES, {"post_ids": sorted(set(post_ids)), "voters": voters}).all()
    return {post_id: (int(up), int(down)) for post_id, up, down in rows}


_LAST_NONCE = select(func.max(NonceEvent.nonce)).where(NonceEvent.signer == bindparam("signer"))


def last_nonce(session: Session, signer: str) -> int | None:
    """The largest nonce of ``signer`` a stored NonceUsed spent; None when none is stored."""
    value = session.execute(_LAST_NONCE, {"signer": signer}).scalar()
    return None if value is None else int(value)
