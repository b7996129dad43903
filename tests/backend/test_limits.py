"""backend.limits on SQLite and PostgreSQL: buckets, values with a time to live, purging, client keys, sharing."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text

from backend.db.models import Base
from backend.db.session import ensure_schema, make_engine
from backend.indexer.runner import wipe
from backend.limits import BUCKETS, VALUES, Limits, client_key


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test's database (SQLite, and PostgreSQL when configured)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limits(engine: Engine, clock: Clock) -> Limits:
    return Limits(engine, clock=clock)


def test_a_full_bucket_grants_its_limit_at_once_then_says_how_long_to_wait(limits: Limits):
    assert [limits.take("k", 1, 3, 60) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.take("k", 1, 3, 60) == pytest.approx(20.0)


def test_a_bucket_refills_continuously(limits: Limits, clock: Clock):
    assert limits.take("k", 3, 3, 60) == 0.0
    clock.now += 20
    assert limits.take("k", 1, 3, 60) == 0.0
    assert limits.take("k", 1, 3, 60) == pytest.approx(20.0)
    clock.now += 60
    assert limits.left("k", 3, 60) == pytest.approx(3.0)


def test_a_cost_above_the_limit_never_fits(limits: Limits):
    assert limits.take("k", 11, 10, 60) == math.inf
    assert limits.left("k", 10, 60) == 10.0


def test_a_refused_take_charges_nothing(limits: Limits):
    assert limits.take("gas", 700, 1000, 3600) == 0.0
    assert limits.take("gas", 400, 1000, 3600) == pytest.approx(360.0)
    assert limits.left("gas", 1000, 3600) == pytest.approx(300.0)
    assert limits.take("gas", 300, 1000, 3600) == 0.0


def test_refund_gives_units_back(limits: Limits):
    assert limits.take("gas", 1000, 1000, 3600) == 0.0
    limits.refund("gas", 250, 1000, 3600)
    assert limits.left("gas", 1000, 3600) == pytest.approx(250.0)


def test_keys_are_independent(limits: Limits):
    assert limits.take("a", 1, 1, 60) == 0.0
    assert limits.take("b", 1, 1, 60) == 0.0
    assert limits.take("a", 1, 1, 60) > 0


def test_values_expire_after_their_time_to_live(limits: Limits, clock: Clock):
    limits.put({"seen:0xabc": 1, "refused:x": {"status": 400, "detail": "no"}}, ttl=10)
    assert limits.get(["seen:0xabc", "refused:x", "other"]) == {
        "seen:0xabc": 1,
        "refused:x": {"status": 400, "detail": "no"},
    }
    clock.now += 11
    assert limits.get(["seen:0xabc", "refused:x"]) == {}


def test_put_replaces_and_forget_drops(limits: Limits):
    limits.put({"v": 1}, ttl=60)
    limits.put({"v": 2}, ttl=60)
    assert limits.get(["v"]) == {"v": 2}
    limits.forget(["v"])
    assert limits.get(["v"]) == {}


def test_purge_deletes_expired_rows_so_tables_stay_bounded(limits: Limits, clock: Clock, engine: Engine):
    for n in range(50):
        limits.take(f"client:{n}", 1, 10, 60)
    limits.put({f"seen:{n}": 1 for n in range(50)}, ttl=30)
    clock.now += 61
    limits.purge()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BUCKETS)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(VALUES)).scalar() == 0


def test_index_rebuild_and_schema_bump_leave_limits_alone(limits: Limits, engine: Engine):
    ensure_schema(engine)
    limits.take("gas", 5, 10, 3600)
    limits.put({"pending": 3}, ttl=60)
    with engine.begin() as conn:
        wipe(conn)
        Base.metadata.drop_all(conn)  # what a schema bump does to the index
    ensure_schema(engine)
    assert limits.left("gas", 10, 3600) == pytest.approx(5.0)
    assert limits.get(["pending"]) == {"pending": 3}


def test_first_version_bucket_table_is_replaced_by_the_current_one(database_url: str, clock: Clock):
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS limit_buckets"))
            conn.execute(text("CREATE TABLE limit_buckets (key VARCHAR(200) PRIMARY KEY, tat FLOAT, expires_at FLOAT)"))
        limits = Limits(engine, clock=clock)
        assert [limits.take("k", 1, 1, 60) for _ in range(2)] == [0.0, pytest.approx(60.0)]
    finally:
        engine.dispose()


def test_two_instances_on_one_database_share_every_bucket(database_url: str, clock: Clock):
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        a, b = Limits(first, clock=clock), Limits(second, clock=clock)
        assert a.take("client:1", 1, 2, 60) == 0.0
        assert b.take("client:1", 1, 2, 60) == 0.0
        assert a.take("client:1", 1, 2, 60) > 0
        assert b.take("client:1", 1, 2, 60) > 0
        b.put({"x": 1}, ttl=60)
        assert a.get(["x"]) == {"x": 1}
    finally:
        first.dispose()
        second.dispose()


def test_concurrent_takes_never_grant_more_than_the_limit(database_url: str, clock: Clock):
    engines = [make_engine(database_url) for _ in range(4)]
    try:
        instances = [Limits(e, clock=clock) for e in engines]
        granted: list[float] = []

        def worker(limits: Limits) -> None:
            for _ in range(25):
                granted.append(limits.take("shared", 1, 30, 3600))

        threads = [threading.Thread(target=worker, args=(limits,)) for limits in instances]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for wait in granted if wait == 0.0) == 30
    finally:
        for engine in engines:
            engine.dispose()


def test_lock_excludes_a_second_holder(limits: Limits):
    order: list[str] = []

    def second() -> None:
        with limits.lock("relayer"):
            order.append("second")

    with limits.lock("relayer"):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.3)
        order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "second"]


def test_lock_excludes_another_instance_on_the_same_database(database_url: str):
    other = make_engine(database_url)
    try:
        first, second = Limits(make_engine(database_url)), Limits(other)
        order: list[str] = []

        def hold() -> None:
            with second.lock("relayer"):
                order.append("second")

        with first.lock("relayer"):
            thread = threading.Thread(target=hold)
            thread.start()
            thread.join(timeout=0.3)
            order.append("first")
        thread.join(timeout=5)
        assert order == ["first", "second"]
    finally:
        other.dispose()


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_clients_are_counted_by_ipv4_address_or_ipv6_slash_64(host: str | None, key: str):
    assert client_key(host) == key


def test_workers_starting_together_build_the_schema_and_limit_tables_one_at_a_time(database_url: str):
    """`serve --workers N` and the indexer start at once, each creating the index and limit tables: none may fail."""
    starters = 6
    barrier = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start() -> None:
        engine = make_engine(database_url)
        try:
            barrier.wait()
            Limits(engine)
            ensure_schema(engine)
        except BaseException as exc:  # every failure is the finding
            errors.append(exc)
        finally:
            engine.dispose()

    for _round in range(5):
        threads = [threading.Thread(target=start) for _ in range(starters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        engine = make_engine(database_url)
        try:
            with engine.begin() as conn:  # a fresh database for the next round, so every round races its creation
                Base.metadata.drop_all(conn)
                BUCKETS.drop(conn)
                VALUES.drop(conn)
        finally:
            engine.dispose()
