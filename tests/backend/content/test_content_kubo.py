"""The Kubo RPC client and the content service's use of it, against a FAKE of Kubo's RPC API.

The fake below imitates only Kubo's ``/api/v0/add`` and ``/api/v0/block/get``
HTTP endpoints (no Kubo can be installed here); it is not a fake of the chain.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from backend.content.cid import cid_of
from backend.content.kubo import KuboClient, KuboError
from backend.content.pins import PinStore
from backend.content.service import ContentService
from backend.devchain import free_port
from tests.support.index import make_settings


class FakeKuboRpc(ThreadingHTTPServer):
    """Imitates Kubo's RPC: add (raw leaves, CIDv1) and block/get; records calls."""

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _KuboHandler)
        self.blocks: dict[str, bytes] = {}
        self.calls: list[tuple[str, dict[str, list[str]]]] = []
        self.lie = False  # answer block/get with wrong bytes


class _KuboHandler(BaseHTTPRequestHandler):
    server: FakeKuboRpc

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.server.calls.append((url.path, query))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if url.path == "/api/v0/add":
            message = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
            )
            data = next(part.get_payload(decode=True) for part in message.iter_parts())
            cid = cid_of(data)
            self.server.blocks[cid] = data
            self._send(200, f'{{"Name":"content.json","Hash":"{cid}","Size":"{len(data)}"}}'.encode())
        elif url.path == "/api/v0/block/get":
            cid = query["arg"][0]
            if cid not in self.server.blocks:
                self._send(500, b'{"Message":"block was not found locally (offline)","Code":0,"Type":"error"}')
            else:
                data = b"lies" if self.server.lie else self.server.blocks[cid]
                self._send(200, data, "text/plain")
        else:
            self._send(404, b"404 page not found")


@pytest.fixture
def fake_kubo() -> Iterator[FakeKuboRpc]:
    server = FakeKuboRpc(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_add_sends_cidv1_raw_leaves_and_pin(fake_kubo):
    client = KuboClient(f"http://127.0.0.1:{fake_kubo.server_port}")
    assert client.add(b"hello kubo") == cid_of(b"hello kubo")
    path, query = fake_kubo.calls[0]
    assert path == "/api/v0/add"
    assert query["cid-version"] == ["1"] and query["raw-leaves"] == ["true"] and query["pin"] == ["true"]


def test_block_get_returns_verified_bytes(fake_kubo):
    fake_kubo.blocks[cid_of(b"stored")] = b"stored"
    client = KuboClient(f"http://127.0.0.1:{fake_kubo.server_port}")
    assert client.block_get(cid_of(b"stored")) == b"stored"


def test_block_get_refuses_bytes_that_do_not_match(fake_kubo):
    fake_kubo.blocks[cid_of(b"stored")] = b"stored"
    fake_kubo.lie = True
    client = KuboClient(f"http://127.0.0.1:{fake_kubo.server_port}")
    with pytest.raises(KuboError, match="do not hash to"):
        client.block_get(cid_of(b"stored"))


def test_service_pins_locally_and_in_kubo(fake_kubo, tmp_path):
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(f"http://127.0.0.1:{fake_kubo.server_port}"))
    cid, created = service.pin(b"both places")
    assert created and fake_kubo.blocks[cid] == b"both places"
    assert PinStore(tmp_path).get(cid) == b"both places"


def test_service_reads_from_kubo_when_missing_locally_and_pins_it(fake_kubo, tmp_path):
    fake_kubo.blocks[cid_of(b"only in kubo")] = b"only in kubo"
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(f"http://127.0.0.1:{fake_kubo.server_port}"))
    assert service.local(cid_of(b"only in kubo")) == b"only in kubo"
    assert PinStore(tmp_path).get(cid_of(b"only in kubo")) == b"only in kubo"


def test_service_survives_kubo_being_down(tmp_path):
    service = ContentService(PinStore(tmp_path), kubo=KuboClient(f"http://127.0.0.1:{free_port()}", timeout=1))
    cid, created = service.pin(b"local only")
    assert created and service.local(cid) == b"local only"
    assert service.local(cid_of(b"absent")) is None


def test_gateway_serves_content_from_kubo(fake_kubo, make_client, data_dir, ganache, database_url, board):
    document = b'{"title":"k","body":""}'
    fake_kubo.blocks[cid_of(document)] = document
    settings = make_settings(
        data_dir, ganache.url, database_url, ipfs_api_url=f"http://127.0.0.1:{fake_kubo.server_port}"
    )
    api = make_client(settings, run_indexer=False)
    response = api.get(f"/ipfs/{cid_of(document)}?format=raw")
    assert response.status_code == 200
    assert response.content == document
