"""Gateway and Kubo fetches are bounded: total deadline, no redirects, verified bytes, few look-ups at once.

The servers here are real HTTP servers on 127.0.0.1 that misbehave on purpose:
one drips a byte a second, one never answers, one redirects to loopback and
private addresses, one answers garbage; a Kubo stand-in that is slow or lacks
everything (only Kubo's two RPC endpoints, as in test_content_kubo.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.content.cid import cid_of
from backend.content.document import encode_document
from backend.content.kubo import KuboClient, KuboError
from backend.content.pins import PinStore
from backend.content.remote import FetchError, fetch_block, fetch_from_gateways
from backend.content.service import KUBO_SLOTS, Busy, ContentService
from tests.support.index import make_settings

DOCUMENT = encode_document("Bounded", "fetches")
CID = cid_of(DOCUMENT)

Behaviour = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def _any(self) -> None:
        self.server.requests.append(self.path)
        length = int(self.headers.get("Content-Length", 0))
        if length:
            self.rfile.read(length)
        try:
            self.server.behaviour(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = _any


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], _Server]]:
    """Factory: a real HTTP server on 127.0.0.1 doing ``behaviour`` for each request."""
    servers: list[_Server] = []

    def start(behaviour: Behaviour) -> _Server:
        server = _Server(behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    return behaviour


def _drip(handler: BaseHTTPRequestHandler) -> None:
    """The right bytes, one a second."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(DOCUMENT)))
    handler.end_headers()
    for byte in DOCUMENT:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(1)


def _silent(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(30)


@pytest.mark.parametrize("behaviour", [_drip, _silent], ids=["drips a byte a second", "never answers"])
def test_slow_gateway_is_cut_at_the_total_deadline(serve, behaviour: Behaviour):
    server = serve(behaviour)
    began = time.monotonic()
    with httpx.Client() as client, pytest.raises(FetchError, match="within its deadline"):
        fetch_block(client, server.url, CID, deadline=time.monotonic() + 2)
    assert time.monotonic() - began < 4


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:{port}/ipfs/{cid}", "http://10.0.0.1/ipfs/{cid}", "http://169.254.169.254/latest"]
)
def test_redirects_are_never_followed(serve, target: str):
    inside = serve(_answer(200, DOCUMENT))  # what a redirect to loopback would reach
    location = target.format(port=inside.server_address[1], cid=CID)
    server = serve(_answer(302, b"", {"Location": location}))
    with httpx.Client() as client, pytest.raises(FetchError, match="302 redirect not followed"):
        fetch_block(client, server.url, CID)
    assert inside.requests == []


def test_redirect_is_not_followed_by_the_indexers_client_either(serve):
    inside = serve(_answer(200, DOCUMENT))
    server = serve(_answer(301, b"", {"Location": f"{inside.url}/ipfs/{CID}?format=raw"}))
    with httpx.Client(follow_redirects=True) as client, pytest.raises(FetchError, match="redirect not followed"):
        fetch_from_gateways(client, [server.url], CID)
    assert inside.requests == []


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"garbage", "do not hash to"), (b"x" * (1024 * 1024 + 10), "more than 1048576 bytes")],
    ids=["wrong bytes", "oversized"],
)
def test_garbage_from_a_gateway_is_refused(serve, body: bytes, message: str):
    server = serve(_answer(200, body))
    with httpx.Client() as client, pytest.raises(FetchError, match=message):
        fetch_block(client, server.url, CID)


def test_a_good_gateway_after_a_bad_one_still_answers(serve):
    bad, good = serve(_answer(200, b"garbage")), serve(_answer(200, DOCUMENT))
    with httpx.Client() as client:
        assert fetch_from_gateways(client, [bad.url, good.url], CID) == DOCUMENT


# --- Kubo -----------------------------------------------------------------------------------------------------


def _kubo_lacks_everything(handler: BaseHTTPRequestHandler) -> None:
    _answer(500, b'{"Message":"block was not found locally (offline)","Code":0,"Type":"error"}')(handler)


def test_kubo_block_get_is_cut_at_its_deadline(serve):
    server = serve(_drip)
    began = time.monotonic()
    with pytest.raises(KuboError, match="within its deadline"):
        KuboClient(server.url, timeout=2).block_get(CID)
    assert time.monotonic() - began < 4


def test_a_cid_kubo_lacks_is_asked_for_once_and_offline(serve, tmp_path: Path):
    kubo = serve(_kubo_lacks_everything)
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(kubo.url))
    assert service.local(CID) is None
    assert service.local(CID) is None
    assert len(kubo.requests) == 1
    query = parse_qs(urlparse(kubo.requests[0]).query)
    assert query == {"arg": [CID], "offline": ["true"]}


def test_pinning_a_cid_forgets_that_kubo_lacked_it(serve, tmp_path: Path):
    kubo = serve(_kubo_lacks_everything)
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(kubo.url, timeout=1))
    assert service.local(CID) is None
    service.store.put(DOCUMENT)
    assert service.local(CID) == DOCUMENT


def test_lookups_past_the_kubo_slots_are_told_busy_at_once(serve, tmp_path: Path):
    release = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> None:
        release.wait(20)
        _kubo_lacks_everything(handler)

    kubo = serve(slow)
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(kubo.url, timeout=20))
    cids = [cid_of(f"doc {i}".encode()) for i in range(KUBO_SLOTS)]
    threads = [threading.Thread(target=service.local, args=(cid,)) for cid in cids]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 10
        while len(kubo.requests) < KUBO_SLOTS and time.monotonic() < deadline:
            time.sleep(0.02)
        began = time.monotonic()
        with pytest.raises(Busy):
            service.local(CID)
        assert time.monotonic() - began < 0.5
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert service.local(CID) is None  # slots free again: asked, and absent


def test_gateway_answers_503_with_retry_after_when_busy(
    serve, make_client, data_dir: Path, ganache, database_url: str
) -> None:
    kubo = serve(_kubo_lacks_everything)
    settings = make_settings(data_dir, ganache.url, database_url, ipfs_api_url=kubo.url)
    client: TestClient = make_client(settings, run_indexer=False)
    service = client.app.state.indelible.content
    for _ in range(KUBO_SLOTS):
        assert service._slots.acquire(blocking=False)
    try:
        response = client.get(f"/ipfs/{CID}")
    finally:
        for _ in range(KUBO_SLOTS):
            service._slots.release()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json() == {"detail": "busy: too many IPFS look-ups in flight; try again shortly"}
    assert client.get(f"/ipfs/{CID}").status_code == 404
    assert len(kubo.requests) == 1  # the 503 never reached Kubo
