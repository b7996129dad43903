"""Typed dependencies of the routes and pages, and the one ``AppState`` they come from.

Everything here is built once, in ``backend.app.create_app`` and its lifespan,
and kept on ``AppState``; a route names what it needs as an ``Annotated``
parameter (``session: DbSession``, ``content: Content``) and never reaches into
``request.app.state`` itself. Only ``app_state`` does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Cookie, Depends, HTTPException, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from backend import clients, limits
from backend.chain_link import ChainLink
from backend.config import Settings
from backend.content.service import ContentService
from backend.db.session import read_snapshot
from backend.indexer.runner import Indexer
from backend.views.lens import (
    FOLD_MAX,
    FOLD_MIN,
    LENS_COOKIE,
    LENS_NAMES,
    MAX_ADDRESSES,
    MAX_LIST_CHARS,
    BadAddressList,
    LensName,
    ReaderLens,
    make_lens,
    parse_addresses,
)


class RefusedMemo:
    """This process's copy of recent relay refusals (the shared store has them all): a replay skips the database."""

    MAX = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The refusal remembered under ``key``, unless expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, refusal: dict[str, Any], ttl: float) -> None:
        """Remember ``refusal`` for ``ttl`` seconds."""
        if len(self._entries) >= self.MAX:  # drop the oldest half: dicts keep insertion order
            for old in list(self._entries)[: self.MAX // 2]:
                del self._entries[old]
        self._entries[key] = (time.monotonic() + ttl, refusal)


@dataclass
class AppState:
    """What requests may use: settings, the index engine, content, shared limits, the node's view, the indexer."""

    settings: Settings
    engine: Engine
    content: ContentService
    limits: limits.Limits
    chain_link: ChainLink
    refused: RefusedMemo = field(default_factory=RefusedMemo)
    indexer: Indexer | None = None  # set in the lifespan when this process runs the indexer


def app_state(request: Request) -> AppState:
    """The app's state (the only reader of ``request.app.state``)."""
    state: AppState = request.app.state.indelible
    return state


State = Annotated[AppState, Depends(app_state)]


def _settings(state: State) -> Settings:
    return state.settings


def _engine(state: State) -> Engine:
    return state.engine


def read_session(state: State) -> Iterator[Session]:
    """A read-only session on the index for one request, on one snapshot of it."""
    with read_snapshot(state.engine) as session:
        yield session


def _content(state: State) -> ContentService:
    return state.content


def _limits(state: State) -> limits.Limits:
    return state.limits


def _chain_link(state: State) -> ChainLink:
    return state.chain_link


def _refused(state: State) -> RefusedMemo:
    return state.refused


def _indexer(state: State) -> Indexer | None:
    return state.indexer


def client_address(request: Request) -> str:
    """The unit clients are counted in (an IPv4 address or an IPv6 /64) of the client ``backend.clients`` finds.

    The TCP peer, or, from a proxy in ``INDELIBLE_TRUSTED_PROXIES``, the address it forwarded; 400 when that
    is not an IP address.
    """
    peer = request.client.host if request.client else None
    forwarded = request.headers.getlist("x-forwarded-for")
    try:
        host = clients.client_host(peer, forwarded, app_state(request).settings.trusted_proxies)
    except clients.ForwardedAddressError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return limits.client_key(host)


def collapse_score(state: State) -> int:
    """The score at or below which a post is collapsed (INDELIBLE_COLLAPSE_SCORE)."""
    return int(state.settings.collapse_score)


_LENS_HELP = (
    "Whose votes fold and rank posts: default (voters active before the post), all, trusted (only the voters"
    " in trust), or never (fold nothing)"
)
_FOLD_HELP = "Your fold threshold: posts scoring at or below it fold (default INDELIBLE_COLLAPSE_SCORE)"
_TRUST_HELP = f"lens=trusted: the voters whose votes count, comma-separated addresses (at most {MAX_ADDRESSES})"
_MUTE_HELP = f"Authors whose posts fold for this request, comma-separated addresses (at most {MAX_ADDRESSES})"
LensQuery = Annotated[LensName, Query(description=_LENS_HELP)]
FoldQuery = Annotated[int | None, Query(ge=FOLD_MIN, le=FOLD_MAX, description=_FOLD_HELP)]
TrustQuery = Annotated[str | None, Query(max_length=MAX_LIST_CHARS, description=_TRUST_HELP)]
MuteQuery = Annotated[str | None, Query(max_length=MAX_LIST_CHARS, description=_MUTE_HELP)]


def _reader_lens(state: AppState, name: str, fold: int | None, trust: str | None, mute: str | None) -> ReaderLens:
    try:
        trusted = parse_addresses("trust", trust)  # checked under every lens, read only under trusted
        muted = parse_addresses("mute", mute)
    except BadAddressList as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return make_lens(name, fold, int(state.settings.collapse_score), trusted, muted)


def api_lens(
    state: State, lens: LensQuery = "default", fold: FoldQuery = None, trust: TrustQuery = None, mute: MuteQuery = None
) -> ReaderLens:
    """The reader's lens from the ``lens``, ``fold``, ``trust`` and ``mute`` parameters (nothing is stored)."""
    return _reader_lens(state, lens, fold, trust, mute)


def feed_lens(
    state: State,
    lens: Annotated[LensName, Query(include_in_schema=False)] = "default",
    fold: Annotated[int | None, Query(ge=FOLD_MIN, le=FOLD_MAX, include_in_schema=False)] = None,
    trust: Annotated[str | None, Query(max_length=MAX_LIST_CHARS, include_in_schema=False)] = None,
    mute: Annotated[str | None, Query(max_length=MAX_LIST_CHARS, include_in_schema=False)] = None,
) -> ReaderLens:
    """An Atom feed's lens: the API's parameters, checked alike, left out of /openapi.json (docs/ranking.md).

    Left out because the schema fuzz would send lists of 4,400 multibyte characters, a request line over
    uvicorn's 16 KiB that it answers with a bare text 400 before the app; feed readers send ASCII addresses.
    """
    return _reader_lens(state, lens, fold, trust, mute)


def page_lens(
    state: State,
    lens: Annotated[LensName | None, Query(description=_LENS_HELP)] = None,
    fold: FoldQuery = None,
    trust: TrustQuery = None,
    mute: MuteQuery = None,
    cookie: Annotated[str | None, Cookie(alias=LENS_COOKIE, max_length=16)] = None,
) -> ReaderLens:
    """A page's lens: the ``lens`` parameter, else the ``lens`` cookie (only a lens name), else default."""
    name = lens if lens is not None else cookie if cookie in LENS_NAMES else "default"
    return _reader_lens(state, name, fold, trust, mute)


def thread_replies(state: State) -> int:
    """Direct replies of one post shown at once (INDELIBLE_THREAD_REPLIES)."""
    return int(state.settings.thread_replies)


AppSettings = Annotated[Settings, Depends(_settings)]
IndexEngine = Annotated[Engine, Depends(_engine)]
DbSession = Annotated[Session, Depends(read_session)]
Content = Annotated[ContentService, Depends(_content)]
SharedLimits = Annotated[limits.Limits, Depends(_limits)]
AppChainLink = Annotated[ChainLink, Depends(_chain_link)]
RefusedBodies = Annotated[RefusedMemo, Depends(_refused)]
LocalIndexer = Annotated[Indexer | None, Depends(_indexer)]
ClientAddress = Annotated[str, Depends(client_address)]
CollapseScore = Annotated[int, Depends(collapse_score)]
ThreadReplies = Annotated[int, Depends(thread_replies)]
ApiLens = Annotated[ReaderLens, Depends(api_lens)]
PageLens = Annotated[ReaderLens, Depends(page_lens)]
FeedLens = Annotated[ReaderLens, Depends(feed_lens)]
