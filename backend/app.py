"""The FastAPI application: JSON API under /api, the IPFS gateway, pages at /, static files.

By default the indexer runs in a background thread started in the lifespan; the
routes only read the index it writes. With ``INDELIBLE_INDEXER=off`` it does not,
so that several API processes can serve one database beside a single
``python -m backend index`` (docs/running.md, "Serving from several processes").
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend import __version__, chain
from backend.api import authors, content, contract, gateway, posts, relay, search, status, votes
from backend.chain_link import ChainLink, ChainLinkUnavailable
from backend.config import Settings
from backend.content.service import ContentService
from backend.db.session import ensure_schema, make_engine
from backend.http.deps import AppState
from backend.http.errors import validation_message
from backend.indexer.runner import Indexer
from backend.limits import Limits
from backend.web import apidocs, feeds, pages, reader
from backend.web.body_limit import BodyLimit
from backend.web.cors import CrossOrigin
from backend.web.security import SecurityHeaders

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None, *, run_indexer: bool | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment by default); ``run_indexer`` overrides its switch."""
    settings = settings or Settings()
    run_indexer = settings.indexer if run_indexer is None else run_indexer
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    content_service = ContentService.from_settings(settings)
    shared_limits = Limits(engine)
    chain_link = ChainLink(settings, chain.connect(settings), content_service, shared_limits)
    state = AppState(
        settings=settings, engine=engine, content=content_service, limits=shared_limits, chain_link=chain_link
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chain_link.refresh()
        if chain_link.deployment_error:
            log.warning("%s", chain_link.deployment_error)
        stop = threading.Event()
        threads = [threading.Thread(target=chain_link.watch, args=(stop,), name="node-watch", daemon=True)]
        indexer = None
        if run_indexer:
            indexer = state.indexer = Indexer(settings, engine=engine, content=content_service)
            threads.append(threading.Thread(target=indexer.run, args=(stop,), name="indexer", daemon=True))
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if indexer is not None:
                indexer.close()
            engine.dispose()

    app = FastAPI(
        title="Indelible",
        version=__version__,
        description="A censorship-resistant discussion board: the index of an on-chain forum.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages pull their scripts from a CDN: backend.web.apidocs serves vendored copies
        redoc_url=None,
    )
    app.state.indelible = state
    app.include_router(status.router)
    app.include_router(posts.router)
    app.include_router(authors.router)
    app.include_router(search.router)
    app.include_router(votes.router)
    app.include_router(contract.router)
    app.include_router(relay.router)
    app.include_router(feeds.router)
    app.include_router(content.router)
    reader.install(app)  # /reader and /ipfs/<the reader's CID>, before the gateway's /ipfs/{cid}
    app.include_router(gateway.router)
    app.include_router(apidocs.router)
    app.include_router(pages.router)
    app.add_middleware(BodyLimit)  # inside SecurityHeaders: its 413s get the headers too
    app.add_middleware(SecurityHeaders, rpc_url=settings.browser_rpc_url)
    app.add_middleware(CrossOrigin)  # outermost: preflights answered before the body cap and the routes
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(ChainLinkUnavailable, _chain_link_unavailable)
    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


_MACHINE_PREFIXES = ("/api/", "/ipfs/", "/feeds/", "/static/", "/openapi.json", "/docs", "/redoc")


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors on page URLs come back as an HTML page; the API keeps its JSON ``{"detail": ...}``."""
    if request.url.path.startswith(_MACHINE_PREFIXES) or "text/html" not in request.headers.get("accept", ""):
        if isinstance(exc, RequestValidationError):
            return await request_validation_exception_handler(request, exc)
        assert isinstance(exc, StarletteHTTPException)  # the only other kind this handler is registered for
        return await http_exception_handler(request, exc)
    if isinstance(exc, RequestValidationError):
        return pages.error_page(request, 422, validation_message(exc.errors()))
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" else "No page here"
    return pages.error_page(request, exc.status_code, str(detail))


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The index database is down, locked past its timeout or missing a table: 503, not a bare 500.

    The driver's message stays in the log: it may name the database host and user.
    """
    log.warning("index database unavailable on %s: %s", request.url.path, exc)
    detail = "index database unavailable: try again shortly (the operator's log says why)"
    return await _http_error(request, StarletteHTTPException(status_code=503, detail=detail))


async def _chain_link_unavailable(request: Request, exc: Exception) -> Response:
    """No Board deployment or no relayer known yet (``ChainLink``): 503 saying why, the one place it is mapped."""
    assert isinstance(exc, ChainLinkUnavailable)
    return await _http_error(request, StarletteHTTPException(status_code=503, detail=exc.detail))


def serving_app() -> FastAPI:
    """The app as a serving process builds it: settings from the environment, startup heap frozen (uvicorn factory)."""
    app = create_app()
    freeze_startup_heap()
    return app


def freeze_startup_heap() -> None:
    """Move every object alive now out of the garbage collector's generations, for a serving process.

    What startup built (modules, web3 and the ABI, SQLAlchemy's tables, FastAPI's routes and models)
    lives as long as the process: left in the generations, each full collection rescans all of it, and
    a large thread's allocations set one off every hundred requests or so (docs/benchmarks.md, "API").
    Garbage is collected first, so only live objects are frozen; they are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
