"""GET /api/votes/{address}?posts=1,2,3: a voter's current votes on some posts, as the index knows them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from backend.api.authors import AddressPath, checksum
from backend.api.posts import read_json
from backend.api.schemas import POST_ID_MAX, POST_IDS_PATTERN, ApiRoute, VotesOut, error_responses
from backend.db.queries import build_votes

router = APIRouter(prefix="/api", tags=["votes"], route_class=ApiRoute)

MAX_POSTS = 100

PostIds = Annotated[
    str,
    Query(
        pattern=POST_IDS_PATTERN,
        description=f"Comma-separated post ids, at most {MAX_POSTS} (repeats count), each 1 to {POST_ID_MAX}",
        examples=["1,2,3"],
    ),
]


def parse_post_ids(posts: str) -> list[int]:
    """The ids listed in ``posts`` (already digits and commas); 422 when too many or out of range."""
    items = posts.split(",")
    if len(items) > MAX_POSTS:
        raise HTTPException(status_code=422, detail=f"posts: at most {MAX_POSTS} post ids, got {len(items)}")
    ids = []
    for item in items:
        digits = item.lstrip("0")
        # more digits than POST_ID_MAX has is out of range: int() is never asked to read thousands of them
        if not digits or len(digits) > len(str(POST_ID_MAX)) or int(digits) > POST_ID_MAX:
            shown = item if len(item) <= 20 else item[:20] + "…"
            raise HTTPException(status_code=422, detail=f"posts: {shown} is not a post id (1 to {POST_ID_MAX})")
        ids.append(int(digits))
    return ids


@router.get("/votes/{address}", response_model=VotesOut, responses=error_responses())
async def get_votes(request: Request, address: AddressPath, posts: PostIds) -> Response:
    """The voter's standing vote (+1 or -1) on each listed post that has one; the others are left out."""
    voter = checksum(address)
    post_ids = parse_post_ids(posts)
    return await read_json(request, lambda session: build_votes(session, voter, post_ids))
