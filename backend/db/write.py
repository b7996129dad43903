"""Dialect-aware write helpers for the indexer (the only writer): insert-or-ignore, upsert meta."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from typing import Any, cast

from sqlalchemy import ARRAY, ColumnElement, Executable, Table, any_, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from backend.db.models import Meta

CHUNK = 500  # rows or bound parameters per statement, well below SQLite's and PostgreSQL's limits
MAX_PARAMS = 10_000  # bound values in one multi-row statement (SQLite allows 32,766, PostgreSQL 65,535)
LIST_CHUNK = 5_000  # values of one ListQuery (one array on PostgreSQL, expanded markers on SQLite)


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


# PostgreSQL's bulk writes go through COPY into a temporary twin of the table (below this many rows the
# statements are as fast); tests turn it off to compare the COPY path with the plain one row for row
COPY_MIN_ROWS = 50


def insert_ignore_fast(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """insert_ignore for bulk backfill: positional tuples, many rows per statement.

    On PostgreSQL, COPY into a temporary table and one INSERT ... SELECT (psycopg parses a multi-row VALUES
    statement's placeholders in Python: most of a backfill's time there), plain in a savepoint, and with
    ON CONFLICT DO NOTHING only when that one finds a row already stored. Elsewhere one multi-row VALUES
    statement per chunk rather than one per row: on SQLite far fewer GIL hand-offs (the driver releases the
    GIL around every statement step) while the indexer's read-ahead thread parses JSON.
    """
    names = ", ".join(columns)
    if _copies(conn, rows):
        staged = _copy_staged(conn, table, columns, rows)
        insert = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staged}"
        try:  # no row of a range is stored before it, and ON CONFLICT's speculative inserts cost the server more
            with conn.begin_nested():
                conn.exec_driver_sql(insert)
        except IntegrityError:  # some are (a range applied again): back to the savepoint, and skip those
            conn.exec_driver_sql(f"{insert} ON CONFLICT DO NOTHING")
        return
    _values_chunks(conn, f"INSERT INTO {table.name} ({names}) VALUES ", " ON CONFLICT DO NOTHING", len(columns), rows)


def _copies(conn: Connection, rows: Sequence[Sequence[Any]]) -> bool:
    return conn.dialect.name == "postgresql" and COPY_MIN_ROWS > 0 and len(rows) >= COPY_MIN_ROWS


def _copy_staged(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """COPY ``rows`` into this transaction's empty temporary twin of ``table``; returns the twin's name.

    The twin (the table's ``columns`` and their types, no constraints, indexes or generated values) lives
    for the connection and is emptied at every commit, so a failed range leaves nothing in it either.
    """
    names = ", ".join(columns)
    staged = f"staged_{table.name}_{zlib.crc32(names.encode()):08x}"  # one twin per column set
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staged} ON COMMIT DELETE ROWS AS SELECT {names} FROM {table.name} "
        "WITH NO DATA"
    )
    # emptied at every commit and rollback: only a second batch of the same twin in this transaction finds rows
    filled = conn.info.setdefault("staged_filled_in", {})  # twin -> the transaction that last filled it
    transaction = conn.get_transaction()
    if filled.get(staged) is transaction:
        conn.exec_driver_sql(f"TRUNCATE {staged}")
    filled[staged] = transaction
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(f"COPY {staged} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()
    return staged


def upsert_fast(
    conn: Connection, table: Table, columns: Sequence[str], keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows, or set the other ``columns`` of the row whose ``keys`` each one has (no two rows share keys).

    PostgreSQL: COPY into the table's temporary twin and one INSERT ... SELECT ... ON CONFLICT DO UPDATE;
    elsewhere one multi-row VALUES statement per chunk.
    """
    names = ", ".join(columns)
    sets = ", ".join(f"{column} = excluded.{column}" for column in columns if column not in keys)
    conflict = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    if _copies(conn, rows):
        staged = _copy_staged(conn, table, columns, rows)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staged}{conflict}")
        return
    _values_chunks(conn, f"INSERT INTO {table.name} ({names}) VALUES ", conflict, len(columns), rows)


def delete_by_key(conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Delete the rows whose ``keys`` (the primary key) are one of ``rows``.

    PostgreSQL: COPY into the table's temporary twin and one DELETE ... USING it; elsewhere one DELETE per
    row through the driver's executemany.
    """
    if _copies(conn, rows):
        staged = _copy_staged(conn, table, keys, rows)
        match = " AND ".join(f"{table.name}.{key} = s.{key}" for key in keys)
        conn.exec_driver_sql(f"DELETE FROM {table.name} USING {staged} AS s WHERE {match}")
        return
    match = " AND ".join(f"{key} = ?" for key in keys)
    execute_many(conn, f"DELETE FROM {table.name} WHERE {match}", rows)


def update_by_key(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set ``columns[1:]`` of the rows whose ``columns[0]`` (the primary key) is each row's first value.

    PostgreSQL: COPY into the table's temporary twin and one UPDATE ... FROM it. SQLite (3.33+) joins one
    multi-row VALUES per chunk (UPDATE ... FROM); elsewhere one UPDATE per row through the driver's executemany.
    """
    key, rest = columns[0], columns[1:]
    if _copies(conn, rows):
        staged = _copy_staged(conn, table, columns, rows)
        sets = ", ".join(f"{column} = s.{column}" for column in rest)
        conn.exec_driver_sql(f"UPDATE {table.name} SET {sets} FROM {staged} AS s WHERE {table.name}.{key} = s.{key}")
        return
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
        conn.exec_driver_sql(sql, tuple(chain.from_iterable(part)))


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


class ListQuery:
    """A statement built once whose ``column IN (...)`` takes a list bound as ``name`` at each execution.

    SQLite gets an expanding IN (one marker per value, rendered from the cached compilation); PostgreSQL
    gets ``column = ANY(:name)`` with one array value, so psycopg parses no placeholder per value. Either way
    SQLAlchemy compiles the statement once, not once per call with a bound parameter per id.
    """

    def __init__(self, build: Callable[[Callable[[Any], ColumnElement[bool]]], Executable], name: str = "ids") -> None:
        self.name = name
        self._postgres = build(lambda column: column == any_(bindparam(name, type_=ARRAY(column.type))))
        self._other = build(lambda column: column.in_(bindparam(name, expanding=True)))

    def run(self, conn: Connection, values: Sequence[Any], **params: Any) -> Any:
        """The result of the statement for ``values`` (at most LIST_CHUNK of them) and its other ``params``."""
        statement = self._postgres if conn.dialect.name == "postgresql" else self._other
        return conn.execute(statement, {self.name: list(values), **params})


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Slices of at most ``size`` items, to bound the parameters of an IN (...)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
