"""The indexer's memory over a 1,000,000-event backfill, sampled, on SQLite and PostgreSQL (issue 25.4).

Two steps, so the long one does not hold the bench lock:

    nice -n 19 ionice -c3 python bench/backfill_rss.py --chain-dir DIR --events 1000000 --seed-only
    python bench/backfill_rss.py --chain-dir DIR --postgres URL --lock /work/wt/bench.lock [--write-docs]

The first seeds an Anvil chain through Board's signed ``batch()`` (``bench/seed_anvil.py``: posts, replies
and votes, every signed item emitting its event and ``NonceUsed``) and keeps it: Anvil dumps its state,
blocks and receipts to ``DIR/anvil-state.json`` on exit. The second loads that chain into a fresh Anvil and,
per engine, runs the real indexer command, ``python -m backend index --once``, from block 0 into an empty
index (a fresh SQLite file; the emptied PostgreSQL database), while this process samples every ``--every``
seconds the indexer process's resident set size (and its high-water mark, VmHWM), the PostgreSQL server
processes serving the bench database (RSS and RSS less shared pages: PostgreSQL's shared buffers show in the RSS
of every backend that touches them), and the index's checkpoint, which the seeded chain's events per block
turn into events indexed so far. The summary: RSS at the start (the first sample once the indexer has made its
tables: imports and setup done), after 10% and 50% of the events, at the end,
the most, and the least-squares slope per 100,000 events after the first 10%. With ``--lock PATH`` each
backfill holds that file's lock while it runs (``flock``), and only then.
"""

from __future__ import annotations

import argparse
import bisect
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.db.models import ContentQueue, NonceEvent
from backend.db.stats import index_summary
from backend.devchain import Anvil, deploy_board, free_port, node_executable
from backend.indexer import checkpoint
from bench.benchdocs import DOCS, write_section
from bench.index import reset_database
from bench.seed_anvil import BATCHES_PER_BLOCK, ITEMS_PER_BATCH, SIGNERS, seed

SECTION = "## Indexer memory over a 1,000,000-event backfill (bench/backfill_rss.py)"
STATE = "anvil-state.json"
SEEDED = "seeded.json"
ANVIL_ARGS = ["--hardfork", "prague", "--prune-history", "--no-request-size-limit"]
GAS_LIMIT = 1_000_000_000  # a block holds BATCHES_PER_BLOCK batches of ITEMS_PER_BATCH items


def seed_chain(chain_dir: Path, events: int, workers: int) -> dict[str, Any]:
    """Deploy Board on a fresh Anvil, seed ``events`` events, write seeded.json; Anvil dumps anvil-state.json."""
    chain_dir.mkdir(parents=True, exist_ok=True)
    (chain_dir / STATE).unlink(missing_ok=True)
    node = Anvil(free_port(), chain_dir, gas_limit=GAS_LIMIT, extra_args=ANVIL_ARGS).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 600}))
        w3.eth.default_account = w3.eth.accounts[0]
        deployment = deploy_board(w3, chain_dir)
        board = w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=deployment.abi)
        seeded = seed(node.url, board, events, workers)
        head = w3.eth.block_number
    finally:
        started = time.perf_counter()
        node.stop(timeout=1800)  # the state dump of a million events takes a while
        dump_s = time.perf_counter() - started
    record = {
        "events": seeded.events,
        "items": seeded.items,
        "posts": seeded.posts,
        "head": head,
        "per_block": sorted(seeded.per_block.items()),
        "seeding_s": seeded.seconds,
        "dump_s": dump_s,
        "checked_items": seeded.checked_items,
        "workers": workers,
        "anvil": subprocess.run([node_executable("anvil"), "--version"], capture_output=True, text=True).stdout,
        "state_bytes": (chain_dir / STATE).stat().st_size,
        "load": os.getloadavg(),
    }
    (chain_dir / SEEDED).write_text(json.dumps(record))
    return record


@dataclass
class Sample:
    """One sample: seconds since the start, events indexed, the indexer's RSS and high-water mark, PostgreSQL's (MB)."""

    at: float
    block: int  # the index's checkpoint, -1 before the indexer has made its tables
    events: int
    rss: float
    hwm: float
    pg_rss: float = 0.0
    pg_private: float = 0.0


class EventsAt:
    """Events at or below a block, from the seeded chain's events per block."""

    def __init__(self, per_block: list[tuple[int, int]]) -> None:
        self.blocks = [block for block, _ in per_block]
        self.totals: list[int] = []
        total = 0
        for _, events in per_block:
            total += events
            self.totals.append(total)

    def __call__(self, block: int) -> int:
        at = bisect.bisect_right(self.blocks, block)
        return self.totals[at - 1] if at else 0


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (the peak RSS) and RssAnon (RSS less file and shared pages) of ``pid`` in MB; {} once gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            found[key] = int(value.split()[0]) / 1024
    return found


def _postgres_pids(database: str) -> list[int]:
    """The PostgreSQL server processes serving ``database`` (their process titles name it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            pids.append(int(entry.name))
    return pids


def _postgres_memory(database: str) -> tuple[float, float]:
    """RSS and RSS less file and shared pages (MB) of the PostgreSQL server processes serving ``database``."""
    rss = private = 0.0
    for pid in _postgres_pids(database) if database else []:
        memory = proc_memory(pid)
        rss += memory.get("VmRSS", 0.0)
        private += memory.get("RssAnon", 0.0)
    return rss, private


@contextmanager
def held(lock: Path | None) -> Iterator[None]:
    """Hold ``lock``'s flock for the block (as ``flock FILE cmd`` would); nothing without a lock."""
    if lock is None:
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def backfill(
    node_url: str, chain_dir: Path, work: Path, database_url: str, events_at: EventsAt, every: float, lock: Path | None
) -> dict[str, Any]:
    """Run ``python -m backend index --once`` into an empty index, sampling it; return the samples and counts."""
    data_dir = work / ("postgresql" if database_url else "sqlite")
    data_dir.mkdir()
    (data_dir / "deployments.json").write_text((chain_dir / "deployments.json").read_text())
    if database_url:
        reset_database(database_url)
    index_url = database_url or f"sqlite:///{data_dir / 'index.sqlite3'}"
    database = make_url(database_url).database or "" if database_url else ""
    env = os.environ | {
        "INDELIBLE_DATA_DIR": str(data_dir),
        "INDELIBLE_RPC_URL": node_url,
        "INDELIBLE_DATABASE_URL": database_url,
        "INDELIBLE_START_CHAIN": "never",
        "INDELIBLE_CONTRACT_ADDRESS": "",
        "INDELIBLE_CONFIRMATIONS": "0",
        "INDELIBLE_FINALITY": "confirmations",
        "INDELIBLE_IPFS_GATEWAYS": "",
        "INDELIBLE_IPFS_API_URL": "",
    }
    reader = create_engine(index_url)
    samples: list[Sample] = []
    log_path = work / f"index-{'postgresql' if database_url else 'sqlite'}.log"
    with held(lock), log_path.open("w") as log:
        load_before = os.getloadavg()
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "index", "--once"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
        )
        while process.poll() is None:
            memory = proc_memory(process.pid)
            if "VmRSS" not in memory:
                break
            rss, hwm = memory["VmRSS"], memory["VmHWM"]
            try:
                with reader.connect() as conn:
                    block, _ = checkpoint.read(conn)
            except Exception:  # the indexer has not made its tables yet
                block = -1
            samples.append(
                Sample(time.perf_counter() - started, block, events_at(block), rss, hwm, *_postgres_memory(database))
            )
            time.sleep(every)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
    if process.wait() != 0:
        raise RuntimeError(f"the indexer exited with {process.returncode}; see {log_path}")
    summary = index_summary(reader)
    with reader.connect() as conn:
        nonces = conn.execute(select(func.count()).select_from(NonceEvent)).scalar_one()
        queued = conn.execute(select(func.count()).select_from(ContentQueue)).scalar_one()
    reader.dispose()
    return {
        "seconds": seconds,
        "samples": samples,
        "stored": summary["posts"] + summary["vote_events"] + nonces,
        "posts": summary["posts"],
        "vote_events": summary["vote_events"],
        "nonces": nonces,
        "content_queue": queued,
        "indexed_block": summary["indexed_block"],
        "load": (load_before, load_after),
    }


def at_share(samples: list[Sample], total: int, share: float) -> Sample:
    """The first sample with at least ``share`` of ``total`` events indexed (the last one if none)."""
    return next((s for s in samples if s.events >= share * total), samples[-1])


def slope(samples: list[Sample], attr: str, total: int, after: float) -> float:
    """Least-squares MB per 100,000 events of ``attr`` over the samples from ``after`` of the events on."""
    points = [(s.events, float(getattr(s, attr))) for s in samples if s.events >= after * total]
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var * 100_000


def summarize(result: dict[str, Any], total: int) -> dict[str, float]:
    """RSS at start, 10%, 50%, end, max, and the slope; the same for PostgreSQL's server processes."""
    samples: list[Sample] = [s for s in result["samples"] if s.block >= 0]  # from the indexer's first checkpoint
    figures = {
        "start": samples[0].rss,
        "p10": at_share(samples, total, 0.1).rss,
        "p50": at_share(samples, total, 0.5).rss,
        "end": samples[-1].rss,
        "max": max(s.rss for s in samples),
        "hwm": max(s.hwm for s in samples),
        "slope": slope(samples, "rss", total, 0.1),
        "slope2": slope(samples, "rss", total, 0.5),
    }
    if any(s.pg_rss for s in samples):
        figures |= {
            "pg_start": samples[0].pg_private,
            "pg_p10": at_share(samples, total, 0.1).pg_private,
            "pg_p50": at_share(samples, total, 0.5).pg_private,
            "pg_end": samples[-1].pg_private,
            "pg_max": max(s.pg_private for s in samples),
            "pg_rss_max": max(s.pg_rss for s in samples),
            "pg_slope": slope(samples, "pg_private", total, 0.1),
            "pg_slope2": slope(samples, "pg_private", total, 0.5),
        }
    return figures


def measure(chain_dir: Path, postgres_url: str, every: float, lock: Path | None) -> dict[str, Any]:
    """Load the seeded chain into Anvil and backfill it into each engine, sampling."""
    seeded = json.loads((chain_dir / SEEDED).read_text())
    events_at = EventsAt([(block, events) for block, events in seeded["per_block"]])
    started = time.perf_counter()
    node = Anvil(
        free_port(), gas_limit=GAS_LIMIT, extra_args=[*ANVIL_ARGS, "--load-state", str(chain_dir / STATE)]
    ).start(timeout=1800)
    load_s = time.perf_counter() - started
    engines = {"SQLite": "", **({"PostgreSQL": postgres_url} if postgres_url else {})}
    results: dict[str, Any] = {}
    try:
        assert node.process is not None
        anvil_pid = node.process.pid
        with tempfile.TemporaryDirectory() as tmp:
            for name, url in engines.items():
                results[name] = backfill(node.url, chain_dir, Path(tmp), url, events_at, every, lock)
                results[name]["figures"] = summarize(results[name], seeded["events"])
                print(line(name, results[name], seeded["events"]), flush=True)
        anvil_rss = proc_memory(anvil_pid).get("VmRSS", 0.0)
    finally:
        node.stop()
    return {"seeded": seeded, "load_s": load_s, "anvil_rss": anvil_rss, "engines": results, "every": every}


def line(name: str, r: dict[str, Any], total: int) -> str:
    """One engine's summary for the terminal."""
    f = r["figures"]
    text = (
        f"{name}: {r['stored']:,} of {total:,} events in {r['seconds']:.0f} s, {len(r['samples'])} samples;"
        " indexer RSS MB"
        f" start {f['start']:.0f}, 10% {f['p10']:.0f}, 50% {f['p50']:.0f}, end {f['end']:.0f}, max {f['max']:.0f}"
        f" (VmHWM {f['hwm']:.0f}), slope {f['slope']:+.2f} MB per 100k events after 10%"
    )
    if "pg_start" in f:
        text += (
            f"; PostgreSQL backends private MB start {f['pg_start']:.0f}, 10% {f['pg_p10']:.0f}, 50% {f['pg_p50']:.0f},"
            f" end {f['pg_end']:.0f}, max {f['pg_max']:.0f}, slope {f['pg_slope']:+.2f}"
        )
    return text


def _load(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


def report(result: dict[str, Any], command: str) -> str:
    """The markdown section for docs/benchmarks.md."""
    seeded = result["seeded"]
    total = seeded["events"]
    rows = []
    for name, r in result["engines"].items():
        f = r["figures"]
        rows.append(
            f"| {name}: indexer process | {f['start']:.0f} | {f['p10']:.0f} | {f['p50']:.0f} | {f['end']:.0f} "
            f"| {f['max']:.0f} ({f['hwm']:.0f}) | **{f['slope']:+.2f}** | **{f['slope2']:+.2f}** |"
        )
        if "pg_start" in f:
            rows.append(
                f"| {name}: its server processes, RSS less shared | {f['pg_start']:.0f} | {f['pg_p10']:.0f} "
                f"| {f['pg_p50']:.0f} | {f['pg_end']:.0f} | {f['pg_max']:.0f} (RSS {f['pg_rss_max']:.0f}) "
                f"| {f['pg_slope']:+.2f} | {f['pg_slope2']:+.2f} |"
            )
    runs = "\n".join(
        f"- {name}: {r['stored']:,} events stored ({r['posts']:,} posts, {r['vote_events']:,} votes, "
        f"{r['nonces']:,} nonces) up to block {r['indexed_block']} in {r['seconds']:.0f} s "
        f"({r['stored'] / r['seconds']:,.0f} events/s), {len(r['samples'])} samples; {r['content_queue']:,} CIDs "
        f"left in the content queue; load average {_load(r['load'][0])} before, {_load(r['load'][1])} after."
        for name, r in result["engines"].items()
    )
    return f"""{SECTION}

Command: `{command}` (run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine:
Anvil {seeded["anvil"].split()[2]}, SQLite and PostgreSQL 15, Python 3.11; 2 cores shared with other work, load
averages below).

The chain was seeded first by `--seed-only --events {total}` (at `nice -n 19 ionice -c3`, outside the bench lock{
        f"; load average {_load(tuple(seeded['load']))} at its end" if "load" in seeded else ""
    }): {total:,} events in {len(seeded["per_block"]):,} blocks
({seeded["posts"]:,} posts and replies, {seeded["items"] - seeded["posts"]:,} votes, {seeded["items"]:,} `NonceUsed`),
mined by `batch()` transactions of {ITEMS_PER_BATCH} EIP-712-signed items, {BATCHES_PER_BLOCK} a block, from
{SIGNERS:,} signers, in {seeded["seeding_s"]:.0f} s. `bench/seed_anvil.py` signs directly with coincurve in
{seeded["workers"]} processes; its first two batches ({seeded["checked_items"]} items) are also built through
`backend.eip712` and web3's encoder and must match byte for byte, and the contract checks every signature.
Anvil dumped the chain to a {seeded["state_bytes"] / 2**30:.1f} GiB state file; the measuring run loaded it in
{result["load_s"]:.0f} s (Anvil's RSS then {result["anvil_rss"]:,.0f} MB).

Each engine's backfill is the real command, `python -m backend index --once`, from block 0 into an empty index,
sampled every {result["every"]:g} s from this process. MB; "start" is the first sample once the indexer has made
its tables (imports and setup done); "most" is the largest sample, with the kernel's high-water mark (VmHWM) in
brackets; the slopes are least squares over the samples from 10% (and from 50%) of the events to the end:

| process | start | after 10% | after 50% | end | most | MB per 100k events, 10%-end | 50%-end |
|---|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

{runs}

The posts' documents are not pinned (the seeding's digests are of no real document): every new post's content
is looked up once in the (empty) pin store and its CID goes into the `content_queue` table. That queue lives in the
database, not in the process: during the backfill the indexer polls it every 2 s (at most 5,000 rows read per poll,
each looked for in the pin store every 2 s, no gateway configured so nothing is fetched), and that polling is part
of what is measured here. Fetching from gateways (4 worker threads, one document at a time each) is not.
"""


def main() -> int:
    """Seed, or measure and print (and optionally write the docs section)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--chain-dir", type=Path, required=True, help="the seeded chain (anvil-state.json, seeded.json)"
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed-only", action="store_true", help="seed DIR's chain and stop (run it niced)")
    parser.add_argument("--workers", type=int, default=2, help="signing processes while seeding")
    parser.add_argument("--postgres", default="", help="also backfill into this (emptied) PostgreSQL database")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--lock", type=Path, help="hold this file's flock during each backfill (the bench lock)")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOCS}")
    parser.add_argument("--json", type=Path, help="write every sample here")
    args = parser.parse_args()
    if args.seed_only:
        record = seed_chain(args.chain_dir, args.events, args.workers)
        print(
            f"seeded {record['events']:,} events in {record['seeding_s']:.0f} s,"
            f" state dumped in {record['dump_s']:.0f} s"
        )
        return 0 if record["events"] >= args.events else 1
    result = measure(args.chain_dir, args.postgres, args.every, args.lock)
    words = ["python bench/backfill_rss.py --chain-dir DIR", *(["--postgres URL"] if args.postgres else [])]
    words += [*(["--lock /work/wt/bench.lock"] if args.lock else []), *(["--write-docs"] if args.write_docs else [])]
    if args.json:
        samples = {name: [asdict(s) for s in r["samples"]] for name, r in result["engines"].items()}
        args.json.write_text(json.dumps({"figures": {n: r["figures"] for n, r in result["engines"].items()},
                                         "samples": samples}))  # fmt: skip
    section = report(result, " ".join(words))
    print(section)
    if args.write_docs:
        write_section(SECTION, section)
    ok = all(r["stored"] == result["seeded"]["events"] for r in result["engines"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
