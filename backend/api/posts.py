"""GET /api/posts (listings) and GET /api/posts/{id} (a post and its thread)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backend.api.schemas import POST_ID_MAX, ApiRoute, FeedOut, ThreadOut, error_responses
from backend.db.queries import (
    DEFAULT_DEPTH,
    DEFAULT_LIMIT,
    MAX_DEPTH,
    MAX_LIMIT,
    BadCursor,
    Sort,
    Window,
    build_feed,
    build_thread,
)

router = APIRouter(prefix="/api", tags=["posts"], route_class=ApiRoute)

PostId = Annotated[int, Path(ge=1, le=POST_ID_MAX, description="On-chain post id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Posts per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session on the index for one request."""
    engine = request.app.state.indelible.engine
    with Session(engine) as session:
        yield session


def collapse_score(request: Request) -> int:
    """The score at or below which a post is collapsed (INDELIBLE_COLLAPSE_SCORE)."""
    return int(request.app.state.indelible.settings.collapse_score)


def thread_replies(request: Request) -> int:
    """Direct replies of one post shown at once (INDELIBLE_THREAD_REPLIES)."""
    return int(request.app.state.indelible.settings.thread_replies)


DbSession = Annotated[Session, Depends(read_session)]


async def read_json(request: Request, build: Callable[[Session], Any], *, missing: str = "Post not found") -> Response:
    """``build(session)`` on a read session, as a JSON response; one worker-thread hop for all of it.

    The read routes declare their response models for /openapi.json but return these bytes, so
    FastAPI neither re-validates nor re-encodes what ``backend.db.queries`` built (the schema fuzz
    in tests/backend/test_api_fuzz.py checks every answer against the models instead). A 404 saying
    ``missing`` when ``build`` gives None; ``Server-Timing`` says how long query and encoding took.
    """
    engine = request.app.state.indelible.engine

    def work() -> tuple[bytes | None, float]:
        began = time.perf_counter()
        with Session(engine) as session:
            document = build(session)
        return (None if document is None else orjson.dumps(document)), time.perf_counter() - began

    try:
        body, seconds = await run_in_threadpool(work)
    except BadCursor as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    if body is None:
        raise HTTPException(status_code=404, detail=missing)
    return Response(body, media_type="application/json", headers={"Server-Timing": f"app;dur={seconds * 1000:.3f}"})


@router.get("/posts", response_model=FeedOut, responses=error_responses())
async def list_posts(
    request: Request,
    sort: Annotated[Sort, Query(description="hot, new, top or controversial (see docs/ranking.md)")] = "hot",
    window: Annotated[Window, Query(description="Time window of sort=top")] = "all",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Top-level posts, ranked by ``sort``; collapsed posts sink but stay listed."""
    threshold = collapse_score(request)
    return await read_json(
        request, lambda session: build_feed(session, sort, limit, cursor, window=window, collapse_score=threshold)
    )


@router.get("/posts/{post_id}", response_model=ThreadOut, responses=error_responses(404))
async def get_post(
    request: Request,
    post_id: PostId,
    depth: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Levels of replies to include")] = DEFAULT_DEPTH,
    cursor: Annotated[
        str | None, Query(max_length=512, description="more_replies.cursor of this post: its next direct replies")
    ] = None,
) -> Response:
    """A post (top-level or reply) with its replies nested best first, ``depth`` levels deep, paged per post."""
    threshold, per_parent = collapse_score(request), thread_replies(request)
    return await read_json(
        request,
        lambda session: build_thread(
            session, post_id, depth, collapse_score=threshold, cursor=cursor, per_parent=per_parent
        ),
    )
