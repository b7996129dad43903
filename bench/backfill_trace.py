"""Where the indexer's memory goes over bench/backfill_rss.py's seeded backfill: in this process, range by range.

bench/backfill_rss.py watches the real ``python -m backend index --once`` from outside; this runs the same
``Indexer.run(once=True)`` inside this process with a ``Progress`` that samples after every range: the
process's RSS, SQLite's own heap (``sqlite3_status64(SQLITE_STATUS_MEMORY_USED)``: its page caches and
statements, all connections), the blocks Python's allocator holds (``sys.getallocatedblocks()``) and, with
``--trace``, the bytes ``tracemalloc`` sees once started at 10% of the events: what it still holds at the end is
what grew since, printed by line. No bench lock: nothing here is a timing.

    python bench/backfill_trace.py --chain-dir DIR [--postgres URL] [--trace]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.config import Settings
from backend.devchain import Anvil, free_port
from backend.indexer.progress import Progress
from backend.indexer.runner import Indexer
from bench.backfill_rss import ANVIL_ARGS, GAS_LIMIT, SEEDED, STATE, proc_memory
from bench.index import reset_database

SQLITE_STATUS_MEMORY_USED = 0
SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def sqlite_memory() -> tuple[float, float]:
    """SQLite's heap in use and its high-water mark (MB), for the whole process."""
    library = ctypes.CDLL("libsqlite3.so.0")  # the library Python's sqlite3 module is linked against
    current, highest = ctypes.c_int64(), ctypes.c_int64()
    library.sqlite3_status64(SQLITE_STATUS_MEMORY_USED, ctypes.byref(current), ctypes.byref(highest), 0)
    return current.value / 2**20, highest.value / 2**20


@dataclass
class RangeSample:
    """After one range: events so far, RSS, SQLite's heap, Python's allocated blocks, traced MB."""

    events: int
    rss: float
    sqlite: float
    blocks: int
    traced: float
    connections: int  # open in the indexer's pool (each SQLite connection has its own page cache)


class SampledProgress(Progress):
    """The indexer's progress that also samples memory after every range (and starts tracemalloc at 10%)."""

    def __init__(self, total: int, trace: bool) -> None:
        super().__init__(tty=False)
        self.total = total
        self.trace = trace
        self._next_print = 0.1
        self.events = 0
        self.samples: list[RangeSample] = []
        self.snapshot: tracemalloc.Snapshot | None = None
        self.pool: Any = None  # the indexer engine's pool, set once it exists

    def advance(self, indexed: int, events: int) -> None:
        """Sample after the checkpoint moved."""
        super().advance(indexed, events)
        self.events += events
        traced = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else 0.0
        rss = proc_memory(os.getpid()).get("VmRSS", 0.0)
        connections = self.pool.checkedin() + self.pool.checkedout() if self.pool is not None else 0
        sample = RangeSample(self.events, rss, sqlite_memory()[0], sys.getallocatedblocks(), traced, connections)
        self.samples.append(sample)
        if self.trace and not tracemalloc.is_tracing() and self.events >= 0.1 * self.total:
            tracemalloc.start()  # from 10% on: what is still allocated at the end is what grew
            self.snapshot = tracemalloc.take_snapshot()
        if self.events >= self._next_print * self.total:
            self._next_print += 0.1
            print(f"{sample.events:,} events: RSS {sample.rss:.0f} MB, SQLite {sample.sqlite:.1f} MB, "
                  f"{connections} connections", flush=True)  # fmt: skip


def run(chain_dir: Path, database_url: str, trace: bool) -> None:
    """Load the seeded chain into Anvil, backfill it in this process, print the samples at each tenth."""
    seeded = json.loads((chain_dir / SEEDED).read_text())
    node = Anvil(free_port(), gas_limit=GAS_LIMIT, extra_args=[*ANVIL_ARGS, "--load-state", str(chain_dir / STATE)])
    node.start(timeout=1800)  # loading a million events' state takes a while (not `with node`: that starts it again)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp)
            (data_dir / "deployments.json").write_text((chain_dir / "deployments.json").read_text())
            if database_url:
                reset_database(database_url)
            settings = Settings(
                data_dir=data_dir, rpc_url=node.url, database_url=database_url, start_chain=False, contract_address="",
                confirmations=0, ipfs_gateways=[], ipfs_api_url="",
            )  # fmt: skip
            progress = SampledProgress(seeded["events"], trace)
            indexer = Indexer(settings, progress=progress)
            progress.pool = indexer.engine.pool
            try:
                indexer.run(once=True)
            finally:
                indexer.close()
            end = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
            tracemalloc.stop()
    finally:
        node.stop()
    print(f"{'PostgreSQL' if database_url else 'SQLite'}: {progress.events:,} events")
    print("| events | RSS MB | SQLite heap MB | Python blocks | traced MB | pooled connections |")
    print("|---:|---:|---:|---:|---:|---:|")
    for share in SHARES:
        sample = next((s for s in progress.samples if s.events >= share * seeded["events"]), progress.samples[-1])
        print(
            f"| {sample.events:,} | {sample.rss:.0f} | {sample.sqlite:.1f} | {sample.blocks:,} | {sample.traced:.1f} "
            f"| {sample.connections} |"
        )
    if end is not None and progress.snapshot is not None:
        print("tracemalloc, growth from 10% of the events to the end, by line:")
        for stat in end.compare_to(progress.snapshot, "lineno")[:15]:
            print(f"  {stat.size_diff / 2**20:+.2f} MB ({stat.count_diff:+,} blocks) {stat.traceback}")


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain-dir", type=Path, required=True, help="bench/backfill_rss.py --seed-only's DIR")
    parser.add_argument("--postgres", default="", help="backfill into this (emptied) PostgreSQL database instead")
    parser.add_argument("--trace", action="store_true", help="tracemalloc too (slower); prints the top growth")
    args = parser.parse_args()
    run(args.chain_dir, args.postgres, args.trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
