"""Fetch a raw block from trustless gateways (IPFS gateways or other Indelible nodes), bounded in time and size.

Every fetch has a total deadline (not a per-read timeout: a gateway dripping a
byte a second would otherwise hold a worker for as long as it likes), reads at
most ``MAX_FETCH_BYTES``, and is verified against its CID before anyone stores
it. Redirects are never followed: a trustless gateway answers ``/ipfs/{cid}``
itself, and a redirect chosen by a stranger's server could point this node at
its own loopback or private network (SSRF). Configure path gateways that answer
directly (``https://ipfs.io``, ``https://trustless-gateway.link``, other Indelible nodes).
"""

from __future__ import annotations

import time

import httpx

from backend.content.cid import matches

RAW = "application/vnd.ipld.raw"
# Larger than any valid document, so oversized content can still be verified and marked invalid.
MAX_FETCH_BYTES = 1024 * 1024
FETCH_SECONDS = 10.0  # one gateway's whole answer, connect to last byte
TOTAL_SECONDS = 20.0  # one CID across every configured gateway


class FetchError(RuntimeError):
    """No gateway gave bytes that hash to the CID."""


def read_bounded(response: httpx.Response, url: str, deadline: float, max_bytes: int = MAX_FETCH_BYTES) -> bytes:
    """The body of a streamed ``response``, refused past ``deadline`` (monotonic) or ``max_bytes``."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_bytes:
            raise FetchError(f"{url}: more than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchError(f"{url}: not answered within its deadline")
    return bytes(data)


def fetch_block(client: httpx.Client, base_url: str, cid: str, deadline: float | None = None) -> bytes:
    """``GET {base}/ipfs/{cid}?format=raw``, verified against ``cid``, by ``deadline``; FetchError otherwise."""
    url = f"{base_url.rstrip('/')}/ipfs/{cid}"
    deadline = min(deadline or time.monotonic() + FETCH_SECONDS, time.monotonic() + FETCH_SECONDS)
    remaining = max(deadline - time.monotonic(), 0.001)
    try:
        with client.stream(
            "GET",
            url,
            params={"format": "raw"},
            headers={"Accept": RAW},
            timeout=httpx.Timeout(remaining),  # no single wait longer than what is left
            follow_redirects=False,
        ) as response:
            if response.is_redirect:
                raise FetchError(f"{url}: HTTP {response.status_code} redirect not followed (gateways answer directly)")
            if response.status_code != 200:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            data = read_bounded(response, url, deadline)
    except httpx.TimeoutException as exc:
        raise FetchError(f"{url}: not answered within its deadline") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {exc}") from exc
    if not matches(cid, data):
        raise FetchError(f"{url}: bytes do not hash to {cid}")
    return data


def fetch_from_gateways(client: httpx.Client, gateways: list[str], cid: str) -> bytes:
    """The first verified answer among ``gateways``, in order, all within TOTAL_SECONDS."""
    deadline = time.monotonic() + TOTAL_SECONDS
    errors = []
    for base in gateways:
        if time.monotonic() >= deadline:
            errors.append(f"{base}: not tried (the fetch's {TOTAL_SECONDS:.0f} s were spent)")
            continue
        try:
            return fetch_block(client, base, cid, deadline)
        except FetchError as exc:
            errors.append(str(exc))
    raise FetchError("; ".join(errors) or "no gateways configured (INDELIBLE_IPFS_GATEWAYS)")
