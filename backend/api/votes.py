"""GET /api/votes/{address}?posts=1,2,3: a voter's current votes on some posts, as the index knows them."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.api.schemas import VotesOut
from backend.http.deps import IndexEngine
from backend.http.errors import ApiRoute, error_responses
from backend.http.params import AddressPath, PostIds, checksum, parse_post_ids
from backend.http.responses import read_json
from backend.views.listings import build_votes

router = APIRouter(prefix="/api", tags=["votes"], route_class=ApiRoute)


@router.get("/votes/{address}", response_model=VotesOut, responses=error_responses())
async def get_votes(engine: IndexEngine, address: AddressPath, posts: PostIds) -> Response:
    """The voter's standing vote (+1 or -1) on each listed post that has one; the others are left out."""
    voter = checksum(address)
    post_ids = parse_post_ids(posts)
    return await read_json(engine, lambda session: build_votes(session, voter, post_ids))
