"""The reader's lens: whose votes fold and rank posts for this one reader (docs/ranking.md).

A lens is chosen per request (query parameters, or the pages' ``lens`` cookie) and never stored by
the server. ``default`` counts only votes of voters active before the post; ``all`` counts every
vote; ``trusted`` counts only votes of the reader's ``trust`` list; ``never`` ranks like ``default``
and folds nothing. ``fold`` is the reader's own threshold, and ``mute`` folds some authors' posts.

Listings are read in the order of the index (``default`` or ``all``); ``apply_reader`` then adds
what only this request knows: the trusted tallies of the shown posts (one grouped query), the folds
they imply, and the muted authors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from eth_utils.crypto import keccak
from sqlalchemy.orm import Session

from backend import ranking
from backend.db import queries
from backend.views.listings import DEFAULT_DEPTH, REPLIES_PER_PARENT, build_thread

LensName = Literal["default", "all", "trusted", "never"]
LENS_NAMES: tuple[str, ...] = get_args(LensName)
_NAMED: dict[str, LensName] = {name: name for name in get_args(LensName)}  # a name as its LensName, no cast
LENS_COOKIE = "lens"  # holds only the lens's name
LENS_PARAMS = ("lens", "fold", "trust", "mute")  # the query parameters of a reader's lens, carried on links
FOLD_MIN, FOLD_MAX = -1_000_000_000, 1_000_000_000  # a reader's fold threshold
# addresses in one trust or mute list: both travel in every URL of the reader's pages, and two full lists
# (2 x 100 x 41 characters) stay well inside a server's 16 KiB request head
MAX_ADDRESSES = 100
MAX_LIST_CHARS = MAX_ADDRESSES * 44  # "0x" + 40 hex + a comma each, and room for a space after it
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")

EXPLAIN = {
    "default": (
        "Votes count only when the voter was active on the Board (posted, or voted up or down) "
        "in an earlier block than the post."
    ),
    "all": "Every vote counts, however new the account that cast it.",
    "trusted": "Only votes of the addresses in your trusted voters list count; everyone else's are ignored.",
    "never": "Nothing is folded; posts are ranked as under the default lens.",
}


class BadAddressList(ValueError):
    """A trust or mute list that is not at most MAX_ADDRESSES comma-separated addresses (the message says why)."""


@dataclass(frozen=True)
class ReaderLens:
    """One reader's lens: its name, the fold threshold (None: nothing folds), trusted voters, muted authors."""

    name: LensName
    threshold: int | None
    trust: tuple[str, ...] = ()  # checksum addresses; only read under the trusted lens
    mute: frozenset[str] = frozenset()  # checksum addresses whose posts fold for this request

    @property
    def counted(self) -> bool:
        """Whether rankings and folds use the counted tallies (every lens but ``all``)."""
        return self.name != "all"

    @property
    def trusted(self) -> bool:
        """Whether the shown posts' tallies come from the trusted voters only."""
        return self.name == "trusted"


@functools.lru_cache(maxsize=8192)
def _checksum(lower: str) -> str:
    """The EIP-55 spelling of a lowercase address; cached, as a reader sends the same list with every page."""
    body = lower[2:]
    digest = keccak(text=body).hex()[:40]  # one nibble of the hash per hex digit of the address
    return "0x" + "".join(char.upper() if nibble >= "8" else char for char, nibble in zip(body, digest, strict=True))


def parse_addresses(field: str, value: str | None) -> tuple[str, ...]:
    """The checksum addresses of a comma-separated ``value`` (lowercase or EIP-55), once each; BadAddressList."""
    if value is None or not value.strip():
        return ()
    items = [item.strip() for item in value.split(",") if item.strip()]
    if len(items) > MAX_ADDRESSES:
        raise BadAddressList(f"{field}: at most {MAX_ADDRESSES} addresses, got {len(items)}")
    seen: dict[str, None] = {}
    for item in items:
        shown = item if len(item) <= 44 else item[:44] + "…"
        if not _ADDRESS.fullmatch(item):
            raise BadAddressList(f"{field}: {shown} is not an address (0x followed by 40 hex digits)")
        body, spelled = item[2:], _checksum(item.lower())
        if body != body.lower() and body != body.upper() and item != spelled:
            raise BadAddressList(f"{field}: {shown} fails its EIP-55 checksum")
        seen[spelled] = None
    return tuple(seen)


def make_lens(
    name: str, fold: int | None, default_threshold: int, trust: Iterable[str] = (), mute: Iterable[str] = ()
) -> ReaderLens:
    """The lens named ``name`` (one of LENS_NAMES) with the reader's ``fold`` threshold, or the board's."""
    chosen = _NAMED.get(name, "default")
    threshold = None if chosen == "never" else default_threshold if fold is None else fold
    return ReaderLens(chosen, threshold, tuple(trust) if chosen == "trusted" else (), frozenset(mute))


def _fold(post: dict[str, Any], lens: ReaderLens, by_votes: bool) -> None:
    post["muted"] = post["author"] in lens.mute
    score = post["counted_score" if lens.counted else "score"]
    folded_by_votes = by_votes and lens.threshold is not None and score <= lens.threshold
    post["collapsed"] = post["muted"] or folded_by_votes


def _trusted_tallies(session: Session, lens: ReaderLens, posts: list[dict[str, Any]]) -> None:
    """Replace the shown posts' counted tallies by the trusted voters' (one grouped query, none if no one)."""
    tallies = queries.trusted_tallies(session, list(lens.trust), [post["id"] for post in posts]) if lens.trust else {}
    for post in posts:
        up, down = tallies.get(post["id"], (0, 0))
        post["counted_upvotes"], post["counted_downvotes"], post["counted_score"] = up, down, up - down


def apply_reader(
    session: Session,
    posts: list[dict[str, Any]],
    lens: ReaderLens,
    *,
    by_votes: bool = True,
    sink: bool = False,
    indexed: bool = False,
) -> list[dict[str, Any]]:
    """``posts`` folded for this reader: trusted tallies, folds by votes (unless not ``by_votes``), mutes.

    ``indexed``: the posts were built under this lens's index tallies and threshold (feeds, threads), so a
    lens without a trust or mute list adds nothing to them.

    With ``sink`` (a ranked listing under the trusted lens), the posts the trusted votes fold move after the
    others within this page, keeping their order; a muted post keeps its place: mute folds, it does not rank.
    """
    if indexed and not (lens.trusted or lens.mute):
        return posts  # built with this lens's index tallies and threshold, and nobody is muted: nothing to add
    if lens.trusted:
        _trusted_tallies(session, lens, posts)
    for post in posts:
        _fold(post, lens, by_votes)
    if sink and lens.trusted:
        posts.sort(key=lambda post: post["collapsed"] and not post["muted"])
    return posts


def reader_thread(
    session: Session,
    post_id: int,
    lens: ReaderLens,
    depth: int = DEFAULT_DEPTH,
    *,
    cursor: str | None = None,
    per_parent: int = REPLIES_PER_PARENT,
) -> dict[str, Any] | None:
    """The thread of ``post_id`` as this reader's lens shows it (the API's and the page's one way to build it)."""
    thread = build_thread(
        session,
        post_id,
        depth,
        collapse_score=lens.threshold,
        counted=lens.counted,
        cursor=cursor,
        per_parent=per_parent,
    )
    return apply_reader_thread(session, thread, lens)


def apply_reader_thread(session: Session, thread: dict[str, Any] | None, lens: ReaderLens) -> dict[str, Any] | None:
    """A thread document folded for this reader; under the trusted lens each post's shown replies (50 at most,
    the index's best under the default lens) are ranked again by the trusted voters' tallies."""
    if thread is None or not (lens.trusted or lens.mute):
        return thread  # built with this lens's index tallies and threshold, and nobody is muted
    nodes: list[dict[str, Any]] = []
    stack = [thread["post"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node["replies"])
    apply_reader(session, nodes, lens, indexed=True)
    if lens.trusted:
        for node in nodes:
            node["replies"].sort(
                key=lambda reply: (
                    reply["collapsed"] and not reply["muted"],
                    -ranking.wilson(reply["counted_upvotes"], reply["counted_downvotes"]),
                    reply["id"],
                )
            )
    return thread
