"""Test databases and settings for the backend tests: SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, make_url, select, text
from sqlalchemy.exc import OperationalError
from web3 import Web3

from backend import ranking
from backend.config import Settings
from backend.content.cid import sha256
from backend.db.models import Base
from backend.db.stats import index_summary
from tests.support.board import BoardHandle, deploy_board
from tests.support.wait import wait_for


def _worker_database(url: str) -> str:
    """The PostgreSQL test database of this pytest-xdist worker (``indelible_test_gw0``…), created if missing.

    ``make test`` runs the suite in two processes (``-n 2``); each empties tables before its tests, so two
    workers must never share a database. Without xdist the configured database is used as it is.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))  # name: the configured one plus gwN
    except OperationalError as exc:
        pytest.fail(f"INDELIBLE_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}")
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


POSTGRES_URL = _worker_database(os.environ.get("INDELIBLE_TEST_POSTGRES_URL", ""))
# PostgreSQL joins only when configured: tests/conftest.py fails any run with a skipped test.
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


# Other sessions on the worker's database inside a transaction: what an earlier test left behind (a server or
# indexer still stopping). One such writer deadlocked DROP TABLE once (CI under load). Idle sessions hold no
# lock and are left alone (a pool the test still holds keeps its connections).
_OTHER_WRITERS = text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle'"
)


def reset_postgres(url: str) -> None:
    """Drop every table of the PostgreSQL test database (an unreachable server fails the test, never skips it).

    Sessions an earlier test left writing on the database are ended first; a deadlock with one that connects meanwhile
    is retried.
    """
    engine = create_engine(url)
    try:
        for attempt in range(3):
            try:
                with engine.begin() as conn:
                    conn.execute(_OTHER_WRITERS)
                    Base.metadata.drop_all(conn)
                    for name in inspect(conn).get_table_names():  # tables of an older schema
                        conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))  # names from the catalogue
                return
            except OperationalError as exc:
                if isinstance(exc.orig, psycopg.errors.DeadlockDetected) and attempt < 2:
                    continue
                pytest.fail(f"INDELIBLE_TEST_POSTGRES_URL is set but its tables could not be dropped: {exc}")
    finally:
        engine.dispose()


def post_row(
    post_id: int, *, parent: int | None, root: int, depth: int, title: str | None, body: str, created: int,
    replies: int, tallies: tuple[int, int], counted: tuple[int, int],
) -> dict[str, Any]:  # fmt: skip
    """A ``posts`` row as the indexer leaves it, every ranking column derived from ``tallies`` and ``counted``."""
    (up, down), (cu, cd) = tallies, counted
    return {
        "id": post_id, "author": f"0x{post_id % 50 + 1:040x}", "parent_id": parent, "root_id": root, "depth": depth,
        "digest": f"0x{post_id:064x}", "cid": f"cid{post_id}", "content_status": "pinned", "title": title,
        "body": body, "created_at": created, "block_number": post_id, "block_hash": f"0x{post_id:064x}",
        "tx_hash": f"0x{post_id:064x}", "log_index": 0, "upvotes": up, "downvotes": down, "score": up - down,
        "reply_count": replies, "hot": ranking.hot(up, down, created), "controversial": ranking.controversial(up, down),
        "wilson": ranking.wilson(up, down), "counted_upvotes": cu, "counted_downvotes": cd, "counted_score": cu - cd,
        "counted_hot": ranking.hot(cu, cd, created), "counted_controversial": ranking.controversial(cu, cd),
        "counted_wilson": ranking.wilson(cu, cd),
    }  # fmt: skip


def empty_index_url(database: str, directory: Path) -> str:
    """An empty index of ``database``: the PostgreSQL test database emptied, or a new SQLite file in ``directory``."""
    if database == "postgresql":
        reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite:///{directory / 'index.sqlite3'}"


def module_index(
    w3: Web3, tmp_path_factory: pytest.TempPathFactory, database: str, name: str
) -> tuple[Path, BoardHandle, str]:
    """For a module-scoped fixture: its own data dir, a Board recorded there, an empty index of ``database``."""
    data_dir: Path = tmp_path_factory.mktemp(name) / "data"
    board = deploy_board(w3, data_dir)
    return data_dir, board, empty_index_url(database, data_dir)


@dataclass
class World:
    """A module's app (TestClient), its accounts and the ids of what it created, by name."""

    client: TestClient
    accounts: list[str]
    ids: dict[str, int]


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
        # tests upload far more than a client may an hour; tests/backend/api/test_upload_limits.py sets its own
        "upload_requests": 1_000_000,
        "upload_bytes": 1_000_000_000,
        "trusted_proxies": (),  # the TCP peer is the client unless a test names a proxy
    }
    return Settings(**(values | overrides))


def wait_indexed(client: TestClient, w3: Web3, timeout: float = 30) -> None:
    """Until the app's index has reached the node's head block."""
    app = client.app
    assert isinstance(app, FastAPI)
    engine = app.state.indelible.engine
    head = w3.eth.block_number
    wait_for(
        lambda: (index_summary(engine)["indexed_block"] or -1) >= head, timeout=timeout, what=f"the index at {head}"
    )


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
