"""Dialect-aware write helpers for the indexer (the only writer): insert-or-ignore, upsert meta."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from backend.db.models import Meta

CHUNK = 500  # rows or bound parameters per statement, well below SQLite's and PostgreSQL's limits


def _insert(conn: Connection, table: Table) -> Any:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping those whose key exists already (so re-indexing changes nothing)."""
    for start in range(0, len(rows), CHUNK):
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows[start : start + CHUNK]))


def execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run one statement with ``?`` markers for many positional rows, straight through the driver.

    For the indexer's bulk paths, where SQLAlchemy's per-row parameter handling is most of the
    cost. Statements are constants of ours; every value is a bound parameter.
    """
    if rows:
        if conn.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        conn.exec_driver_sql(sql, list(rows))


def insert_ignore_fast(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """insert_ignore for bulk backfill: positional tuples straight to the driver's executemany."""
    markers = ", ".join("?" * len(columns))
    execute_many(
        conn, f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({markers}) ON CONFLICT DO NOTHING", rows
    )


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Upsert one meta key."""
    statement = _insert(conn, Meta.__table__).values(key=key, value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"value": value}))


def get_meta(conn: Connection) -> dict[str, str]:
    """All meta keys."""
    return {key: value for key, value in conn.execute(select(Meta.key, Meta.value))}


def clear_meta(conn: Connection, keys: Iterable[str]) -> None:
    """Forget meta keys."""
    conn.execute(delete(Meta).where(Meta.key.in_(list(keys))))


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Slices of at most ``size`` items, to bound the parameters of an IN (...)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
