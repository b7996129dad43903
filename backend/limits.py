"""Limits shared by every process on one database: rate buckets, short-lived values, a cross-process lock.

The tables live beside the index but are not part of it: they have their own
MetaData, so an index rebuild (``wipe``) or a schema bump (``ensure_schema``)
leaves them alone. Every row carries ``expires_at`` and expired rows are purged
about once a minute, so the tables stay bounded. Times are wall-clock seconds
(``time.time()``), shared by every instance.

* ``take(key, cost, limit, window)``: at most ``limit`` units per ``window``
  seconds, refilled continuously (a GCRA / leaky bucket that can be emptied at
  once). Returns 0.0 when granted (and charges ``cost``), else the seconds until
  ``cost`` would fit (``math.inf`` when it never can). Atomic on SQLite (one
  writer at a time) and PostgreSQL (the conditional UPDATE locks the row).
* ``refund``, ``left``: give units back; how many are free now.
* ``get``/``put``: JSON values with a time to live (seen signers, refusals, nonces).
* ``lock(key)``: held across processes: a PostgreSQL advisory lock, or a file lock beside the SQLite file.

The app keeps one instance, on the index's engine (``backend.http.deps.AppState.limits``).
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Column,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from backend.db.session import lock_schema

METADATA = MetaData()  # not the index's Base.metadata: rebuilding the index must not reset limits
BUCKETS = Table(
    "limit_buckets",
    METADATA,
    Column("key", String(200), primary_key=True),
    Column("tat", Double, nullable=False),  # theoretical arrival time: the bucket is full again then
    Column("expires_at", Double, nullable=False, index=True),
    Column("granted", Integer, nullable=False, server_default="1"),  # whether the last take fitted
)
VALUES = Table(
    "limit_values",
    METADATA,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
    Column("expires_at", Double, nullable=False, index=True),
)
PURGE_EVERY = 60.0  # seconds between sweeps of expired rows
_EPSILON = 1e-9  # float slack, so that exactly ``limit`` units fit in an empty bucket


class Limits:
    """Counters and values in the database, shared by every app instance that uses it."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        with engine.begin() as conn:  # the given engine: the counters' engine autocommits; the lock needs a transaction
            lock_schema(conn)  # every API worker builds its Limits at once: one at a time checks and creates
            columns = (
                {c["name"] for c in inspect(conn).get_columns("limit_buckets")}
                if inspect(conn).has_table("limit_buckets")
                else set()
            )
            if columns and "granted" not in columns:  # the first version's table: counters only, start afresh
                BUCKETS.drop(conn)
            METADATA.create_all(conn)
        self.engine = _counter_engine(engine) if self._postgres else engine
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._next_purge = 0.0
        greatest = "greatest" if self._postgres else "max"  # SQLite's two-argument max() is scalar
        fits = f"{greatest}(limit_buckets.tat, :now) + :inc - :now <= :window + :eps"
        after = f"{greatest}(limit_buckets.tat, :now) + :inc"
        # One statement: SET expressions all see the row as it was, so ``granted`` says whether this take fitted.
        self._take = text(
            "INSERT INTO limit_buckets (key, tat, expires_at, granted) VALUES (:key, :now + :inc, :now + :inc, 1) "
            f"ON CONFLICT (key) DO UPDATE SET tat = CASE WHEN {fits} THEN {after} ELSE limit_buckets.tat END, "
            f"expires_at = CASE WHEN {fits} THEN {after} ELSE limit_buckets.tat END, "
            f"granted = CASE WHEN {fits} THEN 1 ELSE 0 END RETURNING tat, granted"
        )

    # --- buckets ----------------------------------------------------------------------------------

    def take(self, key: str, cost: float, limit: float, window: float) -> float:
        """Charge ``cost`` of at most ``limit`` per ``window`` s to ``key``: 0.0 if granted, else seconds to wait."""
        if cost <= 0:
            return 0.0
        if cost > limit:
            return math.inf
        now = self.clock()
        self._maybe_purge(now)
        inc = cost * window / limit
        params = {"key": key, "now": now, "inc": inc, "window": window, "eps": _EPSILON}
        with self.engine.begin() as conn:
            tat, granted = conn.execute(self._take, params).one()
        if granted:
            return 0.0
        return max(float(max(tat, now)) + inc - now - window, _EPSILON)

    def refund(self, key: str, cost: float, limit: float, window: float) -> None:
        """Give back ``cost`` units taken from ``key`` (a later check refused the request, or less was used)."""
        if cost <= 0 or limit <= 0:
            return
        inc = cost * window / limit
        with self.engine.begin() as conn:
            conn.execute(
                BUCKETS.update()
                .where(BUCKETS.c.key == key)
                .values(tat=BUCKETS.c.tat - inc, expires_at=BUCKETS.c.tat - inc)
            )

    def left(self, key: str, limit: float, window: float) -> float:
        """Units ``key`` may take now (``limit`` when untouched or refilled)."""
        now = self.clock()
        with self.engine.connect() as conn:
            tat = conn.execute(select(BUCKETS.c.tat).where(BUCKETS.c.key == key)).scalar()
        if tat is None or tat <= now:
            return float(limit)
        return max(0.0, limit - (float(tat) - now) * limit / window)

    def left_many(self, keys: Iterable[str], limit: float, window: float) -> dict[str, float]:
        """``left`` for many keys in one query."""
        wanted = list(dict.fromkeys(keys))
        now = self.clock()
        with self.engine.connect() as conn:
            rows = dict(conn.execute(select(BUCKETS.c.key, BUCKETS.c.tat).where(BUCKETS.c.key.in_(wanted))).all())
        return {
            key: float(limit)
            if rows.get(key) is None or rows[key] <= now
            else max(0.0, limit - (rows[key] - now) * limit / window)
            for key in wanted
        }

    def full_at(self, key: str) -> float:
        """When ``key``'s bucket is full again (wall-clock seconds; now or earlier when it already is)."""
        with self.engine.connect() as conn:
            tat = conn.execute(select(BUCKETS.c.tat).where(BUCKETS.c.key == key)).scalar()
        return float(tat) if tat is not None else self.clock()

    # --- values -----------------------------------------------------------------------------------

    def get(self, keys: Iterable[str]) -> dict[str, Any]:
        """The unexpired values stored under ``keys`` (absent keys are left out), in one query."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        query = select(VALUES.c.key, VALUES.c.value).where(
            VALUES.c.key.in_(bindparam("keys", expanding=True)), VALUES.c.expires_at > bindparam("now")
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query, {"keys": wanted, "now": self.clock()}).all()
        return {key: json.loads(value) for key, value in rows}

    def put(self, values: dict[str, Any], ttl: float) -> None:
        """Store each value (JSON-encodable) for ``ttl`` seconds, replacing what was there."""
        if not values:
            return
        expires = self.clock() + ttl
        rows = [{"key": key, "value": json.dumps(value), "expires_at": expires} for key, value in values.items()]
        stmt = self._insert(VALUES)
        stmt = stmt.on_conflict_do_update(
            index_elements=[VALUES.c.key], set_={"value": stmt.excluded.value, "expires_at": stmt.excluded.expires_at}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, rows)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop the values under ``keys``."""
        wanted = list(keys)
        if wanted:
            with self.engine.begin() as conn:
                conn.execute(delete(VALUES).where(VALUES.c.key.in_(wanted)))

    # --- lock ---------------------------------------------------------------------------------------

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold ``key`` against every process on this database: an advisory lock, or a file lock beside SQLite's."""
        digest = hashlib.sha256(key.encode()).digest()
        if not self._postgres:
            with self._locks_guard:
                local = self._locks.setdefault(key, threading.Lock())
            with local, self._file_lock(digest):
                yield
            return
        lock_id = int.from_bytes(digest[:8], "big", signed=True)
        with self.engine.connect() as conn:
            conn.execute(select(func.pg_advisory_lock(lock_id)))
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(lock_id)))
                conn.commit()

    @contextmanager
    def _file_lock(self, digest: bytes) -> Iterator[None]:
        """flock on ``<database>.lock-<digest>``, for processes sharing one SQLite file (``serve --workers``)."""
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.lock-{digest[:8].hex()}", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- upkeep -------------------------------------------------------------------------------------

    def purge(self) -> None:
        """Delete expired buckets and values."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(BUCKETS).where(BUCKETS.c.expires_at < now))
            conn.execute(delete(VALUES).where(VALUES.c.expires_at < now))

    def _maybe_purge(self, now: float) -> None:
        if now >= self._next_purge:
            self._next_purge = now + PURGE_EVERY
            self.purge()

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self._postgres else sqlite.insert)(table)


_COUNTER_ENGINES: dict[str, Engine] = {}
_COUNTER_ENGINES_LOCK = threading.Lock()


def _counter_engine(engine: Engine) -> Engine:
    """One PostgreSQL engine per database for this process, tuned for one-statement counter updates.

    Counters need no durable commit (a crash forgets a few seconds of them), so commits do not wait for
    the WAL flush; every operation here is a single statement, so autocommit saves the BEGIN and COMMIT
    round trips; and no pre-ping (another round trip) on checkout: a connection the server dropped fails
    one request with a 503 and is replaced. A take costs one round trip (docs/benchmarks.md has the timings).
    """
    url = engine.url.render_as_string(hide_password=False)
    with _COUNTER_ENGINES_LOCK:
        if url not in _COUNTER_ENGINES:
            _COUNTER_ENGINES[url] = create_engine(
                engine.url,
                isolation_level="AUTOCOMMIT",
                pool_recycle=300,
                connect_args={"options": "-c synchronous_commit=off"},
            )
        return _COUNTER_ENGINES[url]


def client_key(host: str | None) -> str:
    """The unit clients are counted in: an IPv4 address, or the /64 network of an IPv6 address."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host[:100]  # not an IP (a test client's name): counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
