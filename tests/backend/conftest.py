"""Shared fixtures for backend tests: real Ganache chains, a deployed Board, databases, the app.

* ``ganache``/``w3``: one throwaway chain for the session; ``fresh_ganache``: a
  chain of the test's own (reorgs, replaced chains). ``anvil``: a session Anvil
  (real reorgs with ``anvil_reorg``); ``any_chain``: Ganache, then Anvil, for the
  tests that run on both.
* ``board``: a new Board deployed on the session chain for each test, recorded in
  the test's data dir (``deployments.json``) so ``backend.chain`` finds it.
* ``database_url``: SQLite always, and PostgreSQL too when
  ``INDELIBLE_TEST_POSTGRES_URL`` is set (each test gets emptied tables; an
  unreachable server fails the test rather than skipping it).
* ``settings``, ``engine``, ``client`` (the app via TestClient; pass
  ``run_indexer`` through ``make_client``).

Helpers (the Board handle, waiting, settings, servers) live in ``tests/support``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from web3 import Web3

from backend.app import create_app
from backend.config import Settings
from backend.db.session import make_engine
from backend.devchain import Anvil, DevNode, Ganache, free_port
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import DATABASES, POSTGRES_URL, make_settings, reset_postgres


@pytest.fixture(scope="session")
def ganache() -> Iterator[Ganache]:
    """A throwaway Ganache shared by the session (tests deploy their own Board on it)."""
    with Ganache(free_port(), db_path=None) as node:
        yield node


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A throwaway Anvil shared by the session, on its own free port beside the Ganache."""
    with Anvil(free_port()) as node:
        yield node


@pytest.fixture(params=["ganache", "anvil"])
def any_chain(request: pytest.FixtureRequest) -> DevNode:
    """The session's Ganache, then its Anvil: for the tests where the chain's kind may matter."""
    node: DevNode = request.getfixturevalue(request.param)
    return node


@pytest.fixture
def fresh_ganache() -> Iterator[Ganache]:
    """A Ganache of this test's own, for tests that rewrite or replace the chain."""
    with Ganache(free_port(), db_path=None) as node:
        yield node


@pytest.fixture(scope="session")
def w3(ganache: Ganache) -> Web3:
    """web3 on the session chain."""
    return connect(ganache)


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


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty index database: SQLite in tmp, or the PostgreSQL test database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite3'}"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


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
