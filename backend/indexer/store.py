"""Store: Board's rows into the index (posts, vote events, current votes, tallies, reply counts, content queue,
first actions, the default lens's counted tallies, signers' spent nonces and the per-topic counts).

The domain side of the indexer, with ``decode`` and ``map``; the engine (``runner``, ``checkpoint``) calls
these inside the transaction that also moves the checkpoint. Writes are insert-or-ignore keyed by
(tx hash, log index) or the on-chain post id, and derived columns (tallies, rankings, reply counts,
current votes) are recomputed from the stored events rather than incremented, so applying a range twice,
or rolling back and applying again, always ends in the same rows. SQLAlchemy Core throughout; the bulk
statements that must be raw SQL for speed are in ``bulk``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, delete, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from backend.content.cid import digest_to_cid
from backend.db.models import (
    Base,
    ContentQueue,
    FirstActivity,
    InboxEntry,
    NonceEvent,
    Post,
    Topic,
    Vote,
    VoteEvent,
)
from backend.db.write import LIST_CHUNK, ListQuery, chunks, insert_ignore_fast, update_by_key
from backend.indexer import bulk, topics
from backend.indexer.content_sync import invalid_fields
from backend.indexer.decode import NonceUsed, PostCreated, VoteCast
from backend.indexer.fetch import RangeBatch
from backend.indexer.map import (
    NONCE_COLUMNS,
    VOTE_EVENT_COLUMNS,
    Latest,
    check_storable,
    counted_row,
    first_actions,
    latest_votes,
    nonce_row,
    post_row,
    quarantine_reason,
    ranked,
    tally_row,
    vote_event_row,
)

log = logging.getLogger(__name__)


# Core's Table objects (a model's __table__ is typed as any FromClause) for the bulk helpers
_POSTS, _VOTE_EVENTS, _VOTES, _CONTENT_QUEUE, _NONCES = (
    Base.metadata.tables[model.__tablename__] for model in (Post, VoteEvent, Vote, ContentQueue, NonceEvent)
)
INBOX_COLUMNS = ("recipient", "reply_id")

# (cid, is_reply) -> {"content_status", "title", "body", "content_error"}
ContentLookup = Callable[[str, bool], dict[str, Any]]


def store_range(conn: Connection, batch: RangeBatch, content: ContentLookup) -> int:
    """Write a decoded range's rows, in the caller's transaction (which also moves the checkpoint).

    Returns how many items were quarantined: an item whose mapping raises never stops the range
    (a post is stored as invalid with the reason, a vote is skipped and logged).

    The usual range (nothing of it or after it stored yet) writes each post row once: a new post goes in with
    its reply count, tallies and counted tallies, and an older post it touches (a reply, a vote, a voter's
    first action moved earlier) gets one UPDATE of every derived column, only when a value changes. Any
    other range (re-indexing below stored rows) derives from everything stored instead.
    """
    posts = sorted((e for e in batch.events if isinstance(e, PostCreated)), key=lambda e: e.post_id)
    vote_events = [e for e in batch.events if isinstance(e, VoteCast)]
    votes, vote_rows = _map_votes(vote_events)
    quarantined = len(vote_events) - len(votes)
    latest: Latest | None = None
    if votes:
        insert_ignore_fast(conn, _VOTE_EVENTS, VOTE_EVENT_COLUMNS, vote_rows)
        later = conn.execute(select(VoteEvent.post_id).where(VoteEvent.block_number > batch.end).limit(1)).first()
        if later is None:  # then each post's (and pair's) last event here is its latest of all
            latest = latest_votes(votes)
    fresh = bool(posts) and _fresh(conn, posts)
    if votes and latest is None:  # re-indexing below stored events: derive from everything stored
        return quarantined + _store_rederived(conn, batch, posts, votes, fresh, content)
    # every vote on a new post is then in this range: its counted tallies can be counted here
    count_new = fresh and _no_votes_on(conn, posts[0].post_id) and len({e.post_id for e in posts}) == len(posts)
    if latest is not None:
        _write_current_votes(conn, latest.current)
    _store_nonces(conn, batch)
    first = first_actions(posts, votes)
    moved, firsts = _note_first_activity(conn, first)
    touched = _Touched()
    if posts:
        counted = _counted_here(posts, latest.current if latest else {}, firsts) if count_new else None
        stored, reply_counts = _store_posts(
            conn, posts, batch.headers, content, latest.tallies if latest else None, fresh, counted
        )
        quarantined += stored
        touched.reply_counts = reply_counts
        new_ids = {e.post_id for e in posts} if count_new else set()
    else:
        new_ids = set()
    if latest is not None:
        touched.tallies = latest.tallies  # what _store_posts left: posts stored before this range
    touched.counted = ({e.post_id for e in votes} | set(moved)) - new_ids
    _update_touched(conn, touched)
    return quarantined


def _fresh(conn: Connection, posts: list[PostCreated]) -> bool:
    """No stored post is as new as the range's first (the usual case: nothing of this range is stored yet)."""
    newest = conn.execute(select(func.max(Post.id))).scalar()
    return newest is None or newest < posts[0].post_id


def _no_votes_on(conn: Connection, first_id: int) -> bool:
    """No current vote is stored on a post numbered ``first_id`` or more (only a lying node's votes could be)."""
    newest = conn.execute(select(func.max(Vote.post_id))).scalar()
    return newest is None or newest < first_id


def _store_nonces(conn: Connection, batch: RangeBatch) -> None:
    nonces = [nonce_row(e) for e in batch.events if isinstance(e, NonceUsed)]
    if nonces:  # append-only: the next nonce is derived when read (largest + 1)
        insert_ignore_fast(conn, _NONCES, NONCE_COLUMNS, nonces)


def _store_rederived(
    conn: Connection,
    batch: RangeBatch,
    posts: list[PostCreated],
    votes: list[VoteCast],
    fresh: bool,
    content: ContentLookup,
) -> int:
    """A range below stored vote events: rows in, then every derived column recomputed from what is stored."""
    quarantined = 0
    if posts:
        quarantined, reply_counts = _store_posts(conn, posts, batch.headers, content, None, fresh, None)
        bulk.set_reply_counts(conn, [(count, pid) for pid, count in sorted(reply_counts.items())])
    refresh_tallies(conn, sorted({e.post_id for e in votes}))
    refresh_votes(conn, sorted({(e.post_id, e.voter) for e in votes}))
    _store_nonces(conn, batch)
    moved, _ = _note_first_activity(conn, first_actions(posts, votes))
    refresh_counted(conn, sorted({e.post_id for e in votes} | set(moved)))
    return quarantined


def _counted_here(
    posts: list[PostCreated], current: dict[tuple[int, str], VoteCast], firsts: dict[str, int]
) -> dict[int, tuple[int, int]]:
    """The default lens's (up, down) of this range's new posts from this range's current votes (see _COUNTS).

    A vote counts when its voter's first action (stored or in this range, the earlier) is in a block
    before the post's; every voter of a current +-1 vote acted in this range, so ``firsts`` knows it.
    """
    blocks = {e.post_id: e.at.block_number for e in posts}
    counted: dict[int, tuple[int, int]] = {}
    for (post_id, voter), event in current.items():
        block = blocks.get(post_id)
        first = firsts.get(voter)
        if block is None or event.direction == 0 or first is None or first >= block:
            continue
        up, down = counted.get(post_id, (0, 0))
        counted[post_id] = (up + 1, down) if event.direction > 0 else (up, down + 1)
    return counted


def _note_first_activity(conn: Connection, first: dict[str, tuple[int, int]]) -> tuple[list[int], dict[str, int]]:
    """Record addresses' first actions; returns the posts voted on by an address whose first action moved earlier,
    and the block of each address's first action as now stored.

    Usually every address here is new or already active earlier, and its votes on older posts are all in
    this range. Re-indexing below stored events can move a stored first action earlier: then that voter's
    stored votes may now count, so their posts are returned to be recounted.
    """
    if not first:
        return [], {}
    known: dict[str, tuple[int, int]] = {}
    for part in chunks(sorted(first), LIST_CHUNK):
        for address, block, index in _FIRSTS.run(conn, part):
            known[address] = (block, index)
    fresh = [(a, *p) for a, p in first.items() if a not in known]
    earlier = [(a, *p) for a, p in first.items() if a in known and p < known[a]]
    bulk.insert_first_activity(conn, fresh)
    firsts = {a: min(p, known.get(a, p))[0] for a, p in first.items()}
    if not earlier:
        return [], firsts
    bulk.set_first_activity(conn, [(block, index, address) for address, block, index in earlier])
    posts: set[int] = set()
    for part in chunks(sorted(a for a, _, _ in earlier)):
        posts.update(pid for (pid,) in conn.execute(select(Vote.post_id).where(Vote.voter.in_(part)).distinct()))
    return sorted(posts), firsts


_FIRSTS = ListQuery(
    lambda listed: select(FirstActivity.address, FirstActivity.block_number, FirstActivity.log_index).where(
        listed(FirstActivity.address)
    )
)


def _map_votes(votes: list[VoteCast]) -> tuple[list[VoteCast], list[tuple[Any, ...]]]:
    """The votes that map to rows, and their rows; a vote whose mapping raises is logged and skipped.

    No text check here: every text of a vote row is a hash or an address that decode_log validated.
    """
    kept, rows = [], []
    for event in votes:
        try:
            row = vote_event_row(event)
        except Exception as exc:  # one bad item must never stop the range: skip it, say why
            log.exception("vote in tx %s could not be indexed (%s): skipped", event.at.tx_hash, type(exc).__name__)
            continue
        kept.append(event)
        rows.append(row)
    return kept, rows


def _store_posts(
    conn: Connection,
    posts: list[PostCreated],
    headers: dict[int, dict[str, Any]],
    content: ContentLookup,
    tallies: dict[int, tuple[int, int]] | None,
    fresh: bool,
    counted: dict[int, tuple[int, int]] | None,
) -> tuple[int, dict[int, int]]:
    """Insert the range's posts with their thread shape, reply counts and, when known, final tallies.

    When ``fresh`` (no stored post is as new as the range's first: the usual case, nothing of this range
    is stored yet), every reply to a post of this range is in this range, so reply counts are
    counted here and tallies of ``tallies`` (popped) and counted tallies of ``counted`` go straight into
    the new rows; the new reply counts of stored parents are returned for the caller to write. Otherwise
    the rows go in with zero tallies, and reply counts are recounted from the stored rows.
    A post whose row cannot be made goes in as invalid with the reason; returns how many did.
    """
    shape: dict[int, tuple[int, int]] = {}  # post id -> (root id, depth)
    topics: dict[int, str | None] = {}  # post id -> its thread's topic (a reply's is its root's)
    stored_replies: dict[int, int] = {}  # parent outside the range -> its stored reply count
    outside = sorted({e.parent_id for e in posts if e.parent_id} - {e.post_id for e in posts})
    for part in chunks(outside, LIST_CHUNK):
        for pid, root, depth, reply_count, topic in _PARENTS.run(conn, part):
            shape[pid] = (root, depth)
            topics[pid] = topic
            stored_replies[pid] = reply_count
    replies: dict[int, int] = {}
    for event in posts:
        if event.parent_id:
            replies[event.parent_id] = replies.get(event.parent_id, 0) + 1
    rows, missing, quarantined = [], [], 0
    for event in posts:
        if event.parent_id == 0:
            root, depth = event.post_id, 0
        elif event.parent_id in shape:
            parent_root, parent_depth = shape[event.parent_id]
            root, depth = parent_root, parent_depth + 1
        else:  # cannot happen with the real contract: ParentNotFound
            log.error("post %s (tx %s) replies to unknown post %s", event.post_id, event.at.tx_hash, event.parent_id)
            root, depth = event.parent_id, 1
        shape[event.post_id] = (root, depth)
        created_at = _created_at(headers, event)
        cid = digest_to_cid(event.digest)
        try:
            fields = content(cid, event.parent_id != 0)
            check_storable(fields)  # the only text of a row not validated by decode_log (hashes, addresses)
            row = post_row(event, root, depth, created_at, {"cid": cid, **fields})
        except Exception as exc:  # one bad item must never stop the range: store it as invalid, say why
            log.exception("post %s (tx %s) could not be indexed: stored as invalid", event.post_id, event.at.tx_hash)
            quarantined += 1
            fields = invalid_fields(quarantine_reason(exc))
            row = post_row(event, root, depth, created_at, {"cid": cid, **fields})
        if event.parent_id:
            row["topic"] = topics.get(event.parent_id)
        topics[event.post_id] = row["topic"]
        if fresh:
            row["reply_count"] = replies.get(event.post_id, 0)
            if tallies and event.post_id in tallies:
                row.update(tally_row(event.post_id, *tallies.pop(event.post_id), created_at))
                del row["pid"]
            if counted and event.post_id in counted:
                row.update(counted_row(*counted[event.post_id], created_at))
        rows.append(row)
        if fields["content_status"] == "missing":
            missing.append({"cid": cid, "attempts": 0, "next_attempt_at": 0.0, "last_error": None})
    _insert_rows(conn, _POSTS, rows)
    _insert_rows(conn, _CONTENT_QUEUE, missing)
    _write_inbox(conn, sorted({e.post_id for e in posts if e.parent_id} | _early_replies(conn, posts, fresh)))
    _count_topics(conn, rows, fresh)
    if fresh:
        return quarantined, {p: stored_replies[p] + replies[p] for p in sorted(stored_replies)}
    refresh_reply_counts(conn, sorted(replies))
    return quarantined, {}


def _count_topics(conn: Connection, rows: list[dict[str, Any]], fresh: bool) -> None:
    """The topics of the range's new top-level posts counted up, or recounted when a row may not have gone in.

    When ``fresh``, no stored post had an id from the range's first on: when as many posts are stored from
    it as there are rows, every row went in (insert-or-ignore skipped none) and each is counted once.
    """
    roots = [(row["topic"], row["id"], row["created_at"]) for row in rows if row["parent_id"] is None]
    if not any(topic for topic, _, _ in roots):
        return
    if fresh:
        first = min(row["id"] for row in rows)
        stored = conn.execute(select(func.count()).select_from(Post).where(Post.id >= first)).scalar_one()
        if stored == len(rows):
            topics.add(conn, [(topic, pid, created) for topic, pid, created in roots if topic is not None])
            return
    topics.recount(conn, [topic for topic, _, _ in roots])


_PARENTS = ListQuery(
    lambda listed: select(Post.id, Post.root_id, Post.depth, Post.reply_count, Post.topic).where(listed(Post.id))
)


_ANSWERED = aliased(Post, name="answered")
# (recipient, reply_id) of stored replies: each under its parent's author, one's own replies left out; from the
# rows as stored (what insert-or-ignore kept, not what a node sent: a reply sent twice under two parents lands in
# one inbox). Written for a range's replies, taken out for those above a fork.
_INBOX_ROWS = (
    select(_ANSWERED.author, Post.id)
    .join(_ANSWERED, _ANSWERED.id == Post.parent_id)
    .where(Post.author != _ANSWERED.author)
)
_INBOX_OF_STORED = ListQuery(
    lambda listed: insert(InboxEntry).from_select(
        INBOX_COLUMNS,
        _INBOX_ROWS.where(
            listed(Post.id),
            ~exists().where(InboxEntry.recipient == _ANSWERED.author, InboxEntry.reply_id == Post.id),
        ),
    )
)


_EARLY = ListQuery(lambda listed: select(Post.id).where(listed(Post.parent_id), Post.id < bindparam("first")))


def _early_replies(conn: Connection, posts: list[PostCreated], fresh: bool) -> set[int]:
    """Stored replies from before the range that answer one of its posts: none on the real chain (a reply names
    a post that exists), only a lying node's reply to a post not made yet; such a reply then joins its parent's
    author's inbox as any other.

    When ``fresh`` (no post stored before the range is numbered as high as its first), one seek of
    ``ix_posts_parent`` from the first id on, past this range's own replies to its own posts; otherwise one probe
    per post, never a walk of the ids between them (a lying range may number its posts far apart).
    """
    first = posts[0].post_id
    if fresh:
        return set(conn.execute(select(Post.id).where(Post.parent_id >= first, Post.id < first)).scalars())
    found: set[int] = set()
    for part in chunks(sorted({e.post_id for e in posts}), LIST_CHUNK):
        found.update(_EARLY.run(conn, part, first=first).scalars())
    return found


def _write_inbox(conn: Connection, reply_ids: list[int]) -> None:
    """The inbox entries of these replies, derived from their stored rows and their parents' (a range applied
    again adds none twice)."""
    for part in chunks(reply_ids, LIST_CHUNK):
        _INBOX_OF_STORED.run(conn, part)


def _created_at(headers: dict[int, dict[str, Any]], event: PostCreated) -> int:
    """The block timestamp of ``event``; 0 when its header lacks one (cannot happen: headers are read per post)."""
    try:
        return int(headers[event.at.block_number]["timestamp"], 16)
    except (KeyError, TypeError, ValueError):
        log.error("no timestamp for block %s (post %s)", event.at.block_number, event.post_id)
        return 0


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        columns = list(rows[0])
        values = itemgetter(*columns)  # a tuple of the row's values in column order (C speed)
        insert_ignore_fast(conn, table, columns, [values(row) for row in rows] if len(columns) > 1 else
                           [(row[columns[0]],) for row in rows])  # fmt: skip


# -- derived columns ------------------------------------------------------------------------------


def refresh_reply_counts(conn: Connection, parent_ids: Iterable[int]) -> None:
    """reply_count = number of direct replies, for these posts."""
    child = aliased(Post)
    count = select(func.count()).where(child.parent_id == Post.id).scalar_subquery()
    for part in chunks(list(parent_ids)):
        conn.execute(update(Post).where(Post.id.in_(part)).values(reply_count=count))


def _write_current_votes(conn: Connection, current: dict[tuple[int, str], VoteCast]) -> None:
    """Set each pair's current vote to its latest event: upsert non-zero votes, delete withdrawn ones."""
    withdrawn = [pair for pair, e in current.items() if e.direction == 0]
    rows = [(p, v, e.direction, e.at.block_number, e.at.log_index) for (p, v), e in current.items() if e.direction != 0]
    bulk.delete_votes(conn, withdrawn)
    bulk.upsert_votes(conn, rows)


def _write_tallies(conn: Connection, tallies: dict[int, tuple[int, int]]) -> None:
    """Store tallies and the rankings derived from them (posts without an entry are left alone)."""
    for part in chunks(sorted(tallies)):
        created = conn.execute(select(Post.id, Post.created_at).where(Post.id.in_(part))).all()
        rows = [tally_row(pid, *tallies[pid], created_at) for pid, created_at in created]
        update_by_key(conn, _POSTS, TALLY_ORDER, [tuple(row[c] for c in TALLY_KEYS) for row in rows])


TALLY_ORDER = ("id", "upvotes", "downvotes", "score", "hot", "controversial", "wilson")
TALLY_KEYS = ("pid", *TALLY_ORDER[1:])  # tally_row's names of TALLY_ORDER


def _write_votes(conn: Connection, pairs: list[tuple[int, str]], rows: list[dict[str, Any]]) -> None:
    """Replace the current votes of ``pairs`` with ``rows`` (pairs without a row have no vote)."""
    bulk.delete_votes(conn, pairs)
    _insert_rows(conn, _VOTES, rows)


def refresh_tallies(conn: Connection, post_ids: list[int]) -> None:
    """Tallies and rankings from each post's latest VoteCast (0/0 when it has none)."""
    for part in chunks(post_ids):
        ranked = select(
            VoteEvent.post_id,
            VoteEvent.upvotes,
            VoteEvent.downvotes,
            func.row_number()
            .over(partition_by=VoteEvent.post_id, order_by=(VoteEvent.block_number.desc(), VoteEvent.log_index.desc()))
            .label("rn"),
        ).where(VoteEvent.post_id.in_(part))
        sub = ranked.subquery()
        latest = {pid: (up, down) for pid, up, down, _ in conn.execute(select(sub).where(sub.c.rn == 1))}
        _write_tallies(conn, {pid: latest.get(pid, (0, 0)) for pid in part})


# a current vote counts under the default lens when its voter acted on the Board in a block before the post's:
# activity in the post's own block could be a reaction to the post seen in the mempool (issue 19.5)
_COUNTS = and_(FirstActivity.address == Vote.voter, FirstActivity.block_number < Post.block_number)
COUNTED_ORDER = ("id", *(name for name in counted_row(0, 0, 0)))


def refresh_counted(conn: Connection, post_ids: list[int]) -> None:
    """The default lens's counted tallies and rankings of these posts, from their current votes."""
    for part in chunks(post_ids):
        counted = _counted_stored(conn, part)
        rows = [(pid, *counted_row(up, down, created).values()) for pid, (created, up, down) in sorted(counted.items())]
        update_by_key(conn, _POSTS, COUNTED_ORDER, rows)


def _counted_stored(conn: Connection, part: Sequence[int]) -> dict[int, tuple[int, int, int]]:
    """(created_at, counted up, counted down) of the stored posts of ``part``, from their stored current votes."""
    counted = {pid: (created, int(up), int(down)) for pid, created, up, down in _COUNTED.run(conn, part)}
    missing = [pid for pid in part if pid not in counted]  # posts whose votes all fail to count
    if missing:
        for pid, created in _CREATED.run(conn, missing):
            counted[pid] = (created, 0, 0)
    return counted


_COUNTED = ListQuery(
    lambda listed: (
        select(
            Post.id,
            Post.created_at,
            func.coalesce(func.sum(case((Vote.direction > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Vote.direction < 0, 1), else_=0)), 0),
        )
        .select_from(Post)
        .outerjoin(Vote, Vote.post_id == Post.id)
        .outerjoin(FirstActivity, _COUNTS)
        .where(listed(Post.id), or_(Vote.post_id.is_(None), FirstActivity.address.is_not(None)))
        .group_by(Post.id, Post.created_at)
    )
)
_CREATED = ListQuery(lambda listed: select(Post.id, Post.created_at).where(listed(Post.id)))


@dataclass
class _Touched:
    """What a range changes in posts stored before it: new reply counts, final tallies, posts to recount."""

    reply_counts: dict[int, int] = field(default_factory=dict)
    tallies: dict[int, tuple[int, int]] = field(default_factory=dict)
    counted: set[int] = field(default_factory=set)


# every derived column of a post, in the order update_by_key takes them (the key first)
DERIVED_ORDER = ("id", "reply_count", *TALLY_ORDER[1:], *COUNTED_ORDER[1:])


_DERIVED_WIDTH = len(DERIVED_ORDER)
_COUNTED_FROM = DERIVED_ORDER.index("counted_upvotes")  # id, reply_count, then ranked() twice: raw, counted


_STORED_DERIVED = ListQuery(
    lambda listed: select(*(Post.__table__.c[c] for c in DERIVED_ORDER), Post.created_at).where(listed(Post.id))
)


def _update_touched(conn: Connection, touched: _Touched) -> None:
    """One UPDATE of every derived column of each touched stored post whose values change.

    The same values as set_reply_counts, _write_tallies and refresh_counted one after the other, in one
    row version per post instead of up to three (on PostgreSQL each is a new tuple and 20 index entries).
    """
    ids = sorted(touched.reply_counts.keys() | touched.tallies.keys() | touched.counted)
    rows: list[tuple[Any, ...]] = []
    for part in chunks(ids, LIST_CHUNK):
        stored = {row[0]: tuple(row) for row in _STORED_DERIVED.run(conn, part)}
        recount = sorted(touched.counted.intersection(part))
        counted = _counted_stored(conn, recount) if recount else {}
        for pid in sorted(stored):
            old = stored[pid][:_DERIVED_WIDTH]
            created_at = stored[pid][-1]
            reply_count = touched.reply_counts.get(pid, old[1])
            tallies = touched.tallies.get(pid)
            tallied = ranked(*tallies, created_at) if tallies is not None else old[2:_COUNTED_FROM]
            recounted = counted.get(pid)
            counts = ranked(*recounted[1:], created_at) if recounted is not None else old[_COUNTED_FROM:]
            row = (pid, reply_count, *tallied, *counts)
            if row != old:
                rows.append(row)
    update_by_key(conn, _POSTS, DERIVED_ORDER, rows)


def refresh_votes(conn: Connection, pairs: list[tuple[int, str]]) -> None:
    """Each (post, voter)'s current vote from its latest VoteCast; no row when withdrawn or none."""
    for part in chunks(pairs, 250):
        post_ids = sorted({pid for pid, _ in part})
        wanted = set(part)
        ranked = select(
            VoteEvent.post_id,
            VoteEvent.voter,
            VoteEvent.direction,
            VoteEvent.block_number,
            VoteEvent.log_index,
            func.row_number()
            .over(
                partition_by=(VoteEvent.post_id, VoteEvent.voter),
                order_by=(VoteEvent.block_number.desc(), VoteEvent.log_index.desc()),
            )
            .label("rn"),
        ).where(VoteEvent.post_id.in_(post_ids), VoteEvent.voter.in_(sorted({v for _, v in part})))
        sub = ranked.subquery()
        current = [
            {"post_id": pid, "voter": voter, "direction": direction, "block_number": block, "log_index": index}
            for pid, voter, direction, block, index, _ in conn.execute(select(sub).where(sub.c.rn == 1))
            if (pid, voter) in wanted and direction != 0
        ]
        _write_votes(conn, list(part), current)


# -- rollback and wipe ----------------------------------------------------------------------------


def rollback_above(conn: Connection, fork_block: int) -> int:
    """Delete Board's rows from blocks above ``fork_block``, recompute what they touched; returns rows removed."""
    parents = [p for (p,) in conn.execute(select(Post.parent_id).where(Post.block_number > fork_block).distinct())]
    # the topics that lose posts: recounted once they are gone
    touched_topics = list(
        conn.execute(
            select(Post.topic)
            .where(Post.block_number > fork_block, Post.parent_id.is_(None), Post.topic.is_not(None))
            .distinct()
        ).scalars()
    )
    pairs = list(
        conn.execute(select(VoteEvent.post_id, VoteEvent.voter).where(VoteEvent.block_number > fork_block).distinct())
    )
    _forget_inbox_above(conn, fork_block)
    removed = 0
    for model in (Post, VoteEvent, NonceEvent):
        removed += conn.execute(delete(model).where(model.block_number > fork_block)).rowcount or 0
    # a first action above the fork was its address's first of all: every action of that address goes too
    conn.execute(delete(FirstActivity).where(FirstActivity.block_number > fork_block))
    conn.execute(delete(ContentQueue).where(ContentQueue.cid.not_in(select(Post.cid))))
    refresh_reply_counts(conn, sorted({p for p in parents if p}))
    refresh_tallies(conn, sorted({pid for pid, _ in pairs}))
    refresh_votes(conn, sorted((pid, voter) for pid, voter in pairs))
    refresh_counted(conn, sorted({pid for pid, _ in pairs}))
    topics.recount(conn, touched_topics)
    return removed


def _forget_inbox_above(conn: Connection, fork_block: int) -> None:
    """Take the inbox entries of the replies above ``fork_block`` out, by their keys (before the replies go)."""
    entries = conn.execute(_INBOX_ROWS.where(Post.block_number > fork_block)).all()
    for part in chunks(sorted((recipient, reply) for recipient, reply in entries)):
        conn.execute(delete(InboxEntry).where(tuple_(InboxEntry.recipient, InboxEntry.reply_id).in_(part)))


def wipe(conn: Connection) -> None:
    """Delete every row of Board's tables (the engine forgets its blocks and checkpoint apart)."""
    for model in (Post, Topic, InboxEntry, VoteEvent, Vote, FirstActivity, NonceEvent, ContentQueue):
        conn.execute(delete(model))
