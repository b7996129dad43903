"""Bulk fill for bench/scale.py: the rows ``store_range`` would leave, written in bulk (COPY / executemany).

``store_range`` stores about 500 events/s on this machine: 10,000,000 posts (80,000,000 events) would take
two days. This path takes the same made-up decoded events, range by range, and works out in memory what the
indexer's transactions would leave behind once every range is stored, with the indexer's own functions:

* ``posts``: ``post_row`` of each PostCreated with its content from ``content_fields`` (``check_storable``,
  and ``invalid_fields`` when that raises, as ``_store_posts`` does), thread shape and topic from the parent,
  then at the end ``tally_row`` of the post's latest VoteCast tallies, its direct replies, and ``counted_row``
  of the current votes whose voter's first activity is in an earlier block than the post (the default lens);
* ``vote_events`` (``vote_event_row``), ``nonces`` (``nonce_row``) as they come;
* ``votes``: one current vote per (post, voter) pair; this path requires what bench/scale.py's chain does:
  every pair votes once, +1 or -1 (a second vote of a pair fails the primary key, a withdrawal is refused);
* ``first_activity``: each address's first post or +-1 vote; ``content_queue``: the CIDs left missing;
* ``topics``: each topic's top-level posts counted, with its newest created_at and id (as ``topics.add`` counts);
* ``inbox``: each reply under its parent's author, unless that is the reply's author too (as ``_store_posts``);
* ``blocks`` and the checkpoint: ``checkpoint.advance`` itself, with the last KEEP_BLOCKS blocks' headers.

Posts go to the database only at the end (their tallies move until the last vote): until then their rows wait
in marshal files beside the database. Secondary indexes (and, on PostgreSQL, the primary keys and unique
constraints) are dropped before the load and made again after it from their own saved definitions; on SQLite
the full-text table is rebuilt (``'rebuild'``) and its triggers made again. ``test_scale_bulk`` checks, on both
engines, that this path and ``store_range`` leave the same rows in every table, full-text search included.
"""

from __future__ import annotations

import marshal
import os
import tempfile
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import psutil
from sqlalchemy import Engine, bindparam, text

from backend.content.cid import digest_to_cid
from backend.db.session import ensure_schema, make_engine
from backend.indexer import checkpoint
from backend.indexer.content_sync import content_fields, invalid_fields
from backend.indexer.decode import NonceUsed, PostCreated, VoteCast
from backend.indexer.fetch import RangeBatch
from backend.indexer.map import (
    NONCE_COLUMNS,
    VOTE_EVENT_COLUMNS,
    check_storable,
    counted_row,
    nonce_row,
    post_row,
    quarantine_reason,
    tally_row,
    vote_event_row,
)
from backend.indexer.store import INBOX_COLUMNS

FLUSH_ROWS = 50_000  # vote, vote event and nonce rows buffered before a write (one transaction each)
POSTS_PER_FILE = 100_000  # posts per marshal file
BASE = (
    "id", "author", "parent_id", "root_id", "depth", "digest", "cid", "title", "body", "content_status",
    "content_error", "topic", "created_at", "block_number", "block_hash", "tx_hash", "log_index",
)  # fmt: skip
DERIVED = (
    "upvotes", "downvotes", "score", "reply_count", "hot", "controversial", "wilson",
    "counted_upvotes", "counted_downvotes", "counted_score", "counted_hot", "counted_controversial", "counted_wilson",
)  # fmt: skip
VOTE_COLUMNS = ("post_id", "voter", "direction", "block_number", "log_index")
# the tables the load fills; meta, blocks and content_queue keep their keys (the checkpoint's upserts need them)
LOADED = ("posts", "vote_events", "votes", "nonces", "first_activity", "inbox")


class ChainLike(Protocol):
    """What the bulk path needs of bench/scale.py's made-up chain."""

    posts: int

    def range(self, blocks: int, posts_wanted: int) -> tuple[RangeBatch, dict[str, bytes]]: ...


class Writer:
    """Rows into the index's tables: COPY on PostgreSQL, executemany in one transaction per call on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        names = ", ".join(columns)
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.postgres:
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.execute("PRAGMA synchronous=OFF")
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
            cursor.close()
            raw.commit()
        finally:
            raw.close()

    def execute(self, statements: Sequence[str]) -> None:
        with self.engine.begin() as conn:
            if self.postgres:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            for statement in statements:
                conn.exec_driver_sql(statement)


def _drop_indexes(engine: Engine) -> list[str]:
    """Drop what slows a bulk load down; returns the statements that make it again, in order."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            constraints = conn.execute(
                text(
                    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
                    " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'"
                    " AND c.contype IN ('p', 'u') AND c.conrelid::regclass::text IN :tables ORDER BY 1, 2"
                ).bindparams(bindparam("tables", expanding=True)),
                {"tables": list(LOADED)},
            ).all()
            indexes = conn.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' AND NOT EXISTS"
                    " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) AND i.tablename IN :tables"
                    " ORDER BY 1"
                ).bindparams(bindparam("tables", expanding=True)),
                {"tables": list(LOADED)},
            ).all()
            for name, _ in indexes:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')  # names from the catalogue
            for table, name, _ in constraints:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            remake = [
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}' for table, name, definition in constraints
            ]
            return remake + [definition for _, definition in indexes]
        rows = conn.execute(
            text(
                "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND"
                " tbl_name IN :tables AND type IN ('index', 'trigger') ORDER BY type, name"
            ).bindparams(bindparam("tables", expanding=True)),
            {"tables": list(LOADED)},
        ).all()
        for kind, name, _ in rows:
            conn.exec_driver_sql(f'DROP {kind.upper()} "{name}"')  # names from the catalogue
        indexes = [sql for kind, _, sql in rows if kind == "index"]
        triggers = [sql for kind, _, sql in rows if kind == "trigger"]
        return [*indexes, "INSERT INTO posts_fts(posts_fts) VALUES ('rebuild')", *triggers]


class _State:
    """Per post and per address, what the later events change: tallies, replies, counted votes, first activity."""

    def __init__(self) -> None:
        self.block = array("q", [0])  # post id -> its block
        self.created = array("q", [0])
        self.root = array("q", [0])
        self.depth = array("i", [0])
        self.up = array("q", [0])
        self.down = array("q", [0])
        self.replies = array("q", [0])
        self.counted_up = array("q", [0])
        self.counted_down = array("q", [0])
        self.topic: list[str | None] = [None]
        self.author: list[str] = [""]  # post id -> its author (the chain's few address strings, shared)
        self.topics: dict[str, tuple[int, int, int]] = {}  # topic -> (top-level posts, newest created_at, newest id)
        self.first: dict[str, tuple[int, int]] = {}  # address -> (block, log index) of its first activity

    def grow(self, post_id: int) -> None:
        if post_id != len(self.block):
            raise ValueError(f"bulk fill needs post ids in order from 1: got {post_id} after {len(self.block) - 1}")
        for column in (
            self.block, self.created, self.root, self.depth, self.up, self.down,
            self.replies, self.counted_up, self.counted_down,
        ):  # fmt: skip
            column.append(0)
        self.topic.append(None)
        self.author.append("")

    def act(self, address: str, block: int, index: int) -> None:
        position = (block, index)
        known = self.first.get(address)
        if known is None or position < known:
            self.first[address] = position


def fill(
    url: str,
    chain: ChainLike,
    posts: int,
    range_blocks: int,
    progress: bool = True,
    spool: Path | None = None,
) -> dict[str, Any]:
    """Fill an empty index with ``posts`` posts of ``chain`` (and their votes and nonces) in bulk.

    Returns seconds, events, the rate, the filler's RSS samples (posts, MB) and the seconds of each phase.
    """
    engine = make_engine(url)
    ensure_schema(engine)
    writer = Writer(engine)
    me = psutil.Process()
    started = time.perf_counter()
    remake = _drop_indexes(engine)
    state = _State()
    rss: list[tuple[int, float]] = []
    buffers: dict[str, list[tuple[Any, ...]]] = {"vote_events": [], "votes": [], "nonces": [], "inbox": []}
    columns = {
        "vote_events": VOTE_EVENT_COLUMNS, "votes": VOTE_COLUMNS, "nonces": NONCE_COLUMNS, "inbox": INBOX_COLUMNS,
    }  # fmt: skip
    missing: set[str] = set()
    files: list[Path] = []
    pending: list[tuple[Any, ...]] = []
    recent: dict[int, dict[str, Any]] = {}
    end, end_hash, events = 0, "", 0
    last_print = started
    with tempfile.TemporaryDirectory(dir=spool) as tmp:

        def spill() -> None:
            path = Path(tmp) / f"posts{len(files):05d}.marshal"
            with path.open("wb") as out:
                marshal.dump(pending, out)
            files.append(path)
            pending.clear()

        def flush(force: bool = False) -> None:
            for table, rows in buffers.items():
                if rows and (force or len(rows) >= FLUSH_ROWS):
                    writer.write(table, columns[table], rows)
                    rows.clear()

        target = chain.posts + posts
        while chain.posts < target:
            batch, documents = chain.range(range_blocks, target - chain.posts)
            events += len(batch.events)
            for event in batch.events:  # in chain order, as fetch returns them
                if isinstance(event, PostCreated):
                    pending.append(_post(state, batch, documents, event, missing))
                    parent_author = state.author[event.parent_id]  # "" for a top-level post (id 0)
                    if parent_author and parent_author != event.author:
                        buffers["inbox"].append((parent_author, event.post_id))
                    if len(pending) >= POSTS_PER_FILE:
                        spill()
                elif isinstance(event, VoteCast):
                    _vote(state, buffers, event)
                elif isinstance(event, NonceUsed):
                    buffers["nonces"].append(nonce_row(event))
            flush()
            for number, header in batch.headers.items():
                recent[number] = header
            end, end_hash = batch.end, batch.end_hash
            for number in [n for n in recent if n < end - checkpoint.KEEP_BLOCKS]:
                del recent[number]
            rss.append((chain.posts, me.memory_info().rss / 2**20))
            if progress and time.perf_counter() - last_print > 30:
                last_print = time.perf_counter()
                print(
                    f"  {chain.posts:,} posts, {events:,} events, {events / (last_print - started):,.0f} events/s"
                    f" (bulk), RSS {rss[-1][1]:.0f} MB",
                    flush=True,
                )
        flush(force=True)
        if pending:
            spill()
        phases = {"events": time.perf_counter() - started}
        for path in files:
            with path.open("rb") as source:
                rows = marshal.load(source)
            writer.write("posts", BASE + DERIVED, list(_finished(state, rows)))
            path.unlink()
        phases["posts"] = time.perf_counter() - started - phases["events"]
    first = sorted((address, block, index) for address, (block, index) in state.first.items())
    writer.write("first_activity", ("address", "block_number", "log_index"), first)
    writer.write(
        "topics",
        ("topic", "posts", "last_post_at", "last_post_id"),
        [(topic, *state.topics[topic]) for topic in sorted(state.topics)],
    )
    writer.write(
        "content_queue",
        ("cid", "attempts", "next_attempt_at", "last_error"),
        [(c, 0, 0.0, None) for c in sorted(missing)],
    )
    with engine.begin() as conn:
        checkpoint.advance(conn, recent, end, end_hash)
    mark = time.perf_counter()
    if progress:
        print(f"  rows written in {mark - started:.0f} s; making {len(remake)} indexes and constraints ...", flush=True)
    for statement in remake:
        writer.execute([statement])
    phases["indexes"] = time.perf_counter() - mark
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "events": events, "rate": events / seconds, "rss": rss, "phases": phases, "bulk": True}


def _post(
    state: _State, batch: RangeBatch, documents: dict[str, bytes], event: PostCreated, missing: set[str]
) -> tuple[Any, ...]:
    """The post's row without its derived columns (BASE order), as ``_store_posts`` makes it."""
    post_id, parent = event.post_id, event.parent_id
    state.grow(post_id)
    if parent == 0:
        root, depth = post_id, 0
    elif parent < post_id:
        root, depth = state.root[parent], state.depth[parent] + 1
        state.replies[parent] += 1
    else:
        raise ValueError(f"post {post_id} replies to unknown post {parent}: not a chain the bulk path takes")
    created_at = int(batch.headers[event.at.block_number]["timestamp"], 16)
    cid = digest_to_cid(event.digest)
    try:
        fields = content_fields(documents.get(cid), parent != 0)
        check_storable(fields)
        row = post_row(event, root, depth, created_at, {"cid": cid, **fields})
    except Exception as exc:  # as _store_posts: stored as invalid with the reason
        fields = invalid_fields(quarantine_reason(exc))
        row = post_row(event, root, depth, created_at, {"cid": cid, **fields})
    if parent:
        row["topic"] = state.topic[parent]
    elif row["topic"] is not None:  # the topics table, as topics.add counts a range's new posts
        count, newest_at, newest_id = state.topics.get(row["topic"], (0, created_at, post_id))
        state.topics[row["topic"]] = (count + 1, max(newest_at, created_at), max(newest_id, post_id))
    state.topic[post_id] = row["topic"]
    state.block[post_id], state.created[post_id] = event.at.block_number, created_at
    state.root[post_id], state.depth[post_id] = root, depth
    state.author[post_id] = event.author
    if fields["content_status"] == "missing":
        missing.add(cid)
    state.act(event.author, event.at.block_number, event.at.log_index)
    return tuple(row[c] for c in BASE)


def _vote(state: _State, buffers: dict[str, list[tuple[Any, ...]]], event: VoteCast) -> None:
    """A vote event's rows, the post's latest tallies, and whether the vote counts under the default lens."""
    if event.direction == 0:
        raise ValueError("bulk fill takes no withdrawn votes (the current vote would have to go)")
    at, post_id = event.at, event.post_id
    buffers["vote_events"].append(vote_event_row(event))
    buffers["votes"].append((post_id, event.voter, event.direction, at.block_number, at.log_index))
    state.up[post_id], state.down[post_id] = event.upvotes, event.downvotes
    state.act(event.voter, at.block_number, at.log_index)
    if state.first[event.voter][0] < state.block[post_id]:  # final: first activity only moves earlier
        if event.direction > 0:
            state.counted_up[post_id] += 1
        else:
            state.counted_down[post_id] += 1


def _finished(state: _State, rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Each post's row with its final derived columns (BASE + DERIVED order)."""
    for row in rows:
        pid = row[0]
        created = state.created[pid]
        tally = tally_row(pid, state.up[pid], state.down[pid], created)
        counted = counted_row(state.counted_up[pid], state.counted_down[pid], created)
        yield (
            *row,
            tally["upvotes"], tally["downvotes"], tally["score"], state.replies[pid],
            tally["hot"], tally["controversial"], tally["wilson"], *counted.values(),
        )  # fmt: skip


def size_on_disk(url: str) -> int:
    """Bytes of the database: the SQLite file (with its WAL) or the PostgreSQL database."""
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
        path = engine.url.database or ""
        return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    finally:
        engine.dispose()
