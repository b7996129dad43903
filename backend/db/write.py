"""Dialect-aware write helpers for the indexer (the only writer): insert-or-ignore, upsert meta."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from backend.db.models import Meta

CHUNK = 500  # rows or bound parameters per statement, well below SQLite's and PostgreSQL's limits
MAX_PARAMS = 10_000  # bound values in one multi-row statement (SQLite allows 32,766, PostgreSQL 65,535)


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
    """insert_ignore for bulk backfill: positional tuples, many rows per multi-row VALUES statement.

    One statement per chunk rather than one per row: fewer round trips to PostgreSQL and, on
    SQLite, far fewer GIL hand-offs (the driver releases the GIL around every statement step)
    while the indexer's read-ahead thread parses JSON.
    """
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
    _values_chunks(conn, head, " ON CONFLICT DO NOTHING", len(columns), rows)


def update_by_key(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set ``columns[1:]`` of the rows whose ``columns[0]`` (the primary key) is each row's first value.

    SQLite (3.33+) joins one multi-row VALUES per chunk (UPDATE ... FROM); elsewhere one
    UPDATE per row through the driver's executemany.
    """
    key, rest = columns[0], columns[1:]
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 33):
        sets = ", ".join(f"{column} = v.column{i}" for i, column in enumerate(rest, start=2))
        head = f"UPDATE {table.name} SET {sets} FROM (VALUES "
        _values_chunks(conn, head, f") AS v WHERE {table.name}.{key} = v.column1", len(columns), rows)
    else:
        sets = ", ".join(f"{column} = ?" for column in rest)
        execute_many(conn, f"UPDATE {table.name} SET {sets} WHERE {key} = ?", [(*row[1:], row[0]) for row in rows])


def _values_chunks(conn: Connection, head: str, tail: str, width: int, rows: Sequence[Sequence[Any]]) -> None:
    """``head`` + VALUES rows + ``tail`` for chunks of ``rows`` (at most MAX_PARAMS bound values each)."""
    per = max(1, MAX_PARAMS // width)
    marker = "(" + ", ".join("?" * width) + ")"
    paramstyle_format = conn.dialect.paramstyle != "qmark"
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        sql = head + ", ".join([marker] * len(part)) + tail
        if paramstyle_format:
            sql = sql.replace("?", "%s")
        conn.exec_driver_sql(sql, tuple(value for row in part for value in row))


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Upsert one meta key."""
    table = cast(Table, Meta.__table__)  # a declarative class's table is a Table; SQLAlchemy types it FromClause
    statement = _insert(conn, table).values(key=key, value=value)
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
