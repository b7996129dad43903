"""A node that lies about replies cannot make the inbox differ from the replies as stored (both engines).

The indexer keeps ``inbox`` from the rows as stored, not from the events as sent: a reply sent again under
another parent, or by another author, is skipped by insert-or-ignore, and so is its inbox entry; a reply to a
post not made yet joins that post's author's inbox when the post comes, as the join of the rows says. Here the lies
are what ``decode`` hands over from such a node's logs, stored by ``store_range`` into a real index.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from backend.db.models import Post
from backend.db.session import ensure_schema, make_engine
from backend.indexer import store
from backend.indexer.content_sync import content_fields
from backend.indexer.decode import LogPosition, PostCreated
from backend.indexer.fetch import RangeBatch
from tests.support.inbox import assert_inbox_kept

A, B, C, D = (f"0x{n:040x}" for n in (0xA, 0xB, 0xC, 0xD))
BLOCK_HASH = "0x" + "11" * 32


def _post(log_index: int, post_id: int, parent_id: int, author: str, block: int = 5) -> PostCreated:
    at = LogPosition(block, BLOCK_HASH, f"0x{block:02x}{log_index:062x}", log_index)
    return PostCreated(at, post_id, parent_id, author, post_id.to_bytes(32, "big"))


def _range(*events: PostCreated, block: int = 5) -> RangeBatch:
    headers = {block: {"hash": BLOCK_HASH, "parentHash": "0x" + "00" * 32, "timestamp": hex(1_700_000_000 + block)}}
    return RangeBatch(block, block, BLOCK_HASH, headers, list(events))


def _store(engine: Engine, batch: RangeBatch) -> None:
    with engine.begin() as conn:
        store.store_range(conn, batch, lambda cid, is_reply: content_fields(None, is_reply))


def test_a_reply_sent_twice_under_two_parents_lands_only_in_the_stored_parents_inbox(database_url: str) -> None:
    engine = make_engine(database_url)
    ensure_schema(engine)
    lies = _range(
        _post(0, 1, 0, A),  # A's post
        _post(1, 2, 0, B),  # B's post
        _post(2, 3, 1, C),  # C answers A: stored
        _post(3, 3, 2, C),  # the same reply again, now answering B: skipped by the posts' key
        _post(4, 4, 3, D),  # D answers C: stored
        _post(5, 4, 3, C),  # the same reply again, now by C itself (one's own reply): skipped too
        _post(6, 5, 9, D),  # a reply to a post that does not exist yet: no parent, no inbox
    )
    try:
        _store(engine, lies)
        _store(engine, lies)  # the range applied again, as after a restart mid-range: nothing more
        with engine.connect() as conn:
            parents = dict(conn.execute(select(Post.id, Post.parent_id)).all())
        assert parents == {1: None, 2: None, 3: 1, 4: 3, 5: 9}
        assert assert_inbox_kept(engine) == [(A, 3), (C, 4)]  # not (B, 3)
        later = _range(_post(0, 9, 0, B, block=6), block=6)  # the post that reply named, made later
        _store(engine, later)  # a fresh range: one seek finds the early reply
        assert assert_inbox_kept(engine) == [(A, 3), (B, 5), (C, 4)]  # as the join of the stored rows says
        _store(engine, later)  # again, no longer fresh: a probe per post finds it, and it is not added twice
        assert assert_inbox_kept(engine) == [(A, 3), (B, 5), (C, 4)]
    finally:
        engine.dispose()
