"""/api/status serves what the indexer published: no node call and no table count per request."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from backend.app import create_app
from backend.config import Settings
from backend.devchain import Ganache
from backend.indexer.runner import Indexer
from tests.support.board import BoardHandle
from tests.support.index import digest_of, make_settings


class _CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards JSON-RPC POSTs to the real node and counts them."""

    def __init__(self, target: str) -> None:
        self.target, self.calls = target, 0
        super().__init__(("127.0.0.1", 0), _Forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: _CountingProxy = self.server  # type: ignore[assignment]
        server.calls += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = urllib.request.Request(server.target, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = answer.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy(ganache: Ganache) -> Iterator[_CountingProxy]:
    server = _CountingProxy(ganache.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_status_requests_make_no_node_call_and_count_no_table(
    settings: Settings, board: BoardHandle, proxy: _CountingProxy
) -> None:
    board.post(digest_of(b"one"))
    board.post(digest_of(b"two"))
    indexer = Indexer(settings)  # a separate indexer (another process, as with INDELIBLE_INDEXER=off)
    try:
        indexer.run(once=True)
    finally:
        indexer.close()
    app_settings = make_settings(settings.data_dir, proxy.url, settings.database_url)
    with TestClient(create_app(app_settings, run_indexer=False)) as client:
        statements: list[str] = []
        engine = client.app.state.indelible.engine
        client.get("/api/status")  # reads the relayer's balance, then cached for BALANCE_CACHE (5 s) for all requests
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        before = proxy.calls
        bodies = [client.get("/api/status").json() for _ in range(20)]
        event.remove(engine, "before_cursor_execute", listener)
    assert proxy.calls == before
    assert not [s for s in statements if "count(" in s.lower()]
    body = bodies[-1]
    assert (body["index"]["posts"], body["index"]["current"], body["index"]["lag"]) == (2, True, 0)
    assert body["head_block"] == board.w3.eth.block_number and body["chain_id"] == board.deployment.chain_id
    assert body["index"]["indexer"] is None  # this process runs none; the counts are the other one's
    # the rule and the provider's pushback are the other one's too: throttling shows whoever indexes
    assert (body["index"]["finality"], body["index"]["behind"]) == ("head minus 0 confirmations", 0)
    assert body["index"]["provider"]["throttled"] is False and body["index"]["provider"]["batch_size"] == 50
    assert body["index"]["published_at"] >= body["index"]["counted_at"] > 0
