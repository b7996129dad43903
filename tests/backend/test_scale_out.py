"""Scaled out for real: `python -m backend index` and `serve --workers 4` (INDELIBLE_INDEXER=off) on one database.

Real processes on free ports, a real chain: a post relayed through one API
worker is indexed by the separate indexer and read back alike from every
worker. Which worker holds a connection is read from the operating system
(psutil: the worker process owning the server end of the socket), so the
requests are known to spread over all four.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.logs import DISCARD

from backend.config import PROJECT_ROOT
from backend.content.cid import digest_hex, sha256
from backend.content.document import encode_document
from backend.db.session import make_engine
from backend.devchain import Ganache, free_port
from backend.limits import Limits, client_key
from tests.backend.relay.test_relay import signed_post
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, module_index
from tests.support.wait import wait_for

WORKERS = 4
# small, so that a few requests empty the relay's per-client bucket; the window (burst / rate) is 300 s: no refill
RELAY_BURST, RELAY_RATE = 8, 1.0
RELAY_WINDOW = RELAY_BURST * 60.0 / RELAY_RATE
CAROL = Account.from_key(keccak(text="indelible scale-out carol"))
RELAYER = Account.from_key(keccak(text="indelible scale-out relayer"))


def _env(data_dir: Path, rpc_url: str, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The processes' environment: this test's chain, data dir and database, nothing from outside."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_")},
        "INDELIBLE_DATA_DIR": str(data_dir),
        "INDELIBLE_RPC_URL": rpc_url,
        "INDELIBLE_DATABASE_URL": database_url,
        "INDELIBLE_HOST": "127.0.0.1",
        "INDELIBLE_PORT": str(port),
        "INDELIBLE_START_CHAIN": "never",
        **extra,
    }


@dataclass
class Cluster:
    """The indexer process, the serve process and its workers, and one open connection to each worker."""

    port: int
    board: BoardHandle
    indexer: subprocess.Popen[bytes]
    server: subprocess.Popen[bytes]
    log_dir: Path
    database_url: str
    workers: list[psutil.Process] = field(default_factory=list)
    connections: dict[int, http.client.HTTPConnection] = field(default_factory=dict)  # worker pid -> connection

    def request(self, conn: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Status and decoded JSON of one request on ``conn`` (bytes are sent as they are, else as JSON)."""
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                return response.status, json.loads(payload) if payload else None
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                if attempt or not any(c is conn for c in self.connections.values()):
                    raise
                self._reattach(conn)  # uvicorn closes a keep-alive connection left idle for 5 s
        raise AssertionError("unreachable")

    def _reattach(self, conn: http.client.HTTPConnection, timeout: float = 30) -> None:
        """Give ``conn`` a new socket held by the same worker as before (new connections go to any worker)."""
        pid = next(p for p, c in self.connections.items() if c is conn)
        conn.close()
        spare: list[http.client.HTTPConnection] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                fresh = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                fresh.request("GET", "/api/contract")
                fresh.getresponse().read()
                if self.worker_of(fresh) == pid:
                    conn.sock, fresh.sock = fresh.sock, None
                    return
                spare.append(fresh)  # kept open, so that its worker is busier and the next may go elsewhere
            raise AssertionError(f"worker {pid} took no new connection within {timeout} s")
        finally:
            for other in spare:
                other.close()

    def worker_of(self, conn: http.client.HTTPConnection) -> int:
        """The pid of the worker holding the server end of ``conn``."""
        client_port = conn.sock.getsockname()[1]
        for worker in self.workers:
            for c in worker.connections(kind="tcp"):
                if c.laddr.port == self.port and c.raddr and c.raddr.port == client_port:
                    return worker.pid
        raise AssertionError(f"no worker holds the connection from port {client_port}")

    def logs(self) -> str:
        """The tail of both processes' logs, for a failure message."""
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))


def _listening_workers(server: subprocess.Popen[bytes], port: int) -> list[psutil.Process]:
    """The serve process's children that listen on ``port``: uvicorn's workers."""
    found = []
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in child.connections(kind="tcp")):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _connect_to_every_worker(cluster: Cluster, timeout: float = 60) -> None:
    """Open connections until each worker holds one (the kernel hands new connections to any of them)."""
    deadline = time.monotonic() + timeout
    spare: list[http.client.HTTPConnection] = []
    while len(cluster.connections) < WORKERS:
        if time.monotonic() > deadline:
            raise AssertionError(f"only workers {sorted(cluster.connections)} took connections\n{cluster.logs()}")
        conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=60)
        status, _ = cluster.request(conn, "GET", "/api/contract")
        assert status == 200
        pid = cluster.worker_of(conn)
        if pid in cluster.connections:
            spare.append(conn)  # kept open, so the worker stays busy with it and the next one may go elsewhere
        else:
            cluster.connections[pid] = conn
    for conn in spare:
        conn.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module", params=DATABASES)
def cluster(
    request: pytest.FixtureRequest, ganache: Ganache, w3: Web3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A Board, `python -m backend index`, and `python -m backend serve --workers 4` with the indexer off."""
    data_dir, board, database_url = module_index(w3, tmp_path_factory, request.param, "scale")
    port = free_port()
    env = _env(
        data_dir, ganache.url, database_url, port,
        INDELIBLE_INDEXER="off", INDELIBLE_RELAY_BURST=str(RELAY_BURST), INDELIBLE_RELAY_RATE=str(RELAY_RATE),
        INDELIBLE_RELAY_NEW_SIGNERS_PER_HOUR="50", INDELIBLE_RELAYER_KEY=Web3.to_hex(RELAYER.key),
    )  # fmt: skip
    # its own key, so that each worker signs and numbers its transactions itself: the shared lock must serialise them
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"to": RELAYER.address, "value": 10 * 10**18}))
    log_dir = data_dir.parent
    command = [sys.executable, "-m", "backend"]
    with (log_dir / "indexer.log").open("wb") as log:
        indexer = subprocess.Popen([*command, "index"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log)
    with (log_dir / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, "serve", "--workers", str(WORKERS)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
    cluster = Cluster(port, board, indexer, server, log_dir, database_url)
    try:

        def up() -> bool:
            assert indexer.poll() is None and server.poll() is None, f"a process exited\n{cluster.logs()}"
            cluster.workers = _listening_workers(server, port)
            return len(cluster.workers) == WORKERS

        wait_for(up, timeout=120, interval=0.5)
        _connect_to_every_worker(cluster)
        yield cluster
    finally:
        for conn in cluster.connections.values():
            conn.close()
        _stop(server)
        _stop(indexer)


def test_every_api_worker_runs_no_indexer_and_reads_the_separate_indexers_index(cluster: Cluster):
    head = cluster.board.w3.eth.block_number
    for pid, conn in cluster.connections.items():

        def current(conn: http.client.HTTPConnection = conn) -> bool:
            status, body = cluster.request(conn, "GET", "/api/status")
            return status == 200 and body["index"]["current"] and body["index"]["indexed_block"] >= head

        wait_for(current, timeout=60)
        _, body = cluster.request(conn, "GET", "/api/status")
        assert body["index"]["indexer"] is None, f"worker {pid} runs an indexer"
        assert body["index"]["contract_address"] == cluster.board.deployment.address


def test_post_relayed_through_one_worker_is_indexed_and_read_alike_from_all_four(cluster: Cluster):
    first, *others = cluster.connections.values()
    document = encode_document("Scaled out", "relayed through one worker, read from four")
    status, pinned = cluster.request(first, "POST", "/api/content", document)
    assert status in (200, 201), pinned
    assert pinned["digest"] == digest_hex(sha256(document))
    status, sent = cluster.request(
        others[0], "POST", "/api/relay", {"kind": "post", **signed_post(cluster.board, CAROL, pinned["digest"])}
    )
    assert status == 200, sent
    receipt = cluster.board.w3.eth.wait_for_transaction_receipt(sent["tx_hash"])
    event = cluster.board.contract.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]
    post_id = int(event["postId"])
    seen = {}
    for pid, conn in cluster.connections.items():

        def indexed(conn: http.client.HTTPConnection = conn) -> Any:
            status, body = cluster.request(conn, "GET", f"/api/posts/{post_id}")
            return body["post"] if status == 200 and body["post"]["content_status"] == "pinned" else None

        seen[pid] = wait_for(indexed, timeout=60)
    assert {(p["author"], p["title"], p["body"]) for p in seen.values()} == {
        (CAROL.address, "Scaled out", "relayed through one worker, read from four")
    }
    assert len(seen) == WORKERS


def test_posts_relayed_at_once_through_all_four_workers_each_land_with_its_own_tx_nonce(cluster: Cluster):
    signers = [Account.from_key(keccak(text=f"indelible scale-out signer {i}")) for i in range(WORKERS)]
    first = next(iter(cluster.connections.values()))
    bodies = []
    for i, signer in enumerate(signers):
        status, pinned = cluster.request(first, "POST", "/api/content", encode_document(None, f"at once {i}"))
        assert status in (200, 201), pinned
        bodies.append({"kind": "post", **signed_post(cluster.board, signer, pinned["digest"])})
    start = threading.Barrier(WORKERS)
    answers: dict[int, tuple[int, Any]] = {}

    def send(pid: int, conn: http.client.HTTPConnection, body: dict[str, Any]) -> None:
        start.wait()
        answers[pid] = cluster.request(conn, "POST", "/api/relay", body)

    threads = [
        threading.Thread(target=send, args=(pid, conn, body))
        for (pid, conn), body in zip(cluster.connections.items(), bodies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [status for status, _ in answers.values()] == [200] * WORKERS, answers
    w3 = cluster.board.w3
    receipts = [w3.eth.wait_for_transaction_receipt(body["tx_hash"]) for _, body in answers.values()]
    assert all(receipt["status"] == 1 for receipt in receipts)
    sent = [w3.eth.get_transaction(receipt["transactionHash"]) for receipt in receipts]
    assert {tx["from"] for tx in sent} == {RELAYER.address}
    assert len({tx["nonce"] for tx in sent}) == WORKERS


def test_relay_limit_holds_for_one_client_across_all_four_workers(cluster: Cluster):
    shared = Limits(make_engine(cluster.database_url))
    key = f"relay:client:{client_key('127.0.0.1')}"
    allowed = int(shared.left(key, RELAY_BURST, RELAY_WINDOW))  # what earlier tests left of this client's burst
    answers: dict[int, list[int]] = {pid: [] for pid in cluster.connections}
    for _ in range(3):  # 3 x 4 workers = 12 requests, round-robin: each worker sees 3
        for pid, conn in cluster.connections.items():
            status, body = cluster.request(conn, "POST", "/api/relay", {})
            assert status in (422, 429), body
            assert status == 422 or body["detail"].startswith("too many relay requests"), body
            answers[pid].append(status)
    shared.engine.dispose()
    granted = sum(status != 429 for statuses in answers.values() for status in statuses)
    # one bucket for the client, however the requests spread: a bucket per process would grant up to 4 x 5
    assert granted == allowed, answers
    assert allowed < RELAY_BURST * 3 and all(len(statuses) == 3 for statuses in answers.values())
    assert sum(429 in statuses for statuses in answers.values()) >= WORKERS - 1, answers


def test_serve_refuses_several_workers_while_the_indexer_is_on(tmp_path: Path, ganache: Ganache):
    env = _env(tmp_path, ganache.url, f"sqlite:///{tmp_path / 'index.sqlite3'}", free_port(), INDELIBLE_INDEXER="on")
    done = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--workers", "2"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--workers 2 needs INDELIBLE_INDEXER=off" in done.stderr


def test_malformed_indexer_switch_stops_startup_naming_the_variable(tmp_path: Path, ganache: Ganache):
    env = _env(tmp_path, ganache.url, f"sqlite:///{tmp_path / 'index.sqlite3'}", free_port(), INDELIBLE_INDEXER="maybe")
    done = subprocess.run(
        [sys.executable, "-m", "backend", "serve"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "INDELIBLE_INDEXER must be on or off, not 'maybe'" in done.stderr
