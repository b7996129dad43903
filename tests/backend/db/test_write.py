"""The indexer's bulk write helpers on both engines: COPY twins hold only their own batch, list queries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from backend.db import write
from backend.db.models import Base, FirstActivity, Vote
from backend.db.session import ensure_schema, make_engine
from tests.support.index import DATABASES, POSTGRES_URL, reset_postgres

VOTES = Base.metadata.tables["votes"]
KEY = ("post_id", "voter")
COLUMNS = (*KEY, "direction", "block_number", "log_index")
VOTER = "0x" + "ab" * 20


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """An empty index of each engine, with every bulk write of PostgreSQL going through COPY."""
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    if request.param == "postgresql":
        reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    made = make_engine(url)
    ensure_schema(made)
    yield made
    made.dispose()


def _votes(engine: Engine) -> list[tuple[int, str, int]]:
    query = select(Vote.post_id, Vote.voter, Vote.direction).order_by(Vote.post_id)
    with engine.connect() as conn:
        return [(post_id, voter, direction) for post_id, voter, direction in conn.execute(query)]


def test_a_second_batch_through_the_same_twin_in_one_transaction_writes_only_its_own_rows(engine: Engine) -> None:
    with engine.begin() as conn:
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(1, VOTER, 1, 5, 0)])
        write.delete_by_key(conn, VOTES, KEY, [(1, VOTER)])
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(2, VOTER, -1, 6, 0)])  # the twin of the first upsert again
    assert _votes(engine) == [(2, VOTER, -1)]


def test_a_twin_starts_empty_after_a_commit_and_after_a_rollback(engine: Engine) -> None:
    with engine.begin() as conn:
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(1, VOTER, 1, 5, 0)])
        write.delete_by_key(conn, VOTES, KEY, [(1, VOTER)])
    with pytest.raises(RuntimeError), engine.begin() as conn:
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(3, VOTER, 1, 7, 0)])
        raise RuntimeError("the range failed")
    with engine.begin() as conn:
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(2, VOTER, -1, 6, 0)])
    assert _votes(engine) == [(2, VOTER, -1)]


@pytest.mark.parametrize("wanted", [[], ["0x" + "01" * 20], ["0x" + f"{i:02x}" * 20 for i in range(0, 200, 3)]])
def test_a_list_query_returns_the_rows_of_exactly_the_listed_keys(engine: Engine, wanted: list[str]) -> None:
    stored = {"0x" + f"{i:02x}" * 20: (i, i % 7) for i in range(1, 200, 2)}
    query = write.ListQuery(
        lambda listed: select(FirstActivity.address, FirstActivity.block_number, FirstActivity.log_index).where(
            listed(FirstActivity.address)
        )
    )
    with engine.begin() as conn:
        write.insert_ignore_fast(
            conn, Base.metadata.tables["first_activity"], ("address", "block_number", "log_index"),
            [(address, *at) for address, at in stored.items()],
        )  # fmt: skip
        found = {address: (block, index) for address, block, index in query.run(conn, wanted)}
    assert found == {address: stored[address] for address in wanted if address in stored}


def test_inserting_rows_again_skips_those_stored_and_keeps_the_transaction_usable(engine: Engine) -> None:
    table, columns = Base.metadata.tables["first_activity"], ("address", "block_number", "log_index")
    first = [("0x" + f"{i:02x}" * 20, i, 0) for i in range(1, 6)]
    again = [("0x" + f"{i:02x}" * 20, 100 + i, 1) for i in range(4, 9)]  # 4 and 5 are stored: kept as they are
    with engine.begin() as conn:
        write.insert_ignore_fast(conn, table, columns, first)
    with engine.begin() as conn:
        write.insert_ignore_fast(conn, table, columns, again)
        write.upsert_fast(conn, VOTES, COLUMNS, KEY, [(1, VOTER, 1, 5, 0)])  # the range's transaction goes on
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(select(FirstActivity.address, FirstActivity.block_number))]
    assert sorted(stored) == sorted([(a, b) for a, b, _ in first] + [(a, b) for a, b, _ in again[2:]])
    assert _votes(engine) == [(1, VOTER, 1)]
