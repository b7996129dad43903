"""GET /api/authors/{address}: an author's posts and replies, and what they received."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy.orm import Session

from backend.api.schemas import AuthorOut, RepliesOut
from backend.http.deps import ApiLens, IndexEngine
from backend.http.errors import ApiRoute, error_responses
from backend.http.params import AddressPath, Cursor, Limit, checksum
from backend.http.responses import read_json
from backend.views.answers import author_view, inbox_view
from backend.views.listings import DEFAULT_LIMIT

router = APIRouter(prefix="/api", tags=["authors"], route_class=ApiRoute)


@router.get("/authors/{address}", response_model=AuthorOut, responses=error_responses())
async def get_author(
    engine: IndexEngine, lens: ApiLens, address: AddressPath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """An author's totals and their posts and replies, newest first (never folded by votes here; muted ones fold)."""
    author = checksum(address)

    def build(session: Session) -> dict[str, Any]:
        return author_view(session, lens, author, limit, cursor)

    return await read_json(engine, build)


@router.get("/authors/{address}/replies", response_model=RepliesOut, responses=error_responses())
async def get_replies_to_author(
    engine: IndexEngine,
    lens: ApiLens,
    address: AddressPath,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Replies others made to the author's posts and replies, newest first: their inbox (folded ones marked)."""
    author = checksum(address)

    def build(session: Session) -> dict[str, Any]:
        return inbox_view(session, lens, author, limit, cursor)

    return await read_json(engine, build)
