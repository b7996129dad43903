"""Map: decoded Board events -> index rows (pure: no I/O, no database).

The domain side of the indexer, with ``decode`` and ``store``: what a PostCreated, a VoteCast or a NonceUsed becomes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from backend import ranking
from backend.content.cid import digest_hex, digest_to_cid
from backend.indexer.decode import NonceUsed, PostCreated, VoteCast

# PostgreSQL refuses NUL in text; SQLite's and PostgreSQL's drivers refuse lone surrogates (UnicodeEncodeError)
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


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
        **counted_row(0, 0, created_at),
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


NONCE_COLUMNS = ("tx_hash", "log_index", "block_number", "signer", "nonce")


def nonce_row(event: NonceUsed) -> tuple[Any, ...]:
    """The nonces row of a NonceUsed, in NONCE_COLUMNS order."""
    at = event.at
    return (at.tx_hash, at.log_index, at.block_number, event.signer, event.nonce)


def ranked(upvotes: int, downvotes: int, created_at: int) -> tuple[int, int, int, float, float, float]:
    """(up, down, score, hot, controversial, wilson) of these tallies, as tally_row and counted_row name them."""
    return (
        upvotes, downvotes, upvotes - downvotes, ranking.hot(upvotes, downvotes, created_at),
        ranking.controversial(upvotes, downvotes), ranking.wilson(upvotes, downvotes),
    )  # fmt: skip


TALLY_NAMES = ("upvotes", "downvotes", "score", "hot", "controversial", "wilson")
COUNTED_NAMES = tuple(f"counted_{name}" for name in TALLY_NAMES)


def tally_row(post_id: int, upvotes: int, downvotes: int, created_at: int) -> dict[str, Any]:
    """Derived columns of a post from its tallies."""
    return {"pid": post_id, **dict(zip(TALLY_NAMES, ranked(upvotes, downvotes, created_at), strict=True))}


def counted_row(upvotes: int, downvotes: int, created_at: int) -> dict[str, Any]:
    """The default lens's columns of a post from its counted tallies."""
    return dict(zip(COUNTED_NAMES, ranked(upvotes, downvotes, created_at), strict=True))


def first_actions(posts: list[PostCreated], votes: list[VoteCast]) -> dict[str, tuple[int, int]]:
    """Each author's or voter's earliest activity (block, log index) among these events.

    Activity is a post or a vote of direction +1 or -1: a withdrawn or empty vote (direction 0) changes no tally
    and shows nowhere, so it marks no one as active (issue 19.5).
    """
    first: dict[str, tuple[int, int]] = {}
    acted = [(e.author, e.at) for e in posts] + [(e.voter, e.at) for e in votes if e.direction != 0]
    for address, at in acted:
        position = (at.block_number, at.log_index)
        if address not in first or position < first[address]:
            first[address] = position
    return first


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
