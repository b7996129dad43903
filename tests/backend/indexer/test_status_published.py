"""/api/status serves what the indexer published: no node call and no table count per request."""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event

from backend.app import create_app
from backend.config import Settings
from backend.db import stats
from backend.db.session import make_engine
from backend.devchain import Ganache
from backend.indexer.publish import IndexerHealth, StatusPublisher
from backend.indexer.rpc import Rpc
from backend.indexer.runner import Indexer
from backend.views import service_info
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


def _index_once(settings: Settings, unpublished: bool = False) -> None:
    """What the chain holds now, indexed by a separate indexer; ``unpublished``: its status snapshot removed after,
    as if no indexer had published (a serving process then counts for itself)."""
    indexer = Indexer(settings)
    try:
        indexer.run(once=True)
    finally:
        indexer.close()
    if unpublished:
        engine = make_engine(settings.database_url)
        with engine.begin() as conn:
            conn.execute(stats.STATUS.delete())
        engine.dispose()


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


def test_a_slow_count_is_not_repeated_sooner_than_its_duty_allows_even_as_new_blocks_come(
    settings: Settings, board: BoardHandle, ganache: Ganache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10M posts a full count is seconds of database work: recounting on every new block would hold a core."""
    board.post(digest_of(b"one"))
    _index_once(settings)
    engine = make_engine(settings.database_url)
    counted: list[float] = []
    real = stats.index_counts

    def slow_count(conn: Connection) -> dict[str, Any]:  # the real count, made as slow as a large index's
        counted.append(time.monotonic())
        time.sleep(0.2)
        return real(conn)

    monkeypatch.setattr(stats, "index_counts", slow_count)
    monkeypatch.setattr(stats, "COUNT_DUTY", 0.25)  # a 0.2 s count is then repeated after 0.8 s at the soonest
    monkeypatch.setattr(stats, "SLOW_COUNT_SECONDS", 0.1)
    publisher = StatusPublisher(engine, Rpc(ganache.url), ganache.url)
    try:
        for block in range(1, 6):  # a caught-up step with new blocks each time: before, a recount each
            publisher.maybe_publish(IndexerHealth(caught_up=True, indexed_block=block), None)
        assert len(counted) == 1
        time.sleep(max(0.0, counted[0] + 1.2 - time.monotonic()))  # the gap: (0.2 s + the real count) / 0.25
        publisher.maybe_publish(IndexerHealth(caught_up=True, indexed_block=6), None)
        assert len(counted) == 2
        _, snapshot = stats.read_status(engine)
        assert snapshot is not None and snapshot["counts"]["posts"] == 1
    finally:
        engine.dispose()


def test_without_an_indexer_counts_due_again_are_taken_in_the_background_and_requests_answer_at_once(
    settings: Settings, board: BoardHandle, ganache: Ganache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving process with no indexer's snapshot counts for itself; only its first count is a request's time."""
    board.post(digest_of(b"one"))
    _index_once(settings, unpublished=True)
    armed, entered, release = threading.Event(), threading.Event(), threading.Event()
    real = stats.index_counts
    counts: list[str] = []

    def blocking_count(conn: Connection) -> dict[str, Any]:  # once armed, the next count waits until released
        counts.append(threading.current_thread().name)
        if armed.is_set() and not entered.is_set():
            entered.set()
            release.wait(10)
        return real(conn)

    monkeypatch.setattr(stats, "index_counts", blocking_count)
    monkeypatch.setattr(service_info, "LOCAL_COUNT_SECONDS", 0.0)
    with TestClient(create_app(settings, run_indexer=False)) as client:
        assert client.get("/api/status").json()["index"]["posts"] == 1
        board.post(digest_of(b"two"))
        _index_once(settings, unpublished=True)
        time.sleep(0.3)  # past the last count's gap (LOCAL_COUNT_SECONDS is 0 here; a fast count's gap is ms)
        armed.set()
        try:
            began = time.monotonic()
            due = client.get("/api/status").json()  # finds the counts due: starts a count, does not wait for it
            assert entered.wait(10)
            meanwhile = client.get("/api/status").json()
            waited = time.monotonic() - began
        finally:
            release.set()
        assert waited < 1.0 and due["index"]["posts"] == meanwhile["index"]["posts"] == 1  # the last counts
        deadline = time.monotonic() + 10
        while client.get("/api/status").json()["index"]["posts"] != 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the background count's result, once it is in
        assert client.get("/api/status").json()["index"]["posts"] == 2
    # every count of the serving process on its own thread, none on a request's (MainThread: the test's indexer)
    assert "status-counts" in counts and set(counts) <= {"status-counts", "MainThread"}


def test_a_first_count_slower_than_its_wait_answers_not_counted_yet_then_the_counts(
    settings: Settings, board: BoardHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 10M posts the first count of a serving process without an indexer took 20 s: no request waits for it."""
    board.post(digest_of(b"one"))
    _index_once(settings, unpublished=True)
    real = stats.index_counts

    def slow_count(conn: Connection) -> dict[str, Any]:
        time.sleep(1.5)
        return real(conn)

    monkeypatch.setattr(stats, "index_counts", slow_count)
    monkeypatch.setattr(service_info, "FIRST_COUNT_WAIT", 0.2)
    with TestClient(create_app(settings, run_indexer=False)) as client:
        began = time.monotonic()
        first = client.get("/api/status")
        waited = time.monotonic() - began
        again = client.get("/api/status").json()
        assert first.status_code == 200 and waited < 1.2
        assert first.json()["index"]["posts"] is None and first.json()["index"]["counted_at"] is None
        assert again["index"]["posts"] is None  # the count is still running: not started twice, not waited for
        page = client.get("/status")
        assert page.status_code == 200 and "Posts and replies" in page.text  # a 500 before: lag unknown
        deadline = time.monotonic() + 10
        while client.get("/api/status").json()["index"]["posts"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        body = client.get("/api/status").json()
        assert body["index"]["posts"] == 1 and body["index"]["counted_at"] is not None
