"""Page routes: the views of ``backend.views.answers``, the JSON twins' own answers, rendered with Jinja2.

Each handler takes the same typed dependencies as its JSON twin (``backend.http.deps``), calls the same
view function, and renders its answer through ``_render`` (one render helper: the template, the JSON
twin's URL, the chain facts the reader's browser checks); templates only lay it out. A page that reads
the index does it as its JSON twin does (``backend.http.responses.read_json``): view and render in one
worker-thread hop on one read snapshot (``_in_snapshot``), not a hop for each synchronous dependency and
the handler. Errors take one path: ``PageRoute`` turns a bad cursor or query, a missing post or any
refusal into ``error_page``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.config import Settings
from backend.db.fulltext import BadQuery, SearchSort
from backend.db.queries import Sort, Window
from backend.db.session import read_snapshot
from backend.http.deps import (
    AppChainLink,
    AppSettings,
    AppState,
    IndexEngine,
    LocalIndexer,
    PageLens,
    SharedLimits,
    State,
)
from backend.http.errors import invalid
from backend.http.params import AddressPath, Cursor, PostId, TopicPath, TopicQuery, WindowQuery, checksum
from backend.http.patterns import ADDRESS_PATTERN
from backend.views.answers import author_view, feed_view, inbox_view, search_view, thread_view, topic_view
from backend.views.cursors import BadCursor
from backend.views.lens import EXPLAIN, LENS_NAMES, LENS_PARAMS, MAX_ADDRESSES, ReaderLens
from backend.views.listings import build_topics
from backend.views.service_info import relay_document, status_document
from backend.web.render import page

TABS: list[tuple[Sort, str]] = [("hot", "Hot"), ("new", "New"), ("top", "Top"), ("controversial", "Controversial")]
_PATH_SORTS: dict[str, Sort] = {"/new": "new", "/top": "top", "/controversial": "controversial"}


def _url(path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{path}?{query}" if query else path


def _sort_path(sort: Sort) -> str:
    return "/" if sort == "hot" else f"/{sort}"


def error_page(request: Request, status_code: int, detail: str) -> HTMLResponse:
    """An HTML error page with the same one-sentence detail as the API's."""
    titles = {404: "Not found", 422: "Bad request"}
    return page(
        request, "error.html", None, status_code=status_code, title=titles.get(status_code, "Error"), detail=detail
    )


class PageRoute(APIRoute):
    """A page route whose refusals (a bad cursor or query, a missing post, any HTTPException) are error pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: the pages' one error path."""
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (BadCursor, BadQuery) as exc:
                return error_page(request, 422, str(exc))
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))

        return route_handler


router = APIRouter(include_in_schema=False, route_class=PageRoute)


async def _in_snapshot(state: AppState, build: Callable[[Session, Settings], HTMLResponse]) -> HTMLResponse:
    """``build(session, settings)`` on one read snapshot of the index, in one worker-thread hop (view and render)."""

    def work() -> HTMLResponse:
        with read_snapshot(state.engine) as session:
            return build(session, state.settings)

    return await run_in_threadpool(work)


def _render(
    request: Request,
    settings: Settings,
    template: str,
    json_url: str | None,
    answer: dict[str, Any] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The one way a page is rendered: its template, its JSON twin's URL, and the chain facts of its view's answer
    (the same ``chain`` the JSON carries, with an RPC URL for the reader's browser to check them at)."""
    facts = answer.get("chain") if answer else None
    check = None
    if facts is not None:
        check = {**facts, "chain_id": facts["chain_id"] or "", "rpc_url": settings.browser_rpc_url}
    return page(request, template, json_url, chain_check=check, **context)


def _lens_params(request: Request) -> dict[str, str | None]:
    """The lens parameters this page was asked with, kept in its links (a cookie's lens needs none)."""
    return {name: request.query_params.get(name) for name in LENS_PARAMS}


def _lens_query(request: Request) -> str:
    """``&lens=...&fold=...`` as asked, for links that add a cursor to a page's own URL; empty when none."""
    kept = urlencode({k: v for k, v in _lens_params(request).items() if v is not None})
    return f"&{kept}" if kept else ""


def _feed(
    request: Request,
    session: Session,
    settings: Settings,
    lens: ReaderLens,
    sort: Sort,
    window: Window,
    cursor: str | None,
) -> HTMLResponse:
    feed = feed_view(session, lens, sort, cursor=cursor, window=window)
    path = _sort_path(sort)
    top_window = window if sort == "top" and window != "all" else None
    kept = _lens_params(request)
    return _render(
        request,
        settings,
        "feeds/front.html",
        _url("/api/posts", sort=sort, window=top_window, cursor=cursor, **kept),
        feed,
        lens=lens,
        feed=feed,
        sort=sort,
        tabs=[{"sort": s, "label": label, "url": _sort_path(s)} for s, label in TABS],
        cursor=cursor,
        first_url=path,
        next_url=_url(path, window=top_window, cursor=feed["next_cursor"], **kept) if feed["next_cursor"] else None,
    )


@router.get("/", response_class=HTMLResponse)
async def front_page(request: Request, state: State, lens: PageLens, cursor: Cursor = None) -> HTMLResponse:
    """The front page: hot posts."""
    return await _in_snapshot(
        state, lambda session, settings: _feed(request, session, settings, lens, "hot", "all", cursor)
    )


@router.get("/new", response_class=HTMLResponse)
@router.get("/top", response_class=HTMLResponse)
@router.get("/controversial", response_class=HTMLResponse)
async def sorted_page(
    request: Request, state: State, lens: PageLens, window: WindowQuery = "all", cursor: Cursor = None
) -> HTMLResponse:
    """Top-level posts sorted new, top or controversial (the path names the sort)."""
    sort = _PATH_SORTS.get(request.url.path, "controversial")
    return await _in_snapshot(
        state, lambda session, settings: _feed(request, session, settings, lens, sort, window, cursor)
    )


@router.get("/t/{topic}", response_class=HTMLResponse)
async def topic_page(
    request: Request,
    state: State,
    lens: PageLens,
    topic: TopicPath,
    sort: Annotated[Sort, Query()] = "hot",
    window: WindowQuery = "all",
    cursor: Cursor = None,
) -> HTMLResponse:
    """A topic's top-level posts, with the front page's tabs (``sort``)."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        feed = topic_view(session, lens, topic, sort, cursor=cursor, window=window)
        path = f"/t/{topic}"
        top_window = window if sort == "top" and window != "all" else None
        kept = _lens_params(request)
        return _render(
            request,
            settings,
            "feeds/front.html",
            _url("/api/posts", sort=sort, window=top_window, cursor=cursor, topic=topic, **kept),
            feed,
            lens=lens,
            feed=feed,
            sort=sort,
            topic=topic,
            tabs=[{"sort": s, "label": label, "url": _url(path, sort=None if s == "hot" else s)} for s, label in TABS],
            cursor=cursor,
            first_url=_url(path, sort=None if sort == "hot" else sort),
            next_url=_url(path, sort=sort, window=top_window, cursor=feed["next_cursor"], **kept)
            if feed["next_cursor"]
            else None,
        )

    return await _in_snapshot(state, build)


@router.get("/topics", response_class=HTMLResponse)
async def topics_page(request: Request, state: State) -> HTMLResponse:
    """Topics by activity."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        topics = build_topics(session)["topics"]
        return _render(request, settings, "topics/topics.html", "/api/topics", topics=topics, nav="topics")

    return await _in_snapshot(state, build)


@router.get("/posts/{post_id}", response_class=HTMLResponse)
async def post_page(
    request: Request,
    state: State,
    lens: PageLens,
    post_id: PostId,
    cursor: Cursor = None,
) -> HTMLResponse:
    """A post with its thread of replies (``cursor``: the next page of its direct replies)."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        per_parent = int(settings.thread_replies)  # INDELIBLE_THREAD_REPLIES
        thread = thread_view(session, lens, post_id, cursor=cursor, per_parent=per_parent)
        if thread is None:
            raise HTTPException(status_code=404, detail="Post not found")
        return _render(
            request,
            settings,
            "posts/thread.html",
            _url(f"/api/posts/{post_id}", cursor=cursor, **_lens_params(request)),
            thread,
            thread=thread,
            cursor=cursor,
            lens=lens,
            lens_query=_lens_query(request),
        )

    return await _in_snapshot(state, build)


@router.get("/authors/{address}", response_class=HTMLResponse)
async def author_page(
    request: Request,
    state: State,
    lens: PageLens,
    address: AddressPath,
    cursor: Cursor = None,
) -> HTMLResponse:
    """An author's totals, posts and replies (never folded by votes; muted ones fold)."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        canonical = checksum(address)
        author = author_view(session, lens, canonical, cursor=cursor)
        path = f"/authors/{canonical}"
        kept = _lens_params(request)
        return _render(
            request,
            settings,
            "authors/author.html",
            _url(f"/api/authors/{canonical}", cursor=cursor, **kept),
            author,
            lens=lens,
            author=author,
            cursor=cursor,
            first_url=path,
            next_url=_url(path, cursor=author["next_cursor"], **kept) if author["next_cursor"] else None,
        )

    return await _in_snapshot(state, build)


SEARCH_TABS: list[tuple[SearchSort, str]] = [("relevance", "Best match"), ("new", "New"), ("top", "Top")]


@router.get("/search", response_class=HTMLResponse)
async def search_page(
    request: Request,
    state: State,
    lens: PageLens,
    q: Annotated[str, Query(max_length=256)] = "",
    sort: Annotated[SearchSort, Query()] = "relevance",
    cursor: Cursor = None,
) -> HTMLResponse:
    """Search form and results: posts and replies holding every word and phrase of ``q``."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        if not q.strip():
            return _render(request, settings, "search/search.html", None, q="", results=None, nav="search")
        found = search_view(session, lens, q, sort, cursor=cursor, budget=settings.search_ms / 1000)
        kept = _lens_params(request)
        return _render(
            request,
            settings,
            "search/search.html",
            _url("/api/search", q=q, sort=sort, cursor=cursor, **kept),
            found,
            lens=lens,
            q=q,
            sort=sort,
            found=found,
            results=found["results"],
            tabs=[{"sort": s, "label": label, "url": _url("/search", q=q, sort=s)} for s, label in SEARCH_TABS],
            cursor=cursor,
            first_url=_url("/search", q=q, sort=sort),
            next_url=_url("/search", q=q, sort=sort, cursor=found["next_cursor"], **kept)
            if found["next_cursor"]
            else None,
            nav="search",
        )

    return await _in_snapshot(state, build)


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    state: State,
    lens: PageLens,
    address: Annotated[str, Query(max_length=42)] = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    """Replies to ``address``'s posts, newest first; without one, the page's script opens the reader's own."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        if not address:
            return _render(request, settings, "inbox/inbox.html", None, inbox=None, nav="inbox")
        if not re.fullmatch(ADDRESS_PATTERN, address):
            raise invalid("address", "expected 0x followed by 40 hex digits")
        canonical = checksum(address)
        inbox = inbox_view(session, lens, canonical, cursor=cursor)
        kept = _lens_params(request)
        return _render(
            request,
            settings,
            "inbox/inbox.html",
            _url(f"/api/authors/{canonical}/replies", cursor=cursor, **kept),
            inbox,
            lens=lens,
            inbox=inbox,
            cursor=cursor,
            first_url=_url("/inbox", address=canonical),
            next_url=_url("/inbox", address=canonical, cursor=inbox["next_cursor"], **kept)
            if inbox["next_cursor"]
            else None,
            nav="inbox",
        )

    return await _in_snapshot(state, build)


@router.get("/compose", response_class=HTMLResponse)
async def compose_page(
    request: Request,
    state: State,
    parent: Annotated[int, Query(ge=0)] = 0,
    topic: TopicQuery = None,
) -> HTMLResponse:
    """The form for a new post (or a reply to ``parent``), its topic field suggesting the active topics."""

    def build(session: Session, settings: Settings) -> HTMLResponse:
        suggestions = [row["topic"] for row in build_topics(session)["topics"]]
        return _render(
            request,
            settings,
            "compose/compose.html",
            "/api/contract",
            parent_id=parent or None,
            nav="compose",
            topic=topic or "",
            topic_suggestions=suggestions,
        )

    return await _in_snapshot(state, build)


@router.get("/key", response_class=HTMLResponse)
def key_page(request: Request, settings: AppSettings, chain_link: AppChainLink, limits: SharedLimits) -> HTMLResponse:
    """The browser key: show, export, import."""
    relay = relay_document(settings, chain_link, limits)
    return _render(request, settings, "key/key.html", "/api/contract", relay=relay, nav="key")


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, settings: AppSettings, lens: PageLens) -> HTMLResponse:
    """The reader's settings: lens, fold threshold, trusted voters, muted authors (kept in the browser)."""
    lenses = [{"name": name, "explain": EXPLAIN[name]} for name in LENS_NAMES]
    return _render(
        request,
        settings,
        "settings/settings.html",
        None,
        lenses=lenses,
        lens=lens,
        board_fold=int(settings.collapse_score),
        max_addresses=MAX_ADDRESSES,
        rpc_url=settings.browser_rpc_url,
        nav="settings",
    )


@router.get("/status", response_class=HTMLResponse)
def status_page(
    request: Request,
    settings: AppSettings,
    engine: IndexEngine,
    chain_link: AppChainLink,
    limits: SharedLimits,
    indexer: LocalIndexer,
) -> HTMLResponse:
    """Chain, contract, index progress and content counts."""
    status = status_document(settings, engine, chain_link, limits, indexer)
    return _render(request, settings, "status/status.html", "/api/status", status=status, nav="status")
