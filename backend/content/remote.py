"""Fetch a raw block from trustless gateways (IPFS gateways or other Indelible nodes)."""

from __future__ import annotations

import httpx

from backend.content.cid import matches

RAW = "application/vnd.ipld.raw"
# Larger than any valid document, so oversized content can still be verified and marked invalid.
MAX_FETCH_BYTES = 1024 * 1024


class FetchError(RuntimeError):
    """No gateway gave bytes that hash to the CID."""


def fetch_block(client: httpx.Client, base_url: str, cid: str) -> bytes:
    """``GET {base}/ipfs/{cid}?format=raw``, verified against ``cid``; FetchError otherwise."""
    url = f"{base_url.rstrip('/')}/ipfs/{cid}"
    try:
        with client.stream("GET", url, params={"format": "raw"}, headers={"Accept": RAW}) as response:
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_FETCH_BYTES:
                    raise FetchError(f"{url}: more than {MAX_FETCH_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {exc}") from exc
    if not matches(cid, bytes(data)):
        raise FetchError(f"{url}: bytes do not hash to {cid}")
    return bytes(data)


def fetch_from_gateways(client: httpx.Client, gateways: list[str], cid: str) -> bytes:
    """The first verified answer among ``gateways``, in order."""
    errors = []
    for base in gateways:
        try:
            return fetch_block(client, base, cid)
        except FetchError as exc:
            errors.append(str(exc))
    raise FetchError("; ".join(errors) or "no gateways configured (INDELIBLE_IPFS_GATEWAYS)")
