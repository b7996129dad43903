"""GET /ipfs/{cid}: a trustless IPFS gateway for the content this node has pinned.

Plain requests get the document (``application/json``); ``?format=raw`` or
``Accept: application/vnd.ipld.raw`` get the raw block as the trustless
gateway spec says. Bytes are verified against the CID before they are served.
A CID not pinned here is asked of Kubo (when configured) offline, at most
``backend.content.service.KUBO_SLOTS`` at once (503 past that) and once a
minute per unknown CID.

The route is a coroutine and names no dependency: a file in the pin store is read and checked on the event loop
(a small file: at most a post's cap), so a reader fetching a thread's hundred files costs no thread-pool hop
each; only a miss goes to a worker thread (the Kubo look-up blocks).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.content.cid import InvalidCid, cid_to_digest
from backend.content.service import Busy
from backend.http.deps import app_state
from backend.http.errors import ApiRoute, error_responses

router = APIRouter(tags=["gateway"], route_class=ApiRoute)

RAW = "application/vnd.ipld.raw"
IMMUTABLE = "public, max-age=29030400, immutable"
RETRY = {"Retry-After": "1"}


def _wants_raw(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        if format_ != "raw":
            raise HTTPException(status_code=400, detail=f"unsupported format {format_!r}: only 'raw' is served")
        return True
    return RAW in request.headers.get("accept", "")


@router.get(
    "/ipfs/{cid}",
    response_class=Response,
    responses={200: {"content": {RAW: {}, "application/json": {}}}, **error_responses(400, 404, 503)},
)
async def get_ipfs(
    request: Request,
    cid: str = Path(description="CIDv1, base32 (bafkrei... for a post's content); anything else is a 400"),
    format_: str | None = Query(None, alias="format"),
) -> Response:
    """The verified bytes of ``cid``: JSON by default, a raw block for trustless clients."""
    try:
        cid_to_digest(cid)
    except InvalidCid as exc:
        raise HTTPException(status_code=400, detail=f"invalid CID: {exc}") from exc
    raw = _wants_raw(request, format_)
    content = app_state(request).content
    try:
        data = content.store.get(cid)  # pinned here: read and checked at once
        if data is None:
            data = await run_in_threadpool(content.gateway_bytes, cid)
    except Busy as exc:  # every Kubo slot taken: say so at once rather than queue behind slow look-ups
        raise HTTPException(
            status_code=503, detail="busy: too many IPFS look-ups in flight; try again shortly", headers=RETRY
        ) from exc
    if data is None:
        raise HTTPException(status_code=404, detail="content not found")
    headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff", "X-Ipfs-Path": f"/ipfs/{cid}"}
    if not raw:
        return Response(data, media_type="application/json", headers={**headers, "ETag": f'"{cid}"'})
    headers |= {"ETag": f'"{cid}.raw"', "Content-Disposition": f'attachment; filename="{cid}.bin"', "Vary": "Accept"}
    return Response(data, media_type=RAW, headers=headers)
