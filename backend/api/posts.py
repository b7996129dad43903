"""GET /api/posts (listings) and GET /api/posts/{id} (a post and its thread)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from backend.api.schemas import FeedOut, ThreadOut, TopicsOut
from backend.db.queries import Sort, Window
from backend.http.deps import ApiLens, IndexEngine, ThreadReplies
from backend.http.errors import ApiRoute, error_responses
from backend.http.params import Cursor, Limit, PostId, TopicQuery
from backend.http.responses import read_json
from backend.views.answers import feed_view, thread_view
from backend.views.lens import LENS_PARAMS
from backend.views.listings import DEFAULT_DEPTH, DEFAULT_LIMIT, MAX_DEPTH, build_topics

router = APIRouter(prefix="/api", tags=["posts"], route_class=ApiRoute)


@router.get("/posts", response_model=FeedOut, responses=error_responses())
async def list_posts(
    engine: IndexEngine,
    lens: ApiLens,
    sort: Annotated[Sort, Query(description="hot, new, top or controversial (see docs/ranking.md)")] = "hot",
    window: Annotated[Window, Query(description="Time window of sort=top")] = "all",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    topic: TopicQuery = None,
) -> Response:
    """Top-level posts (of one topic, when given), ranked by ``sort`` under the reader's lens; folded ones sink."""

    def build(session: Session) -> dict[str, Any]:
        return feed_view(session, lens, sort, limit, cursor, window=window, topic=topic)

    return await read_json(engine, build)


@router.get("/topics", response_model=TopicsOut, responses=error_responses())
async def list_topics(engine: IndexEngine) -> Response:
    """Topics by activity (the 100 with the most recent posts); a topic is a tag: no owner, no moderators."""
    return await read_json(engine, build_topics)


@router.get("/posts/{post_id}", response_model=ThreadOut, responses=error_responses(404))
async def get_post(
    request: Request,
    engine: IndexEngine,
    lens: ApiLens,
    per_parent: ThreadReplies,
    post_id: PostId,
    depth: Annotated[int, Query(ge=0, le=MAX_DEPTH, description="Levels of replies to include")] = DEFAULT_DEPTH,
    cursor: Annotated[
        str | None, Query(max_length=512, description="more_replies.cursor of this post: its next direct replies")
    ] = None,
) -> Response:
    """A post (top-level or reply) with its replies nested best first, ``depth`` levels deep, paged per post."""
    asked = {name: value for name in LENS_PARAMS if (value := request.query_params.get(name)) is not None}

    def build(session: Session) -> dict[str, Any] | None:  # next pages keep the reader's lens as asked
        return thread_view(session, lens, post_id, depth, cursor=cursor, per_parent=per_parent, carry=asked)

    return await read_json(engine, build)
