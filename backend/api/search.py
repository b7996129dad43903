"""GET /api/search: posts and replies whose title or body holds every word and phrase of a query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy.orm import Session

from backend.api.schemas import SearchOut
from backend.db.fulltext import BadQuery, SearchSort, parse_query
from backend.http.deps import ApiLens, AppSettings, IndexEngine
from backend.http.errors import ApiRoute, error_responses
from backend.http.params import Cursor, Limit
from backend.http.responses import read_json
from backend.views.answers import search_view
from backend.views.listings import DEFAULT_LIMIT

router = APIRouter(prefix="/api", tags=["search"], route_class=ApiRoute)

MAX_QUERY = 256
SearchQuery = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY,
        description='Words (all required) and "quoted phrases"; any other character only separates words',
        examples=['chain "censorship resistant"'],
    ),
]
SearchSortQuery = Annotated[SearchSort, Query(description="relevance (best match first), new or top (by score)")]


def checked_query(q: str) -> str:
    """``q`` when it has something to search for; 422 with the reason otherwise."""
    try:
        parse_query(q)
    except BadQuery as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return q


@router.get("/search", response_model=SearchOut, responses=error_responses())
async def search_posts(
    engine: IndexEngine,
    settings: AppSettings,
    lens: ApiLens,
    q: SearchQuery,
    sort: SearchSortQuery = "relevance",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Posts and replies matching ``q``; folded posts are found too, marked ``collapsed``."""
    checked_query(q)

    def build(session: Session) -> dict[str, Any]:
        return search_view(session, lens, q, sort, limit, cursor, budget=settings.search_ms / 1000)

    return await read_json(engine, build)
