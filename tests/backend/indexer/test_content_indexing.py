"""Content of indexed posts: pinned, missing, invalid; fetched from another node; never unverified."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from backend.app import create_app
from backend.content.cid import cid_of, sha256
from backend.content.document import MAX_BYTES, encode_document
from backend.content.pins import PinStore
from backend.db.models import ContentQueue, Post
from backend.devchain import free_port
from backend.indexer.content_sync import backoff
from backend.indexer.runner import Indexer
from tests.support.index import make_settings
from tests.support.servers import serving
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}


def _post_row(engine, post_id: int):
    with engine.connect() as conn:
        return conn.execute(select(Post).where(Post.id == post_id)).one()


OVERSIZE = json.dumps({"title": "big", "body": "x" * MAX_BYTES}).encode()


@pytest.mark.parametrize(
    ("document", "is_reply"),
    [
        (b'{"body": "no title"}', False),  # top-level post without title
        (b'{"title": "T", "body": "reply with a title"}', True),
        (OVERSIZE, False),
        (b'\xff{"title": "bad utf-8", "body": ""}', False),
        (b'{"title": "broken json", ', False),
        (b'{"title": "T", "body": "b", "extra": true}', False),
    ],
    ids=["top-level-without-title", "reply-with-title", "oversize", "invalid-utf8", "invalid-json", "extra-key"],
)
def test_content_that_does_not_fit_its_post_is_invalid(board, settings, document, is_reply):
    PinStore(settings.content_dir).put(document)  # pinned behind the API's back: it would refuse these
    parent = board.post(sha256(encode_document("parent", ""))) if is_reply else 0
    post_id = board.post(sha256(document), parent)
    indexer = Indexer(settings)
    indexer.run(once=True)
    row = _post_row(indexer.engine, post_id)
    assert (row.content_status, row.title, row.body) == ("invalid", None, None)


def test_content_uploaded_after_the_post_gets_pinned(client, board, settings):
    document = encode_document("Late upload", "body")
    post_id = board.post(sha256(document))
    engine = client.app.state.indelible.engine
    wait_for(lambda: _post_row_or_none(engine, post_id))
    assert _post_row(engine, post_id).content_status == "missing"
    assert client.post("/api/content", content=document, headers=JSON).status_code == 201
    wait_for(lambda: _post_row(engine, post_id).content_status == "pinned", timeout=3)
    row = _post_row(engine, post_id)
    assert (row.title, row.body) == ("Late upload", "body")
    with engine.connect() as conn:
        assert conn.execute(select(ContentQueue).where(ContentQueue.cid == cid_of(document))).first() is None


def _post_row_or_none(engine, post_id: int):
    with engine.connect() as conn:
        return conn.execute(select(Post).where(Post.id == post_id)).first()


def _status(engine, post_id: int) -> str | None:
    row = _post_row_or_none(engine, post_id)
    return row.content_status if row else None


@pytest.fixture
def second_node(ganache, tmp_path_factory, board, data_dir) -> Iterator[tuple[str, object]]:
    """Another Indelible node (uvicorn on a free port) with its own data dir and SQLite index."""
    own_dir = tmp_path_factory.mktemp("second") / "data"
    own_dir.mkdir()
    (own_dir / "deployments.json").write_text((data_dir / "deployments.json").read_text())
    settings = make_settings(own_dir, ganache.url, f"sqlite:///{own_dir / 'index.sqlite3'}")
    port = free_port()
    with serving(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")):
        yield f"http://127.0.0.1:{port}", settings


def test_missing_content_is_fetched_from_another_node(second_node, board, data_dir, ganache, database_url):
    base_url, _ = second_node
    document = encode_document("Served elsewhere", "fetched over the gateway")
    assert httpx.post(f"{base_url}/api/content", content=document, headers=JSON).status_code == 201
    post_id = board.post(sha256(document))
    settings = make_settings(data_dir, ganache.url, database_url, ipfs_gateways=[base_url])
    indexer = Indexer(settings)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: _status(indexer.engine, post_id) == "pinned", timeout=10)
    finally:
        stop.set()
        thread.join(10)
        indexer.close()
    row = _post_row(indexer.engine, post_id)
    assert (row.title, row.body) == ("Served elsewhere", "fetched over the gateway")
    assert PinStore(settings.content_dir).get(cid_of(document)) == document


class _LyingGateway(BaseHTTPRequestHandler):
    """An adversarial gateway: answers every CID with bytes that do not hash to it."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"title": "forged", "body": "not what the chain points at"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.ipld.raw")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_bytes_from_a_lying_gateway_are_never_shown(board, data_dir, ganache, database_url):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _LyingGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        document = encode_document("Genuine", "the real content")
        post_id = board.post(sha256(document))
        gateway = f"http://127.0.0.1:{server.server_port}"
        settings = make_settings(data_dir, ganache.url, database_url, ipfs_gateways=[gateway])
        indexer = Indexer(settings)
        indexer.run(once=True)
        wait_for(lambda: indexer.content.poll() or _attempts(indexer.engine, cid_of(document)) >= 1, timeout=5)
        with indexer.engine.connect() as conn:
            queued = conn.execute(select(ContentQueue).where(ContentQueue.cid == cid_of(document))).one()
        row = _post_row(indexer.engine, post_id)
        indexer.close()
    finally:
        server.shutdown()
        server.server_close()
    assert (row.content_status, row.title, row.body) == ("missing", None, None)
    assert "bytes do not hash to" in queued.last_error
    assert not PinStore(settings.content_dir).has(cid_of(document))


def _attempts(engine, cid: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(ContentQueue.attempts).where(ContentQueue.cid == cid)).scalar() or 0


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(50) == 300.0
