"""Map decoded events to rows and store them; roll back above a fork point; wipe.

Every function here runs inside the caller's transaction. Writes are
insert-or-ignore keyed by (tx hash, log index) or the on-chain post id, and
derived columns (tallies, rankings, reply counts, current votes) are recomputed
from the stored events rather than incremented, so applying a range twice, or
rolling back and applying again, always ends in the same rows.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from backend import ranking
from backend.content.cid import digest_hex, digest_to_cid
from backend.db.models import Block, ContentQueue, Meta, Post, Vote, VoteEvent
from backend.db.write import chunks, execute_many, insert_ignore, insert_ignore_fast, set_meta, update_by_key
from backend.indexer.decode import Event, PostCreated, VoteCast

log = logging.getLogger(__name__)

KEEP_BLOCKS = 128  # recent block hashes kept to find a fork point
# PostgreSQL refuses NUL in text; SQLite's and PostgreSQL's drivers refuse lone surrogates (UnicodeEncodeError)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

# (cid, is_reply) -> {"content_status", "title", "body", "content_error"}
ContentLookup = Callable[[str, bool], dict[str, Any]]


@dataclass
class RangeBatch:
    """One block range, decoded: what goes into the database in one transaction with its checkpoint."""

    start: int
    end: int
    end_hash: str
    headers: dict[int, dict[str, Any]]  # block number -> raw header (hash, parentHash, timestamp)
    events: list[Event] = field(default_factory=list)


# -- map: events -> rows (pure) ------------------------------------------------------------------


class Unstorable(ValueError):
    """A row holds text the database driver would refuse."""


def check_storable(row: dict[str, Any]) -> None:
    """Raise Unstorable when a text value of ``row`` holds NUL or a lone surrogate (it would fail the range)."""
    for name, value in row.items():
        if value.__class__ is str and _UNSTORABLE.search(value):
            raise Unstorable(f"column {name} holds text the database cannot store")


def quarantine_reason(exc: BaseException) -> str:
    """content_error of a post whose mapping raised: the type only (its message may hold the bad text)."""
    return f"could not be indexed: {type(exc).__name__}"


def post_row(event: PostCreated, root_id: int, depth: int, created_at: int, content: dict[str, Any]) -> dict[str, Any]:
    """The posts row of a PostCreated, before any votes."""
    return {
        "id": event.post_id,
        "author": event.author,
        "parent_id": event.parent_id or None,
        "root_id": root_id,
        "depth": depth,
        "digest": digest_hex(event.digest),
        "cid": content.get("cid") or digest_to_cid(event.digest),
        "created_at": created_at,
        "block_number": event.at.block_number,
        "block_hash": event.at.block_hash,
        "tx_hash": event.at.tx_hash,
        "log_index": event.at.log_index,
        "upvotes": 0,
        "downvotes": 0,
        "score": 0,
        "reply_count": 0,
        "hot": ranking.hot(0, 0, created_at),
        "controversial": 0.0,
        "wilson": 0.0,
        **content,
    }


VOTE_EVENT_COLUMNS = (
    "tx_hash", "log_index", "block_number", "block_hash", "post_id", "voter", "direction", "upvotes", "downvotes",
)  # fmt: skip


def vote_event_row(event: VoteCast) -> tuple[Any, ...]:
    """The vote_events row of a VoteCast, in VOTE_EVENT_COLUMNS order (tuples: thousands per range)."""
    at = event.at
    return (
        at.tx_hash, at.log_index, at.block_number, at.block_hash,
        event.post_id, event.voter, event.direction, event.upvotes, event.downvotes,
    )  # fmt: skip


def tally_row(post_id: int, upvotes: int, downvotes: int, created_at: int) -> dict[str, Any]:
    """Derived columns of a post from its tallies."""
    return {
        "pid": post_id,
        "upvotes": upvotes,
        "downvotes": downvotes,
        "score": upvotes - downvotes,
        "hot": ranking.hot(upvotes, downvotes, created_at),
        "controversial": ranking.controversial(upvotes, downvotes),
        "wilson": ranking.wilson(upvotes, downvotes),
    }


# -- store --------------------------------------------------------------------------------------


def store_range(conn: Connection, batch: RangeBatch, content: ContentLookup) -> int:
    """Write a decoded range and move the checkpoint to its end, in the caller's transaction.

    ``NonceUsed`` events are not stored: nothing reads them (the relay asks the contract).
    Returns how many items were quarantined: an item whose mapping raises never stops the range
    (a post is stored as invalid with the reason, a vote is skipped and logged).
    """
    posts = sorted((e for e in batch.events if isinstance(e, PostCreated)), key=lambda e: e.post_id)
    vote_events = [e for e in batch.events if isinstance(e, VoteCast)]
    votes, vote_rows = _map_votes(vote_events)
    quarantined = len(vote_events) - len(votes)
    latest: Latest | None = None
    if votes:
        insert_ignore_fast(conn, VoteEvent.__table__, VOTE_EVENT_COLUMNS, vote_rows)
        later = conn.execute(select(VoteEvent.post_id).where(VoteEvent.block_number > batch.end).limit(1)).first()
        if later is None:  # then each post's (and pair's) last event here is its latest of all
            latest = latest_votes(votes)
    if posts:
        quarantined += _store_posts(conn, posts, batch.headers, content, latest.tallies if latest else None)
    if latest is not None:
        _write_tallies(conn, latest.tallies)
        _write_current_votes(conn, latest.current)
    elif votes:  # re-indexing below stored events: derive from everything stored
        refresh_tallies(conn, sorted({e.post_id for e in votes}))
        refresh_votes(conn, sorted({(e.post_id, e.voter) for e in votes}))
    blocks = [
        {"number": n, "hash": h["hash"], "parent_hash": h.get("parentHash")}
        for n, h in sorted(batch.headers.items())
        if h is not None
    ]
    insert_ignore(conn, Block.__table__, blocks)
    conn.execute(delete(Block).where(and_(Block.number < batch.end - KEEP_BLOCKS, Block.number != batch.end)))
    set_checkpoint(conn, batch.end, batch.end_hash)
    return quarantined


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


@dataclass
class Latest:
    """A range's last tallies per post and last vote per (post, voter), in chain order."""

    tallies: dict[int, tuple[int, int]]
    current: dict[tuple[int, str], VoteCast]


def latest_votes(votes: list[VoteCast]) -> Latest:
    """The range's latest tallies and votes: the stored truth when nothing later is stored."""
    tallies: dict[int, tuple[int, int]] = {}
    current: dict[tuple[int, str], VoteCast] = {}
    for event in sorted(votes, key=lambda e: (e.at.block_number, e.at.log_index)):
        tallies[event.post_id] = (event.upvotes, event.downvotes)
        current[(event.post_id, event.voter)] = event
    return Latest(tallies, current)


def _store_posts(
    conn: Connection,
    posts: list[PostCreated],
    headers: dict[int, dict[str, Any]],
    content: ContentLookup,
    tallies: dict[int, tuple[int, int]] | None,
) -> int:
    """Insert the range's posts with their thread shape, reply counts and, when known, final tallies.

    When no stored post is as new as the range's first (the usual case: nothing of this range
    is stored yet), every reply to a post of this range is in this range, so reply counts are
    counted here and tallies of ``tallies`` (popped) go straight into the new rows. Otherwise
    the rows go in with zero tallies, and reply counts are recounted from the stored rows.
    A post whose row cannot be made goes in as invalid with the reason; returns how many did.
    """
    fresh = conn.execute(select(Post.id).where(Post.id >= posts[0].post_id).limit(1)).first() is None
    shape: dict[int, tuple[int, int]] = {}  # post id -> (root id, depth)
    stored_replies: dict[int, int] = {}  # parent outside the range -> its stored reply count
    outside = sorted({e.parent_id for e in posts if e.parent_id} - {e.post_id for e in posts})
    for part in chunks(outside):
        query = select(Post.id, Post.root_id, Post.depth, Post.reply_count).where(Post.id.in_(part))
        for pid, root, depth, replies in conn.execute(query):
            shape[pid] = (root, depth)
            stored_replies[pid] = replies
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
            fields = {"content_status": "invalid", "title": None, "body": None, "content_error": quarantine_reason(exc)}
            row = post_row(event, root, depth, created_at, {"cid": cid, **fields})
        if fresh:
            row["reply_count"] = replies.get(event.post_id, 0)
            if tallies and event.post_id in tallies:
                row.update(tally_row(event.post_id, *tallies.pop(event.post_id), created_at))
                del row["pid"]
        rows.append(row)
        if fields["content_status"] == "missing":
            missing.append({"cid": cid, "attempts": 0, "next_attempt_at": 0.0, "last_error": None})
    _insert_rows(conn, Post.__table__, rows)
    _insert_rows(conn, ContentQueue.__table__, missing)
    if fresh:
        counts = [(stored_replies[p] + replies[p], p) for p in sorted(stored_replies)]
        execute_many(conn, "UPDATE posts SET reply_count = ? WHERE id = ?", counts)
    else:
        refresh_reply_counts(conn, sorted(replies))
    return quarantined


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
        insert_ignore_fast(conn, table, columns, [tuple(row[c] for c in columns) for row in rows])


def set_checkpoint(conn: Connection, number: int, block_hash: str) -> None:
    """The last block whose logs are all in the index."""
    set_meta(conn, "indexed_block", str(number))
    set_meta(conn, "indexed_block_hash", block_hash)


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
    execute_many(conn, "DELETE FROM votes WHERE post_id = ? AND voter = ?", withdrawn)
    execute_many(conn, UPSERT_VOTE, rows)


UPSERT_VOTE = (
    "INSERT INTO votes (post_id, voter, direction, block_number, log_index) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (post_id, voter) DO UPDATE SET direction = excluded.direction, "
    "block_number = excluded.block_number, log_index = excluded.log_index"
)


def _write_tallies(conn: Connection, tallies: dict[int, tuple[int, int]]) -> None:
    """Store tallies and the rankings derived from them (posts without an entry are left alone)."""
    for part in chunks(sorted(tallies)):
        created = conn.execute(select(Post.id, Post.created_at).where(Post.id.in_(part))).all()
        rows = [tally_row(pid, *tallies[pid], created_at) for pid, created_at in created]
        update_by_key(conn, Post.__table__, TALLY_ORDER, [tuple(row[c] for c in TALLY_KEYS) for row in rows])


TALLY_ORDER = ("id", "upvotes", "downvotes", "score", "hot", "controversial", "wilson")
TALLY_KEYS = ("pid", *TALLY_ORDER[1:])  # tally_row's names of TALLY_ORDER


def _write_votes(conn: Connection, pairs: list[tuple[int, str]], rows: list[dict[str, Any]]) -> None:
    """Replace the current votes of ``pairs`` with ``rows`` (pairs without a row have no vote)."""
    execute_many(conn, "DELETE FROM votes WHERE post_id = ? AND voter = ?", pairs)
    _insert_rows(conn, Vote.__table__, rows)


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


def rollback_above(conn: Connection, fork_block: int, fork_hash: str) -> int:
    """Delete everything from blocks above ``fork_block``, recompute what it touched; returns rows removed."""
    parents = [p for (p,) in conn.execute(select(Post.parent_id).where(Post.block_number > fork_block).distinct())]
    pairs = list(
        conn.execute(select(VoteEvent.post_id, VoteEvent.voter).where(VoteEvent.block_number > fork_block).distinct())
    )
    removed = 0
    for model in (Post, VoteEvent):
        removed += conn.execute(delete(model).where(model.block_number > fork_block)).rowcount or 0
    conn.execute(delete(Block).where(Block.number > fork_block))
    conn.execute(delete(ContentQueue).where(ContentQueue.cid.not_in(select(Post.cid))))
    refresh_reply_counts(conn, sorted({p for p in parents if p}))
    refresh_tallies(conn, sorted({pid for pid, _ in pairs}))
    refresh_votes(conn, sorted((pid, voter) for pid, voter in pairs))
    set_checkpoint(conn, fork_block, fork_hash)
    return removed


def wipe(conn: Connection) -> None:
    """Empty the index, keeping only the schema version (the chain identity is set again by the caller)."""
    for model in (Post, VoteEvent, Vote, Block, ContentQueue):
        conn.execute(delete(model))
    conn.execute(delete(Meta).where(Meta.key != "schema_version"))
