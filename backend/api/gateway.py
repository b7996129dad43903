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

``GET /api/content/car?cid=...&cid=...`` answers many CIDs at once, as a CARv1 (``application/vnd.ipld.car``,
the format of the trustless gateway spec): the header's roots are the CIDs asked, in order, and a block follows
for each one pinned here (verified against its CID first). One not pinned here is left out, not looked up in Kubo:
a client asks ``/ipfs/{cid}`` for those. The node-free reader asks a node this way for a view's files, one request
instead of one a file (reader/src/content.js), and checks every block's sha256 against the digest on chain itself.
"""

from __future__ import annotations

import time
from typing import Annotated

import cbor2
from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from backend.content.cid import CID_PREFIX, InvalidCid, cid_to_digest
from backend.content.service import Busy
from backend.http.deps import app_state
from backend.http.errors import ApiRoute, error_responses

router = APIRouter(tags=["gateway"], route_class=ApiRoute)

RAW = "application/vnd.ipld.raw"
IMMUTABLE = "public, max-age=29030400, immutable"
RETRY = {"Retry-After": "1"}
CAR = "application/vnd.ipld.car"
CAR_MAX_CIDS = 100  # a view's files: a thread page's replies arrive in spans of fewer
# The files a process reads for CARs: CAR_FILES a second on average and at once, counted by CIDs asked. A CAR over
# that is answered 503 at once (Retry-After: 1), before any file is read; a reader told so asks that request's files
# one by one (reader/src/content.js). The files are read on the event loop, as /ipfs/ reads a pinned file: in worker
# threads, under a flood, each read waited for the GIL behind the busy loop (CPython's convoy) and the threads'
# stalls reached other requests (bench/attack.py's "car" kind, docs/benchmarks.md). 2,000 small files a second cost
# the loop a few percent; a reader's cold thread asks about 100.
CAR_FILES = 2_000.0
_car_budget = [CAR_FILES, time.monotonic()]  # files left, when counted (the event loop's alone: no lock)


def _take_car_files(cost: int) -> bool:
    """True when ``cost`` files fit this second's CAR budget (they are taken); False to refuse the CAR."""
    now = time.monotonic()
    left = min(CAR_FILES, _car_budget[0] + (now - _car_budget[1]) * CAR_FILES)
    fits = left >= cost
    _car_budget[0], _car_budget[1] = (left - cost if fits else left), now
    return fits


# every CIDv1 raw sha2-256 in base32, and nothing else: 01 55 12 20 give "afkrei" and two zero bits, the digest's
# 256 bits the rest, the last letter carrying three of them and two zero bits (documented; checked by cid_to_digest)
CID_PATTERN = "^bafkrei[a-h][a-z2-7]{50}[aeimquy4]$"


def _varint(n: int) -> bytes:
    """An unsigned LEB128 varint, as CAR and multiformats write lengths."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def car(cids: list[str], found: dict[str, bytes]) -> bytes:
    """A CARv1 of ``found``'s blocks in the order of ``cids``, whose header names every CID in ``cids`` as a root.

    The header is DAG-CBOR ({"roots": [CID...], "version": 1}, keys in canonical order, each CID tag 42 over its
    bytes after a 0x00 multibase prefix); each block is varint(length) + the CID's bytes + the data.
    """
    binary = [CID_PREFIX + cid_to_digest(cid) for cid in cids]
    header = cbor2.dumps({"roots": [cbor2.CBORTag(42, b"\0" + one) for one in binary], "version": 1}, canonical=True)
    parts = [_varint(len(header)), header]
    for cid, one in zip(cids, binary, strict=True):
        data = found.get(cid)
        if data is not None:
            parts += [_varint(len(one) + len(data)), one, data]
    return b"".join(parts)


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


@router.get(
    "/api/content/car",
    response_class=Response,
    responses={200: {"content": {CAR: {}}}, **error_responses(400, 503)},
)
async def get_car(
    request: Request,
    cid: Annotated[
        list[str],
        Query(
            description=f"1 to {CAR_MAX_CIDS} CIDv1 base32 (bafkrei...), each a post's content; repeat it",
            min_length=1,
            max_length=CAR_MAX_CIDS,
            json_schema_extra={"items": {"type": "string", "pattern": CID_PATTERN}},
        ),
    ],
) -> Response:
    """The pinned ones of up to 100 CIDs in one CARv1: a block for each CID pinned here, verified first.

    More than 100 (counted before duplicates are dropped) or none is a 422, a CID we cannot hold a 400.

    A CID not pinned here has no block (the header still names it); it is not looked up in Kubo. Each block's
    bytes are the file whose sha256 the CID names; a client checks them against its own digests.
    """
    asked = list(dict.fromkeys(cid))  # each once, in the order asked
    for one in asked:
        try:
            cid_to_digest(one)
        except InvalidCid as exc:
            raise HTTPException(status_code=400, detail=f"invalid CID {one[:80]!r}: {exc}") from exc
    store = app_state(request).content.store
    if not _take_car_files(len(asked)):
        raise HTTPException(status_code=503, detail="busy: too many CARs asked; try again shortly", headers=RETRY)
    found = {one: data for one in asked if (data := store.get(one)) is not None}  # on the loop (see CAR_FILES)
    headers = {"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff", "Vary": "Accept"}
    return Response(car(asked, found), media_type=CAR, headers=headers)
