"""A client for a Kubo (go-ipfs) node's RPC API: add+pin our blocks, read blocks we lack.

Only two calls: ``POST /api/v0/add?cid-version=1&raw-leaves=true&pin=true``
(multipart file) and ``POST /api/v0/block/get?arg=<cid>``. Every answer is
checked against the CID we expect.
"""

from __future__ import annotations

import httpx

from backend.content.cid import cid_of, matches
from backend.content.document import MAX_BYTES


class KuboError(RuntimeError):
    """Kubo failed or answered something we cannot trust."""


class KuboClient:
    """Kubo RPC at ``api_url`` (e.g. ``http://127.0.0.1:5001``)."""

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout

    def add(self, data: bytes) -> str:
        """Add and pin ``data`` as one raw block; returns the CID Kubo reports (ours, or KuboError)."""
        params = {"cid-version": "1", "raw-leaves": "true", "pin": "true", "chunker": "size-262144"}
        try:
            files = {"file": ("content.json", data)}
            response = httpx.post(f"{self.api_url}/api/v0/add", params=params, files=files, timeout=self.timeout)
            response.raise_for_status()
            reported = str(response.json()["Hash"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise KuboError(f"Kubo add failed: {exc}") from exc
        expected = cid_of(data)
        if reported != expected:
            raise KuboError(f"Kubo stored the content as {reported}, expected {expected}")
        return reported

    def block_get(self, cid: str) -> bytes:
        """The raw block ``cid``, verified; KuboError when absent, too large or wrong."""
        try:
            response = httpx.post(f"{self.api_url}/api/v0/block/get", params={"arg": cid}, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise KuboError(f"Kubo block/get {cid} failed: {exc}") from exc
        data = response.content
        if len(data) > 16 * MAX_BYTES or not matches(cid, data):
            raise KuboError(f"Kubo returned bytes that do not hash to {cid}")
        return data
