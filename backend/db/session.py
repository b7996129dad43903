"""Engines for the index: SQLite under the data dir by default, PostgreSQL when configured."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from backend.db.models import RETIRED_TABLES, SCHEMA_VERSION, Base, Meta
from backend.db.write import set_meta


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL (readers never block the indexer) and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
        if parsed.get_backend_name() == "postgresql":
            event.listen(engine, "connect", _postgres_settings)
        return engine
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    """Custom plans, and no JIT compilation, for every statement of this connection.

    psycopg prepares a statement once it has run five times, and PostgreSQL may then reuse a generic plan,
    one that cannot see the parameters: how common a searched word is, or that nearly every post is over
    the fold threshold; it would then read every match or sort every post instead of walking an index.

    JIT compiles a plan whose estimated cost passes ``jit_above_cost`` (100,000 by default) into machine code
    before it runs: worth it for a query that scans millions of rows, not for ours, which each read an index
    range and stop. At 10 million posts a rare word's search plan passes that cost and spent 12 ms of its
    49 compiling (EXPLAIN ANALYZE's "JIT: Timing"; docs/benchmarks.md, Scale).
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.execute("SET jit = off")
    dbapi_connection.commit()  # a session setting, kept when the pool rolls back on return


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    _switch_to_wal(cursor)
    # NORMAL in WAL mode survives a killed process; only an OS crash may lose the last commits,
    # and then their checkpoint goes with them.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: a backfill touches many index pages
    cursor.execute("PRAGMA wal_autocheckpoint=16384")  # checkpoint (and fsync) every 64 MiB of WAL, not 4
    cursor.close()


def _switch_to_wal(cursor: sqlite3.Cursor, patience: float = 30.0) -> None:
    """Put the database in WAL mode (persistent: later connections find it so, and the pragma is then free).

    Switching needs an exclusive lock that SQLite tries once, without the busy handler (a reader upgrading
    could deadlock), so API workers and the indexer opening a new database together retry it for a while.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Session]:
    """A read session whose every query sees one snapshot of the index: what the indexer commits meanwhile stays out.

    A page states the block its index was read at and the reader's browser checks every fact on it at that
    block (static/js/verify.js), so the block, the post count and the posts must come from one snapshot: REPEATABLE READ
    on PostgreSQL (READ COMMITTED, its default, takes a snapshot per statement), one read transaction on SQLite.
    """
    with Session(engine) as session:
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        elif engine.dialect.name == "sqlite":
            # pysqlite opens no transaction before a SELECT, so each statement would read the newest commit;
            # the snapshot of a deferred BEGIN starts at its first read and holds until the session ends
            session.connection().exec_driver_sql("BEGIN")
        yield session


_SCHEMA_LOCK = 0x1DE1_1B1E  # PostgreSQL advisory lock key held while the schema is checked and created


def lock_schema(conn: Connection) -> None:
    """Hold the schema lock until ``conn``'s transaction ends, so processes that start together check and create
    tables one at a time (API workers and the indexer do): a PostgreSQL advisory lock; on SQLite the write lock,
    taken at once by BEGIN IMMEDIATE, since pysqlite runs DDL outside any transaction of its own."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_SCHEMA_LOCK)))
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits up to busy_timeout for another process's lock


def ensure_schema(engine: Engine) -> None:
    """Create the tables; drop and recreate them when they come from another schema version."""
    with engine.begin() as conn:
        lock_schema(conn)
        if inspect(conn).has_table(Meta.__tablename__):
            version = conn.execute(select(Meta.value).where(Meta.key == "schema_version")).scalar()
            if version not in (None, SCHEMA_VERSION):
                Base.metadata.drop_all(conn)
                for name in RETIRED_TABLES:  # constant names of our own
                    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        Base.metadata.create_all(conn)
        set_meta(conn, "schema_version", SCHEMA_VERSION)
