"""POST /api/content is rate-limited per client in the database (across processes) and never blocks the event loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn
from fastapi.testclient import TestClient

from backend.app import create_app
from backend.content.cid import cid_of
from backend.content.document import encode_document
from backend.devchain import Ganache, free_port
from tests.support.index import make_settings
from tests.support.servers import serving

JSON = {"Content-Type": "application/json"}


def _upload(client: TestClient, n: int, size: int = 10) -> httpx.Response:
    return client.post("/api/content", content=encode_document(f"Upload {n}", "x" * size), headers=JSON)


def test_uploads_past_the_hourly_count_are_429_with_retry_after(
    make_client: Callable[..., TestClient], data_dir: Path, ganache: Ganache, database_url: str
):
    client = make_client(make_settings(data_dir, ganache.url, database_url, upload_requests=3), run_indexer=False)
    assert [_upload(client, n).status_code for n in range(3)] == [201, 201, 201]
    refused = _upload(client, 3)
    assert refused.status_code == 429
    retry = int(refused.headers["retry-after"])
    assert 1 <= retry <= 1200  # one upload's share of the hour
    assert refused.json() == {
        "detail": f"too many uploads from your address: at most 3 an hour; try again in {retry} s"
    }
    assert client.get(f"/ipfs/{cid_of(encode_document('Upload 3', 'x' * 10))}").status_code == 404  # not pinned


def test_uploads_past_the_hourly_bytes_are_429(
    make_client: Callable[..., TestClient], data_dir: Path, ganache: Ganache, database_url: str
):
    settings = make_settings(data_dir, ganache.url, database_url, upload_bytes=1000)
    client = make_client(settings, run_indexer=False)
    assert _upload(client, 0, size=600).status_code == 201
    refused = _upload(client, 1, size=600)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("too many bytes of uploads from your address: at most 1000 an hour")
    assert int(refused.headers["retry-after"]) >= 1


def test_the_limit_holds_across_processes_sharing_the_database(
    make_client: Callable[..., TestClient], data_dir: Path, ganache: Ganache, database_url: str
):
    settings = make_settings(data_dir, ganache.url, database_url, upload_requests=4)
    first, second = make_client(settings, run_indexer=False), make_client(settings, run_indexer=False)
    assert [_upload(client, n).status_code for n, client in enumerate([first, second, first, second])] == [201] * 4
    assert _upload(first, 4).status_code == 429
    assert _upload(second, 5).status_code == 429


class _SlowKubo(ThreadingHTTPServer):
    """Kubo's add, answering after 3 s (a busy Kubo)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SlowAdd)


class _SlowAdd(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(3)
        data = body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]  # the one multipart file
        answer = json.dumps({"Hash": cid_of(data)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


def test_an_upload_waiting_on_kubo_does_not_stall_other_requests(data_dir: Path, ganache: Ganache, database_url: str):
    kubo = _SlowKubo()
    threading.Thread(target=kubo.serve_forever, daemon=True).start()
    try:
        settings = make_settings(
            data_dir, ganache.url, database_url, ipfs_api_url=f"http://127.0.0.1:{kubo.server_port}"
        )
        port = free_port()
        app = create_app(settings, run_indexer=False)
        with serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")):
            base = f"http://127.0.0.1:{port}"
            result: dict[str, int] = {}

            def upload() -> None:
                response = httpx.post(f"{base}/api/content", content=encode_document("Slow", "kubo"), headers=JSON)
                result["status"] = response.status_code

            thread = threading.Thread(target=upload)
            began = time.monotonic()
            thread.start()
            time.sleep(0.5)  # the upload is now waiting on Kubo
            assert httpx.get(f"{base}/api/posts?limit=1", timeout=10).status_code == 200
            answered = time.monotonic() - began
            thread.join(timeout=20)
        assert answered < 2.0  # not behind the upload's 3 s
        assert result["status"] == 201
    finally:
        kubo.shutdown()
        kubo.server_close()
