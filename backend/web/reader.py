"""The node-free reader (dist/indelible-reader.html, built by `make reader`) served by every node.

``GET /reader`` and ``GET /ipfs/<its CID>`` answer the same bytes, so any node that survives also hosts the
reader, at an address anyone can check: the CID is the sha256 of the file. The file is read once, when the app
is built; a node without a built reader answers 404 saying how to build it. Its own Content-Security-Policy
(the ``<meta>`` the build wrote: its three scripts and its style by their sha256, connections to any http(s)
URL the reader names) is sent as the header too, replacing the site's, which allows no inline script.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response

from backend.config import PROJECT_ROOT
from backend.content.cid import cid_of

READER_PATH = PROJECT_ROOT / "dist" / "indelible-reader.html"
_META_CSP = re.compile(rb'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')
RAW = "application/vnd.ipld.raw"


@dataclass(frozen=True)
class ReaderFile:
    """The built reader: its bytes, CID and policy."""

    data: bytes
    cid: str
    policy: str


def load_reader(path: Path = READER_PATH) -> ReaderFile | None:
    """The reader file at ``path``, or None when it is not built (or holds no policy)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    found = _META_CSP.search(data)
    if found is None:
        return None
    policy = html.unescape(found.group(1).decode())
    return ReaderFile(data=data, cid=cid_of(data), policy=policy + "; frame-ancestors 'none'")


def _response(reader: ReaderFile, raw: bool) -> Response:
    headers = {
        "Content-Security-Policy": reader.policy,
        "X-Ipfs-Path": f"/ipfs/{reader.cid}",
        "ETag": f'"{reader.cid}"',
        "Cache-Control": "public, max-age=300",
    }
    if raw:
        headers["Content-Disposition"] = f'attachment; filename="{reader.cid}.bin"'
        return Response(reader.data, media_type=RAW, headers=headers)
    return Response(reader.data, media_type="text/html; charset=utf-8", headers=headers)


def install(app: FastAPI, path: Path = READER_PATH) -> ReaderFile | None:
    """Add /reader and /ipfs/<the reader's CID> to ``app`` (before the gateway's /ipfs/{cid}); the file found."""
    reader = load_reader(path)
    router = APIRouter(include_in_schema=False)

    @router.get("/reader")
    def get_reader() -> Response:
        """The reader, as this node built it."""
        if reader is None:
            raise HTTPException(status_code=404, detail="this node has no reader built: run `make reader`")
        return _response(reader, raw=False)

    if reader is not None:

        @router.get(f"/ipfs/{reader.cid}")
        def get_reader_by_cid(request: Request, format: str | None = None) -> Response:
            """The reader by its CID, as a trustless gateway serves it (a raw block on request)."""
            raw = format == "raw" or RAW in request.headers.get("accept", "")
            if format not in (None, "raw"):
                raise HTTPException(status_code=400, detail=f"unsupported format {format!r}: only 'raw' is served")
            return _response(reader, raw=raw)

    app.include_router(router)
    return reader
