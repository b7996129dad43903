"""POST /api/content: validate a post's content document and pin it; answer its CID and digest.

The body is the document's exact bytes (``Content-Type: application/json``).
``?reply=true`` checks it as a reply's (no title), ``?reply=false`` as a
top-level post's (title required); without it the kind is inferred from the
presence of a title. The digest is what goes on chain; the CID is its IPFS name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from backend.api.schemas import ApiRoute, error_responses
from backend.content.cid import digest_hex, sha256
from backend.content.document import MAX_BYTES, DocumentTooLarge, InvalidDocument, parse_document

router = APIRouter(prefix="/api", tags=["content"], route_class=ApiRoute)


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
        **error_responses(413, 415),
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _DOCUMENT_SCHEMA}}}},
)
async def post_content(
    request: Request,
    reply: bool | None = Query(None, description="true: a reply (no title); false: a top-level post (title)"),
) -> Any:
    """Validate and pin a content document; 201 when new, 200 when already pinned."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status_code=415, detail="Content-Type must be application/json")
    data = await _read_limited(request)
    try:
        parse_document(data, reply=reply)
    except DocumentTooLarge as exc:
        raise HTTPException(status_code=413, detail=str(exc)) from exc
    except InvalidDocument as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    cid, created = request.app.state.indelible.content.pin(data)
    return JSONResponse({"cid": cid, "digest": digest_hex(sha256(data))}, status_code=201 if created else 200)
