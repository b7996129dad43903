"""A client for a Kubo (go-ipfs) node's RPC API: add+pin our blocks, read blocks we lack.

Three calls: ``POST /api/v0/add?cid-version=1&raw-leaves=true&pin=true``
(multipart file), ``POST /api/v0/block/get?arg=<cid>`` and, for pins the
garbage collector deletes here, ``POST /api/v0/pin/rm?arg=<cid>``. Every answer is
checked against the CID we expect, read within a total deadline and a size cap.
``block_get(..., offline=True)`` asks Kubo for what it holds itself (Kubo's
global ``offline`` option): the gateway route uses it, so a flood of random
CIDs never sends Kubo searching the IPFS network for each.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from backend.content.cid import cid_of, matches
from backend.content.remote import MAX_FETCH_BYTES, FetchError, read_bounded


class KuboError(RuntimeError):
    """Kubo failed or answered something we cannot trust."""


class KuboClient:
    """Kubo RPC at ``api_url`` (e.g. ``http://127.0.0.1:5001``); ``timeout`` is each call's total deadline."""

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, params: dict[str, str], max_bytes: int, **kwargs: Any) -> bytes:
        url = f"{self.api_url}{path}"
        deadline = time.monotonic() + self.timeout
        try:
            with httpx.stream(
                "POST", url, params=params, timeout=self.timeout, follow_redirects=False, **kwargs
            ) as response:
                response.raise_for_status()
                return read_bounded(response, url, deadline, max_bytes)
        except (httpx.HTTPError, FetchError) as exc:
            raise KuboError(f"Kubo {path.rsplit('/', 1)[-1]} failed: {exc}") from exc

    def add(self, data: bytes) -> str:
        """Add and pin ``data`` as one raw block; returns the CID Kubo reports (ours, or KuboError)."""
        params = {"cid-version": "1", "raw-leaves": "true", "pin": "true", "chunker": "size-262144"}
        answer = self._post("/api/v0/add", params, 64 * 1024, files={"file": ("content.json", data)})
        try:
            reported = str(json.loads(answer)["Hash"])
        except (ValueError, KeyError, TypeError) as exc:
            raise KuboError(f"Kubo add failed: unreadable answer ({exc})") from exc
        expected = cid_of(data)
        if reported != expected:
            raise KuboError(f"Kubo stored the content as {reported}, expected {expected}")
        return reported

    def unpin(self, cid: str) -> None:
        """Unpin ``cid`` (Kubo's own GC may then drop the block); KuboError on failure."""
        self._post("/api/v0/pin/rm", {"arg": cid}, 64 * 1024)

    def block_get(self, cid: str, *, offline: bool = False) -> bytes:
        """The raw block ``cid``, verified; KuboError when absent, too large, too slow or wrong."""
        params = {"arg": cid, **({"offline": "true"} if offline else {})}
        data = self._post("/api/v0/block/get", params, MAX_FETCH_BYTES)
        if not matches(cid, data):
            raise KuboError(f"Kubo returned bytes that do not hash to {cid}")
        return data
