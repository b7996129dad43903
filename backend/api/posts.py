"""GET /api/posts (listings) and GET /api/posts/{id} (a post and its thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy.orm import Session

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


DbSession = Annotated[Session, Depends(read_session)]


@router.get("/posts", response_model=FeedOut, responses=error_responses())
def list_posts(
    request: Request,
    session: DbSession,
    sort: Annotated[Sort, Query(description="hot, new, top or controversial (see docs/ranking.md)")] = "hot",
    window: Annotated[Window, Query(description="Time window of sort=top")] = "all",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Top-level posts, ranked by ``sort``; collapsed posts sink but stay listed."""
    try:
        return build_feed(session, sort, limit, cursor, window=window, collapse_score=collapse_score(request))
    except BadCursor as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/posts/{post_id}", response_model=ThreadOut, responses=error_responses(404))
def get_post(
    request: Request,
    session: DbSession,
    post_id: PostId,
    depth: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Levels of replies to include")] = DEFAULT_DEPTH,
) -> dict[str, Any]:
    """A post (top-level or reply) with its replies nested best first, ``depth`` levels deep."""
    thread = build_thread(session, post_id, depth, collapse_score=collapse_score(request))
    if thread is None:
        raise HTTPException(status_code=404, detail="Post not found")
    return thread
