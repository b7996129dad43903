"""Path and query parameters shared by the JSON routes, the feeds and the pages, and the 422s they word.

Every 422 of ours is worded ``<field>: <what is wrong>``, as
``backend.http.errors.validation_message`` words pydantic's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from web3 import Web3

from backend.content.document import MAX_TOPIC_CHARS, TOPIC_PATTERN
from backend.db.queries import Window
from backend.http.errors import invalid
from backend.http.patterns import ADDRESS_PATTERN, POST_ID_MAX, POST_IDS_PATTERN
from backend.views.listings import MAX_LIMIT

MAX_POSTS = 100  # post ids in one /api/votes request

AddressPath = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="0x + 40 hex digits, any case")]
PostId = Annotated[int, Path(ge=1, le=POST_ID_MAX, description="On-chain post id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Posts per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
WindowQuery = Annotated[Window, Query(description="Time window of the top listing")]
TopicPath = Annotated[
    str, Path(max_length=MAX_TOPIC_CHARS, pattern=TOPIC_PATTERN, description="A topic: a lowercase slug")
]
TopicQuery = Annotated[
    str | None,
    Query(max_length=MAX_TOPIC_CHARS, pattern=TOPIC_PATTERN, description="Only posts of this topic (a lowercase slug)"),
]
PostIds = Annotated[
    str,
    Query(
        pattern=POST_IDS_PATTERN,
        description=f"Comma-separated post ids, at most {MAX_POSTS} (repeats count), each 1 to {POST_ID_MAX}",
        examples=["1,2,3"],
    ),
]


def checksum(address: str) -> str:
    """The EIP-55 spelling of ``address``; 422 when mixed case fails its checksum."""
    body = address[2:]
    if body != body.lower() and body != body.upper() and not Web3.is_checksum_address(address):
        raise invalid("address", "mixed-case address fails its EIP-55 checksum")
    return str(Web3.to_checksum_address(address.lower()))


def parse_post_ids(posts: str) -> list[int]:
    """The ids listed in ``posts`` (already digits and commas); 422 when too many or out of range."""
    items = posts.split(",")
    if len(items) > MAX_POSTS:
        raise invalid("posts", f"at most {MAX_POSTS} post ids, got {len(items)}")
    ids = []
    for item in items:
        digits = item.lstrip("0")
        # more digits than POST_ID_MAX has is out of range: int() is never asked to read thousands of them
        if not digits or len(digits) > len(str(POST_ID_MAX)) or int(digits) > POST_ID_MAX:
            shown = item if len(item) <= 20 else item[:20] + "…"
            raise invalid("posts", f"{shown} is not a post id (1 to {POST_ID_MAX})")
        ids.append(int(digits))
    return ids
