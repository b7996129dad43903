"""POST /api/content: validate a post's content document and pin it; answer its CID and digest.

The body is the document's exact bytes (``Content-Type: application/json``).
``?reply=true`` checks it as a reply's (no title), ``?reply=false`` as a
top-level post's (title required); without it the kind is inferred from the
presence of a title. The digest is what goes on chain; the CID is its IPFS name.

Each client (an IPv4 address or IPv6 /64) may upload ``INDELIBLE_UPLOAD_REQUESTS``
documents and ``INDELIBLE_UPLOAD_BYTES`` bytes an hour, counted in the shared
limits tables (``backend.limits``) so the limit holds across processes; over
it, 429 with ``Retry-After``. Parsing, the durable write (fsync) and the Kubo
call run in a worker thread, never on the event loop.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from backend.content.cid import digest_hex, sha256
from backend.content.document import MAX_BYTES, DocumentTooLarge, InvalidDocument, parse_document
from backend.http.deps import AppSettings, ClientAddress, Content, SharedLimits
from backend.http.errors import ApiRoute, error_responses
from backend.limits import Limits

router = APIRouter(prefix="/api", tags=["content"], route_class=ApiRoute)

UPLOAD_WINDOW = 3600.0  # seconds over which INDELIBLE_UPLOAD_REQUESTS and INDELIBLE_UPLOAD_BYTES refill


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BYTES:
        raise HTTPException(status_code=413, detail=f"content is {declared} bytes; the limit is {MAX_BYTES}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BYTES:
            raise HTTPException(status_code=413, detail=f"content is over the limit of {MAX_BYTES} bytes")
    return bytes(body)


_DOCUMENT_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": 300,
            "pattern": "\\S",
            "description": "required for a top-level post, absent for a reply",
        },
        "body": {"type": "string", "description": "Markdown"},
    },
    "required": ["body"],
    "additionalProperties": False,
}
_CONTENT_OUT = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"cid": {"type": "string"}, "digest": {"type": "string"}},
            "required": ["cid", "digest"],
        }
    }
}


@router.post(
    "/content",
    status_code=201,
    responses={
        200: {"description": "Already pinned", "content": _CONTENT_OUT},
        201: {"description": "Pinned", "content": _CONTENT_OUT},
        **error_responses(413, 415, 429),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _DOCUMENT_SCHEMA}}}},
)
async def post_content(
    request: Request,
    settings: AppSettings,
    content: Content,
    shared: SharedLimits,
    client: ClientAddress,
    reply: bool | None = Query(None, description="true: a reply (no title); false: a top-level post (title)"),
) -> Any:
    """Validate and pin a content document; 201 when new, 200 when already pinned."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status_code=415, detail="Content-Type must be application/json")
    await _charge(shared, f"upload:requests:{client}", 1, settings.upload_requests, "uploads")
    data = await _read_limited(request)
    await _charge(shared, f"upload:bytes:{client}", len(data), settings.upload_bytes, "bytes of uploads")

    def validate_and_pin() -> tuple[str, bool]:
        parse_document(data, reply=reply)
        return content.pin(data)  # fsync and Kubo: blocking I/O, here in a worker thread

    try:
        cid, created = await run_in_threadpool(validate_and_pin)
    except DocumentTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from exc
    except InvalidDocument as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return JSONResponse({"cid": cid, "digest": digest_hex(sha256(data))}, status_code=201 if created else 200)


async def _charge(shared: Limits, key: str, cost: int, limit: int, what: str) -> None:
    """Take ``cost`` from ``key``'s hourly bucket of ``limit``; 429 with Retry-After when it does not fit."""
    wait = await run_in_threadpool(shared.take, key, cost, limit, UPLOAD_WINDOW)
    if wait <= 0:
        return
    retry = max(1, math.ceil(wait)) if math.isfinite(wait) else int(UPLOAD_WINDOW)
    raise HTTPException(
        status_code=429,
        detail=f"too many {what} from your address: at most {limit} an hour; try again in {retry} s",
        headers={"Retry-After": str(retry)},
    )
