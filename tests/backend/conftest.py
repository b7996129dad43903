"""Shared fixtures for backend tests: real Ganache chains, a deployed Board, databases, the app.

* ``ganache``/``w3``: one throwaway chain for the session; ``fresh_ganache``: a
  chain of the test's own (reorgs, replaced chains).
* ``board``: a new Board deployed on the session chain for each test, recorded in
  the test's data dir (``deployments.json``) so ``backend.chain`` finds it.
* ``database_url``: SQLite always, and PostgreSQL too when
  ``INDELIBLE_TEST_POSTGRES_URL`` is set (each test gets emptied tables; an
  unreachable server fails the test rather than skipping it).
* ``settings``, ``engine``, ``client`` (the app via TestClient; pass
  ``run_indexer`` through ``make_client``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.exc import OperationalError
from web3 import Web3
from web3.contract import Contract

from backend.app import create_app
from backend.chain import Deployment
from backend.config import Settings
from backend.content.cid import sha256
from backend.db.models import Base
from backend.db.session import make_engine
from backend.db.stats import index_summary
from backend.devchain import Ganache, free_port
from backend.devchain import deploy_board as deploy_from_artifact

POSTGRES_URL = os.environ.get("INDELIBLE_TEST_POSTGRES_URL", "")


@pytest.fixture(scope="session")
def ganache() -> Iterator[Ganache]:
    """A throwaway Ganache shared by the session (tests deploy their own Board on it)."""
    with Ganache(free_port(), db_path=None) as node:
        yield node


@pytest.fixture
def fresh_ganache() -> Iterator[Ganache]:
    """A Ganache of this test's own, for tests that rewrite or replace the chain."""
    with Ganache(free_port(), db_path=None) as node:
        yield node


def connect(node: Ganache) -> Web3:
    """web3 on ``node`` with the first dev account as default sender."""
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    w3.eth.default_account = w3.eth.accounts[0]
    return w3


@pytest.fixture(scope="session")
def w3(ganache: Ganache) -> Web3:
    """web3 on the session chain."""
    return connect(ganache)


@dataclass
class BoardHandle:
    """A deployed Board: the web3 contract and its deployment record."""

    contract: Contract
    deployment: Deployment
    w3: Web3

    def digest_of(self, post_id: int) -> bytes:
        """The digest stored for ``post_id`` (what a reply or vote must name); zero when there is no such post."""
        if not 0 < post_id <= self.contract.functions.postCount().call():
            return bytes(32)
        return bytes(self.contract.functions.getPost(post_id).call()[2])

    def post(self, digest: bytes, parent_id: int = 0, sender: str | None = None) -> int:
        """Post ``digest`` straight to the contract, naming the parent's current digest; returns the new id."""
        call = self.contract.functions.post(digest, parent_id, self.digest_of(parent_id))
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender or self.w3.eth.accounts[0]}))
        return int(self.contract.events.PostCreated().process_receipt(receipt)[0]["args"]["postId"])

    def vote(self, post_id: int, direction: int, sender: str | None = None) -> None:
        """Vote straight on the contract, naming the post's current digest."""
        call = self.contract.functions.vote(post_id, self.digest_of(post_id), direction)
        self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender or self.w3.eth.accounts[0]}))


def deploy_board(w3: Web3, data_dir: Path) -> BoardHandle:
    """Deploy Board from the brownie artifact and append its record to ``data_dir/deployments.json``."""
    deployment = deploy_from_artifact(w3, data_dir)
    return BoardHandle(w3.eth.contract(address=deployment.address, abi=deployment.abi), deployment, w3)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The node's data dir (deployments.json, content/, SQLite index)."""
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def board(w3: Web3, data_dir: Path) -> BoardHandle:
    """A new Board on the session chain, recorded in this test's data dir."""
    return deploy_board(w3, data_dir)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            for name in inspect(conn).get_table_names():  # tables of an older schema
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))  # names from the catalogue
    except OperationalError as exc:
        pytest.fail(f"INDELIBLE_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
    finally:
        engine.dispose()


# PostgreSQL joins only when configured: tests/conftest.py fails any run with a skipped test.
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index database: SQLite in tmp, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite3'}"
    _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


def module_index(
    w3: Web3, tmp_path_factory: pytest.TempPathFactory, database: str, name: str
) -> tuple[Path, BoardHandle, str]:
    """For a module-scoped fixture: its own data dir, a Board recorded there, an empty index of ``database``."""
    data_dir: Path = tmp_path_factory.mktemp(name) / "data"
    board = deploy_board(w3, data_dir)
    if database == "postgresql":
        _reset_postgres(POSTGRES_URL)
        return data_dir, board, POSTGRES_URL
    return data_dir, board, f"sqlite:///{data_dir / 'index.sqlite3'}"


def make_settings(data_dir: Path, rpc_url: str, database_url: str, **overrides: Any) -> Settings:
    """Settings that ignore the outer environment: no chain start, no gateways unless given."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "rpc_url": rpc_url,
        "database_url": database_url,
        "start_chain": False,
        "contract_address": "",
        "confirmations": 0,
        "ipfs_gateways": [],
        "ipfs_api_url": "",
        # tests upload far more than a client may an hour; tests/backend/test_upload_limits.py sets its own
        "upload_requests": 1_000_000,
        "upload_bytes": 1_000_000_000,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def settings(data_dir: Path, ganache: Ganache, database_url: str) -> Settings:
    """Settings for the session chain, this test's data dir and database."""
    return make_settings(data_dir, ganache.url, database_url)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the test's index database."""
    engine = make_engine(settings.effective_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """Factory: ``make_client(settings, run_indexer=True)`` -> a started TestClient (closed after the test)."""
    clients: list[TestClient] = []

    def factory(settings: Settings, run_indexer: bool = True) -> TestClient:
        client = TestClient(create_app(settings, run_indexer=run_indexer))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle) -> TestClient:
    """The app on the session chain with a fresh Board and its indexer running."""
    return make_client(settings)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def wait_indexed(client: TestClient, w3: Web3, timeout: float = 30) -> None:
    """Until the app's index has reached the node's head block."""
    engine = client.app.state.indelible.engine
    head = w3.eth.block_number
    wait_for(lambda: (index_summary(engine)["indexed_block"] or -1) >= head, timeout=timeout)


@contextmanager
def serving(config: uvicorn.Config) -> Iterator[uvicorn.Server]:
    """A real uvicorn running ``config`` on a thread for the block; it must start, and stop after."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{config.port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=30)
        assert server.started, "uvicorn stopped before it started serving"
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive(), "uvicorn did not shut down"


DUMP_SKIP = {"content_queue": {"attempts", "next_attempt_at", "last_error"}}
# Which recent block hashes are kept depends on where ranges happened to end: bookkeeping, not index.
DUMP_SKIP_TABLES = {"blocks"}


def dump_index(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every index table's rows in key order (retry timing left out), to compare two indexes."""
    dump = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in DUMP_SKIP_TABLES:
                continue
            columns = [c for c in table.columns if c.name not in DUMP_SKIP.get(table.name, set())]
            order = list(table.primary_key.columns)
            dump[table.name] = [tuple(row) for row in conn.execute(select(*columns).order_by(*order))]
    return dump


def digest_of(data: bytes) -> bytes:
    """The on-chain digest of content bytes."""
    return sha256(data)
