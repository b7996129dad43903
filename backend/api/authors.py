"""GET /api/authors/{address}: an author's posts and replies, and what they received."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response
from web3 import Web3

from backend.api.posts import Cursor, Limit, read_json
from backend.api.schemas import ADDRESS_PATTERN, ApiRoute, AuthorOut, error_responses
from backend.db.queries import DEFAULT_LIMIT, build_author

router = APIRouter(prefix="/api", tags=["authors"], route_class=ApiRoute)

AddressPath = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="0x + 40 hex digits, any case")]


def checksum(address: str) -> str:
    """The EIP-55 spelling of ``address``; 422 when mixed case fails its checksum."""
    body = address[2:]
    if body != body.lower() and body != body.upper() and not Web3.is_checksum_address(address):
        raise HTTPException(status_code=422, detail="address: mixed-case address fails its EIP-55 checksum")
    return str(Web3.to_checksum_address(address.lower()))


@router.get("/authors/{address}", response_model=AuthorOut, responses=error_responses())
async def get_author(
    request: Request, address: AddressPath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Response:
    """An author's totals and their posts and replies, newest first (never collapsed here)."""
    author = checksum(address)
    return await read_json(request, lambda session: build_author(session, author, limit, cursor))
