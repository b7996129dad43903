"""The index schema (SQLAlchemy 2). Every row can be rebuilt from the chain plus the content store.

Tables, and who may rely on what:

* ``posts``: one row per ``PostCreated``; ``id`` is the on-chain post id.
  ``author`` is a checksum address; ``parent_id`` is NULL for a top-level post;
  ``root_id`` is the top-level post of the thread (itself for a top-level post)
  and ``depth`` is 0 for it; ``digest`` is ``0x`` + 64 hex, ``cid`` its CIDv1
  (``bafkrei...``). ``title`` and ``body`` are NULL unless ``content_status`` is
  ``'pinned'`` (bytes hash to the digest and the document fits the post's kind);
  ``'missing'`` (not fetched yet, retried) or ``'invalid'`` (bytes hash right
  but are not a valid document of this kind, or the post could not be mapped
  to a row) otherwise; ``content_error`` says why a post is ``'invalid'`` (one
  sentence, NULL otherwise). ``topic`` is the thread's topic (a slug, docs/content.md): a top-level
  post's own, copied to every reply of its thread (also when the root's content arrives later); NULL
  without one. ``created_at`` is the
  block timestamp in seconds. ``upvotes``/``downvotes`` come from the latest
  ``VoteCast`` of the post; ``score`` = up - down; ``reply_count`` counts direct
  replies; ``hot``, ``controversial`` and ``wilson`` are ``backend.ranking``
  of those. Sort "new" by ``id``, "top" by ``score``.
* ``topics``: one row per topic that some top-level post carries: ``posts`` counts those posts,
  ``last_post_at`` is the newest one's ``created_at`` and ``last_post_id`` the largest id among them
  (``/api/topics``'s order and its tie-break). A summary of ``posts`` kept by every writer of ``posts``
  in its own transaction (``backend.indexer.topics``): counted up as a range's posts go in or a root's
  content (its topic) arrives, recounted from ``posts`` for the topics a reorg, a re-indexed range or
  a rewritten root touches; it always equals ``GROUP BY topic`` over the top-level posts.
* ``vote_events``: every ``VoteCast`` (append-only, keyed by tx hash + log
  index), with the tallies after it.
* ``votes``: each (post, voter)'s current non-zero vote (+1/-1), derived from
  the latest ``vote_events`` row of the pair; a withdrawn vote has no row.
* ``counted_upvotes``/``counted_downvotes`` (and ``counted_score``, ``counted_hot``,
  ``counted_controversial``, ``counted_wilson`` from them) count only the current votes
  whose voter's ``first_activity`` is in an earlier block than the post's: the default lens
  (docs/ranking.md). The raw tallies above stay as the contract emitted them.
* ``first_activity``: each address's first PostCreated or VoteCast of direction +-1 (block, log index).
* ``nonces``: every ``NonceUsed`` (append-only, keyed by tx hash + log index): a signed
  action spent ``nonce`` of ``signer``. The contract takes a signer's nonces in order from 0,
  so the signer's next nonce is the largest stored one + 1 (0 without a row): what
  ``GET /api/nonces`` answers, at the checkpoint's block, without asking the node. Rows above a
  fork are deleted like every other table's, so a reorg gives the nonce back.
* ``blocks``: recent block hashes (about the last 128 indexed, plus the
  checkpoint), to find the fork point of a reorganisation.
* ``meta``: key/value: which chain and deployment the index is for, the
  checkpoint (``indexed_block``/``indexed_block_hash``), the schema version.
* ``content_queue``: CIDs of posts whose content is missing, with retry state.
* full-text search of ``title`` and ``body`` (``backend.db.fulltext``): on SQLite the FTS5
  external-content table ``posts_fts`` (rowid = post id), kept in step with ``posts`` by triggers, so
  every write of the indexer (insert, content arriving later, reorg rollback, wipe) updates it in the
  same transaction; on PostgreSQL the generated ``tsvector`` column ``posts.search`` with a GIN index.
"""

from __future__ import annotations

from sqlalchemy import DDL, BigInteger, Float, Index, Integer, SmallInteger, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Bump when a table changes: the indexer then drops the index and rebuilds it from the chain.
SCHEMA_VERSION = "14"  # 2: no nonce_events, no single-column sort indexes; 3: read indexes here; 4: content_error;
# 5: full-text search (posts_fts on SQLite, posts.search on PostgreSQL); 6: posts.topic
# 7: counted tallies and first_activity (the default lens); 8: nonces (NonceUsed, for /api/nonces)
# 9: the default lens's activity is a post or a vote of direction +-1, in an earlier block than the post
# 10: topics (each topic's count and newest post, for /api/topics); 11: ix_read_window (top's window)
# 12: ix_read_replies* (a thread's replies in order: a big thread's page without reading all its replies)
# 13: ix_read_topic_hot_counted (a topic's page as it opens, walked rather than sorted)
# 14: inbox (each reply under its parent's author: an inbox page without reading all the author's posts)

HASH = String(66)  # 0x + 64 hex
ADDRESS = String(42)  # checksum address


class Base(DeclarativeBase):
    """Declarative base of the index tables."""


class Meta(Base):
    """Key/value facts about the index: chain identity, deployment, checkpoint."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Block(Base):
    """A block we indexed through: its hash, to notice and locate reorganisations."""

    __tablename__ = "blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(HASH)
    parent_hash: Mapped[str | None] = mapped_column(HASH, nullable=True)


class Post(Base):
    """A post or reply, with its content (when pinned and valid) and derived rankings."""

    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author: Mapped[str] = mapped_column(ADDRESS)
    parent_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    root_id: Mapped[int] = mapped_column(BigInteger)
    depth: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(HASH)
    cid: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    content_status: Mapped[str] = mapped_column(String(8))
    content_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    topic: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(HASH)
    tx_hash: Mapped[str] = mapped_column(HASH)
    log_index: Mapped[int] = mapped_column(Integer)
    upvotes: Mapped[int] = mapped_column(BigInteger, default=0)
    downvotes: Mapped[int] = mapped_column(BigInteger, default=0)
    score: Mapped[int] = mapped_column(BigInteger, default=0)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    hot: Mapped[float] = mapped_column(Float)
    controversial: Mapped[float] = mapped_column(Float, default=0.0)
    wilson: Mapped[float] = mapped_column(Float, default=0.0)
    counted_upvotes: Mapped[int] = mapped_column(BigInteger, default=0)
    counted_downvotes: Mapped[int] = mapped_column(BigInteger, default=0)
    counted_score: Mapped[int] = mapped_column(BigInteger, default=0)
    counted_hot: Mapped[float] = mapped_column(Float)
    counted_controversial: Mapped[float] = mapped_column(Float, default=0.0)
    counted_wilson: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index", name="uq_posts_log"),
        Index("ix_posts_author", "author", "id"),
        Index("ix_posts_parent", "parent_id", "id"),
        Index("ix_posts_block", "block_number"),
        Index("ix_posts_cid", "cid"),
        Index("ix_posts_content_status", "content_status"),
        # Read path: (parent_id, sort key, id) serves "parent_id IS NULL ORDER BY key DESC, id DESC" and the
        # keyset condition straight from the index; the trailing column (score for the collapsed tier,
        # created_at for top's window) lets the filter run on the index alone. "new" uses ix_posts_parent.
        Index("ix_read_feed_hot", "parent_id", "hot", "id", "score"),
        Index("ix_read_feed_top", "parent_id", "score", "id", "created_at"),
        Index("ix_read_feed_controversial", "parent_id", "controversial", "id", "score"),
        # the same three under the default lens (counted tallies)
        Index("ix_read_feed_hot_counted", "parent_id", "counted_hot", "id", "counted_score"),
        Index("ix_read_feed_top_counted", "parent_id", "counted_score", "id", "created_at"),
        Index("ix_read_feed_controversial_counted", "parent_id", "counted_controversial", "id", "counted_score"),
        Index("ix_read_author_totals", "author", "parent_id", "upvotes", "downvotes"),
        Index("ix_read_thread", "root_id", "depth"),
        # a thread's replies in order (best Wilson bound first, then the older), the score to tell the folded
        # tier on the index alone: a big thread's page is a seek and the page's rows (queries.reply_rows)
        Index("ix_read_replies", "parent_id", text("wilson DESC"), "id", "score"),
        Index("ix_read_replies_counted", "parent_id", text("counted_wilson DESC"), "id", "counted_score"),
        Index("ix_read_topic", "topic", "parent_id", "id"),
        # a topic's page as it opens (hot, the default lens) walked in its order, not its posts sorted: at
        # 10,000,000 posts a topic of 37,848 took 0.6 s p50 to sort. Partial: only top-level posts with a topic,
        # so that no reply's and no topic-less post's vote touches it; parent_id kept in it for PostgreSQL,
        # whose planner takes the page's order "parent_id DESC, counted_hot DESC, id DESC" from it
        Index(
            "ix_read_topic_hot_counted",
            "topic",
            "parent_id",
            "counted_hot",
            "id",
            "counted_score",
            sqlite_where=text("parent_id IS NULL AND topic IS NOT NULL"),
            postgresql_where=text("parent_id IS NULL AND topic IS NOT NULL"),
        ),
        # top's window (day, week, ...) when few top-level posts are in it: found here and sorted, rather than
        # ix_read_feed_top*'s walk through every older post (an empty week read all of them); PostgreSQL's
        # planner picks it from its statistics, SQLite when queries.listing_rows has counted the window
        Index(
            "ix_read_window",
            "created_at",
            sqlite_where=text("parent_id IS NULL"),
            postgresql_where=text("parent_id IS NULL"),
        ),
    )


class Topic(Base):
    """A topic's top-level posts: how many, and its newest (``GROUP BY topic`` of posts, kept by the indexer)."""

    __tablename__ = "topics"
    topic: Mapped[str] = mapped_column(String(32), primary_key=True)
    posts: Mapped[int] = mapped_column(BigInteger)
    last_post_at: Mapped[int] = mapped_column(BigInteger)
    last_post_id: Mapped[int] = mapped_column(BigInteger)

    # /api/topics: most recently active first, the newest post's id breaking ties
    __table_args__ = (Index("ix_topics_recent", "last_post_at", "last_post_id"),)


class InboxEntry(Base):
    """A reply under the author of the post it answers, unless they wrote both: their inbox, newest first.

    Kept by the indexer in the transaction that writes the reply (and removed with it on a reorganisation):
    the inbox reads its first rows down this key instead of every post of the author and their replies.
    """

    __tablename__ = "inbox"
    recipient: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    reply_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)

    __table_args__ = ({"sqlite_with_rowid": False},)  # the key is the whole row: the table is its own index


class VoteEvent(Base):
    """One ``VoteCast`` log: append-only; tallies are those after the vote."""

    __tablename__ = "vote_events"
    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(HASH)
    post_id: Mapped[int] = mapped_column(BigInteger)
    voter: Mapped[str] = mapped_column(ADDRESS)
    direction: Mapped[int] = mapped_column(SmallInteger)
    upvotes: Mapped[int] = mapped_column(BigInteger)
    downvotes: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_vote_events_post", "post_id", "block_number", "log_index"),
        Index("ix_vote_events_voter", "voter"),
        Index("ix_vote_events_block", "block_number"),
    )


class Vote(Base):
    """A voter's current vote on a post (+1 or -1), derived from the latest vote event."""

    __tablename__ = "votes"
    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    voter: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    direction: Mapped[int] = mapped_column(SmallInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_votes_voter", "voter"),)


class FirstActivity(Base):
    """An address's first post or vote of direction +-1 on the Board: whose votes the default lens counts."""

    __tablename__ = "first_activity"
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_first_activity_block", "block_number"),)


class NonceEvent(Base):
    """One ``NonceUsed`` log: a signed action (post or vote) spent this nonce of its signer."""

    __tablename__ = "nonces"
    tx_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(ADDRESS)
    nonce: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_nonces_signer", "signer", "nonce"),
        Index("ix_nonces_block", "block_number"),
    )


class ContentQueue(Base):
    """A CID whose bytes we lack: fetched again with exponential backoff until pinned."""

    __tablename__ = "content_queue"
    cid: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_content_queue_due", "next_attempt_at"),)


INDEX_TABLES = (
    Post.__table__,
    Topic.__table__,
    VoteEvent.__table__,
    Vote.__table__,
    FirstActivity.__table__,
    NonceEvent.__table__,
    Block.__table__,
)
# tables of earlier schema versions, dropped with the rest when the version changes
RETIRED_TABLES = ("nonce_events",)


# Full-text search, created and dropped with ``posts``. Triggers rather than Python calls in the indexer:
# every path that writes title/body (bulk inserts, the content queue's updates, rollback's deletes, wipe)
# keeps the FTS table in step in its own transaction, and none of them can forget to.
_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE posts_fts USING fts5(title, body, content='posts', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER posts_fts_update AFTER UPDATE OF title, body ON posts BEGIN "
    "INSERT INTO posts_fts(posts_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
)
# 'simple': no stemming and no stop words, so both engines find the same posts for the same words
_POSTGRES_SEARCH = (
    "ALTER TABLE posts ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple', coalesce(body, '')), 'B')) STORED",
    "CREATE INDEX ix_posts_search ON posts USING gin (search)",
)


def _on_create(statement: str, dialect: str) -> None:
    ddl = DDL(statement).execute_if(dialect=dialect)  # type: ignore[no-untyped-call]  # DDL's __init__ is untyped
    event.listen(Post.__table__, "after_create", ddl)


for _statement in _SQLITE_FTS:
    _on_create(_statement, "sqlite")
for _statement in _POSTGRES_SEARCH:
    _on_create(_statement, "postgresql")
_drop_fts = DDL("DROP TABLE IF EXISTS posts_fts").execute_if(dialect="sqlite")  # type: ignore[no-untyped-call]
event.listen(Post.__table__, "after_drop", _drop_fts)
