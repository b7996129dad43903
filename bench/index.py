"""Indexer benchmark: full backfill rate against the bare eth_getLogs rate on the same chain.

Seeds a fresh Ganache with >= 20,000 Board events through ``batch()`` of
EIP-712-signed posts and votes (each signed item emits its event plus
``NonceUsed``), then times full backfills, each into a fresh SQLite index (and a
fresh PostgreSQL index with ``--postgres URL``), and, in the same run, fetching the
very same block ranges with eth_getLogs alone (the indexer's topics filter, no
decoding, no database). Both sides count every log fetched: PostCreated, VoteCast
and NonceUsed (the index stores all three). Rounds of one backfill per engine and one
fetch-only pass are run ``--runs`` times (3), interleaved so the machine's load falls on
each alike; the best of each counts. The ratio of the two rates is the figure (target >= 0.8):
the bare rate is logs fetched per second by eth_getLogs alone over the backfill's own ranges,
through the indexer's own JSON-RPC client (HTTP and JSON parsing included, nothing else).
The CPU seconds each side spends (this process, Ganache, and the PostgreSQL server processes
of the bench database) are measured too: on a busy machine they say what wall time cannot.
The indexer's resident memory is sampled while each backfill runs.

    python bench/index.py [--events 20000] [--chain-dir DIR] [--postgres URL] [--runs 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil
from eth_account import Account
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from web3 import Web3

from backend.config import Settings
from backend.content.cid import sha256
from backend.db.models import NonceEvent
from backend.deployments.records import board as board_contract
from backend.devchain import Ganache, deploy_board, free_port
from backend.eip712 import sign, split_signature
from backend.indexer.decode import TOPICS
from backend.indexer.rpc import Rpc
from backend.indexer.runner import Indexer
from bench.benchdocs import DOCS, write_section

SECTION = "## Indexer (bench/index.py)"
ITEMS_PER_BATCH = 150
SIGNERS = 40
DEADLINE = 2**40
RUNS = 3  # backfill and fetch-only are each timed this many times (--runs); the best run counts


def deploy(w3: Web3, data_dir: Path) -> Any:
    """Deploy Board from the brownie artifact and record it where the indexer looks."""
    deployment = deploy_board(w3, data_dir)
    return board_contract(w3, deployment)


def _sign(account: Any, kind: str, message: dict[str, Any], chain_id: int, contract: str) -> tuple[int, bytes, bytes]:
    return split_signature(sign(account, kind, message, chain_id, contract))


def seed(w3: Web3, board: Any, events_wanted: int) -> tuple[int, float]:
    """Send batches until the chain holds ``events_wanted`` events; returns (events, seconds signing)."""
    rng = random.Random(7)
    signers = [Account.from_key(sha256(f"bench signer {i}".encode())) for i in range(SIGNERS)]
    nonces = dict.fromkeys((s.address for s in signers), 0)
    chain_id = w3.eth.chain_id
    items = events_wanted // 2 + 1  # every signed item emits two events
    n_posts = items * 35 // 100
    post_count, events, sign_s = 0, 0, 0.0
    made_posts = made_votes = 0
    sender = ThreadPoolExecutor(max_workers=1)
    pending: Future[Any] | None = None
    while made_posts + made_votes < items:
        posts, votes = [], []
        started = time.perf_counter()
        size = min(ITEMS_PER_BATCH, items - made_posts - made_votes)
        # a batch applies its posts before its votes, so each signer's post nonces come first
        n_batch_posts = min(n_posts - made_posts, size if post_count == 0 else size * 35 // 100)
        for _ in range(n_batch_posts):
            signer = rng.choice(signers)
            nonce, nonces[signer.address] = nonces[signer.address], nonces[signer.address] + 1
            parent = 0 if post_count == 0 or rng.random() < 0.4 else rng.randint(1, post_count)
            digest = sha256(f"post {made_posts}".encode())
            parent_digest = _seed_digest(parent)
            message = {
                "author": signer.address,
                "digest": digest,
                "parentId": parent,
                "parentDigest": parent_digest,
                "nonce": nonce,
                "deadline": DEADLINE,
            }
            posts.append(
                (
                    signer.address,
                    digest,
                    parent,
                    parent_digest,
                    nonce,
                    DEADLINE,
                    *_sign(signer, "post", message, chain_id, board.address),
                )
            )
            made_posts += 1
        for _ in range(size - n_batch_posts if post_count else 0):
            signer = rng.choice(signers)
            nonce, nonces[signer.address] = nonces[signer.address], nonces[signer.address] + 1
            post_id, direction = rng.randint(1, post_count), rng.choice((1, 1, -1, 0))
            message = {
                "voter": signer.address,
                "postId": post_id,
                "postDigest": _seed_digest(post_id),
                "direction": direction,
                "nonce": nonce,
                "deadline": DEADLINE,
            }
            votes.append(
                (
                    signer.address,
                    post_id,
                    _seed_digest(post_id),
                    direction,
                    nonce,
                    DEADLINE,
                    *_sign(signer, "vote", message, chain_id, board.address),
                )
            )
            made_votes += 1
        sign_s += time.perf_counter() - started
        # Ganache mines the previous batch while we sign this one (signing holds the GIL, waiting does not)
        if pending is not None:
            events += _receipt_events(pending.result())
        pending = sender.submit(_send_batch, w3, board, posts, votes)
        post_count += len(posts)
    if pending is not None:
        events += _receipt_events(pending.result())
    sender.shutdown()
    return events, sign_s


def _seed_digest(post_id: int) -> bytes:
    """The digest the seeding gave post ``post_id`` (its (id - 1)-th post), zero for id 0."""
    return sha256(f"post {post_id - 1}".encode()) if post_id else bytes(32)


def _send_batch(w3: Web3, board: Any, posts: list[Any], votes: list[Any]) -> Any:
    return w3.eth.wait_for_transaction_receipt(board.functions.batch(posts, votes).transact({"gas": 29_000_000}))


def _receipt_events(receipt: Any) -> int:
    if receipt["status"] != 1:
        raise RuntimeError("a seeding batch reverted")
    return len(receipt["logs"])


def _recording(get_logs: Any, ranges: list[tuple[int, int]], lock: threading.Lock) -> Any:
    def recording(address: str, start: int, end: int) -> list[dict[str, Any]]:
        logs: list[dict[str, Any]] = get_logs(address, start, end)
        with lock:
            ranges.append((start, end))
        return logs

    return recording


def fetch_only(
    rpc: Rpc, address: str, ranges: list[tuple[int, int]], node: Ganache | None = None
) -> tuple[int, float, dict[str, float]]:
    """eth_getLogs over ``ranges`` with nothing else; returns (logs, seconds, CPU seconds by process)."""
    with CpuMeter(node) as cpu:
        started = time.perf_counter()
        logs = sum(len(rpc.get_logs(address, start, end)) for start, end in ranges)
        seconds = time.perf_counter() - started
    return logs, seconds, cpu.spent


class CpuMeter:
    """CPU seconds (user + system) spent while the block runs by this process, the chain node and, given its
    database name, the PostgreSQL server processes serving that database (their process titles name it)."""

    def __init__(self, node: Ganache | None, database: str = "") -> None:
        self.node_pid = node.process.pid if node is not None and node.process is not None else None
        self.database = database
        self.spent: dict[str, float] = {}
        self._before: dict[tuple[str, int], float] = {}

    def _sample(self) -> dict[tuple[str, int], float]:
        found: dict[tuple[str, int], float] = {}

        def add(role: str, process: Any) -> None:
            try:
                times = process.cpu_times()
            except psutil.Error:
                return
            found[(role, process.pid)] = times.user + times.system

        add("indexer", psutil.Process())
        if self.node_pid is not None:
            node = psutil.Process(self.node_pid)
            for process in [node, *node.children(recursive=True)]:
                add("node", process)
        if self.database:
            for process in psutil.process_iter(["cmdline"]):
                title = " ".join(process.info["cmdline"] or [])
                if title.startswith("postgres: ") and f" {self.database} " in title:
                    add("postgres", process)
        return found

    def __enter__(self) -> CpuMeter:
        self._before = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        for (role, pid), seconds in self._sample().items():
            self.spent[role] = self.spent.get(role, 0.0) + seconds - self._before.get((role, pid), 0.0)


def run(
    events_wanted: int, chain_dir: Path | None, postgres_url: str, profile: Path | None, runs: int = RUNS
) -> dict[str, Any]:
    """Seed (or reuse a seeded ``chain_dir``), fetch, index, fetch again; return the figures."""
    logging.basicConfig(level=logging.WARNING)
    seeded_path = chain_dir / "seeded.json" if chain_dir else None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        node = Ganache(free_port(), db_path=chain_dir / "ganache" if chain_dir else None).start()
        try:
            return _measure(node, data_dir, events_wanted, seeded_path, postgres_url, profile, runs)
        finally:
            node.stop()


def _measure(
    node: Ganache,
    data_dir: Path,
    events_wanted: int,
    seeded_path: Path | None,
    postgres_url: str,
    profile: Path | None,
    runs: int,
) -> dict[str, Any]:
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 300}))
    w3.eth.default_account = w3.eth.accounts[0]
    if seeded_path is not None and seeded_path.exists():
        seeded = json.loads(seeded_path.read_text())
        (data_dir / "deployments.json").write_text(json.dumps(seeded["deployments"]))
        address = seeded["deployments"]["deployments"][0]["address"]
    else:
        board = deploy(w3, data_dir)
        address = board.address
        started = time.perf_counter()
        events, sign_s = seed(w3, board, events_wanted)
        seeded = {"events": events, "sign_s": sign_s, "seeding_s": time.perf_counter() - started}
        if seeded_path is not None:
            seeded["deployments"] = json.loads((data_dir / "deployments.json").read_text())
            seeded_path.write_text(json.dumps(seeded))
    events, head = seeded["events"], w3.eth.block_number
    rpc = Rpc(node.url, timeout=300, log_topics=TOPICS)  # the logs the indexer asks for
    warm_logs, _, _ = fetch_only(rpc, address, [(0, head)])  # warm Ganache's caches for both runs
    engines = {"SQLite": "", **({"PostgreSQL": postgres_url} if postgres_url else {})}
    backfills: dict[str, list[Backfill]] = {name: [] for name in engines}
    fetch_runs: list[tuple[int, float, dict[str, float]]] = []
    # interleaved rounds: each engine's backfill from an empty index, then the fetch-only pass over its ranges
    for i in range(runs):
        for name, url in engines.items():
            run_profile = profile.with_name(f"{profile.stem}-{name}{profile.suffix}") if profile and i == 0 else None
            backfills[name].append(_backfill(node, data_dir / f"run{i}-{name}", data_dir / "deployments.json", url,
                                             run_profile))  # fmt: skip
        fetch_runs.append(fetch_only(rpc, address, backfills["SQLite"][0].ranges, node))
    rpc.close()
    fetched, fetch_s, fetch_cpu = min(fetch_runs, key=lambda run: run[1])
    result: dict[str, Any] = {
        "events": events,
        "blocks": head,
        "seeding_s": seeded["seeding_s"],
        "sign_s": seeded["sign_s"],
        "fetch_s": fetch_s,
        "fetch_runs": [run[1] for run in fetch_runs],
        "fetched_logs": fetched,
        "warm_logs": warm_logs,
        "ranges": len(backfills["SQLite"][0].ranges),
        "fetch_rate": fetched / fetch_s,
        "fetch_cpu": fetch_cpu,
        "fetch_cpu_least": min(sum(run[2].values()) for run in fetch_runs),
        "runs": runs,
        "engines": {},
    }
    for name, timed in backfills.items():
        best = min(timed, key=lambda run: run.seconds)
        stored = best.summary["posts"] + best.summary["vote_events"] + best.summary["nonces"]
        result["engines"][name] = {
            "index_s": best.seconds,
            "index_runs": [run.seconds for run in timed],
            "index_rate": stored / best.seconds,
            "stored": stored,
            "rss": best.rss,
            "cpu": best.cpu,
            "cpu_least": min(sum(run.cpu.values()) for run in timed),
            "gc_s": best.gc_s,
            **best.summary,
        }
    return result


@dataclass
class Backfill:
    """One timed backfill: seconds, the ranges it read, the index's counts and the RSS samples (MB)."""

    seconds: float
    ranges: list[tuple[int, int]]
    summary: dict[str, Any]
    rss: list[float]
    cpu: dict[str, float]
    gc_s: float = 0.0  # this process's garbage collections while the backfill ran (they hold the GIL)


def _backfill(node: Ganache, data_dir: Path, deployments: Path, database_url: str, profile: Path | None) -> Backfill:
    """One full backfill into a fresh index (SQLite in ``data_dir``, or the emptied PostgreSQL ``database_url``)."""
    data_dir.mkdir()
    (data_dir / "deployments.json").write_text(deployments.read_text())
    if database_url:
        reset_database(database_url)
    settings = Settings(
        data_dir=data_dir, rpc_url=node.url, database_url=database_url, start_chain=False, contract_address="",
        confirmations=0, ipfs_gateways=[], ipfs_api_url="",
    )  # fmt: skip
    indexer = Indexer(settings)
    ranges: list[tuple[int, int]] = []
    lock = threading.Lock()
    for client in (indexer.rpc, indexer._reader_rpc):  # the indexer reads ahead on a second connection
        client.get_logs = _recording(client.get_logs, ranges, lock)  # type: ignore[method-assign]
    sampler = RssSampler()
    cpu = CpuMeter(node, make_url(database_url).database or "" if database_url else "")
    profiler = cProfile.Profile() if profile else None
    with sampler, cpu, GcTimer() as collections:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        indexer.run(once=True)
        if profiler:
            profiler.disable()
        index_s = time.perf_counter() - started
    if profiler and profile:
        profiler.dump_stats(profile)
    indexer.close()
    summary = indexer_summary(indexer)
    indexer.engine.dispose()
    return Backfill(index_s, sorted(ranges), summary, sampler.samples, cpu.spent, collections.seconds)


class GcTimer:
    """Seconds this process spends in the garbage collector while the block runs (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


class RssSampler:
    """This process's resident set size (MB) every ``every`` seconds while the block runs, and once at each end."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._process = psutil.Process()

    def _sample(self) -> None:
        self.samples.append(self._process.memory_info().rss / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def reset_database(url: str) -> None:
    """Drop every table of the PostgreSQL bench database: the backfill starts from an empty index."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for name in inspect(conn).get_table_names():  # names from the catalogue
            conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    engine.dispose()


def indexer_summary(indexer: Indexer) -> dict[str, Any]:
    from backend.db.stats import index_summary

    summary = index_summary(indexer.engine)
    with indexer.engine.connect() as conn:
        nonces = conn.execute(select(func.count()).select_from(NonceEvent)).scalar_one()
    return {
        "posts": summary["posts"],
        "vote_events": summary["vote_events"],
        "nonces": nonces,
        "indexed_block": summary["indexed_block"],
    }


def _rss(samples: list[float]) -> str:
    return f"{samples[0]:.0f} MB at the start, {max(samples):.0f} MB at most, {samples[-1]:.0f} MB at the end"


def _cpu(spent: dict[str, float]) -> str:
    return ", ".join(f"{role} {seconds:.2f}" for role, seconds in sorted(spent.items()))


def report(r: dict[str, Any], load: str, command: str = "python bench/index.py --postgres URL --write-docs") -> str:
    """The markdown section for docs/benchmarks.md."""
    first = next(iter(r["engines"].values()))
    rows = "\n".join(
        f"| full backfill into a fresh {name} index ({r['ranges']} ranges, best of {r['runs']}) | {e['stored']:,} "
        f"| {e['index_s']:.2f} | {e['index_rate']:,.0f} | **{e['index_rate'] / r['fetch_rate']:.2f}** |"
        for name, e in r["engines"].items()
    )
    runs = "; ".join(f"{name} {', '.join(f'{s:.2f}' for s in e['index_runs'])} s" for name, e in r["engines"].items())
    rss = "; ".join(f"{name}: {_rss(e['rss'])} ({len(e['rss'])} samples)" for name, e in r["engines"].items())
    collected = ", ".join(f"{name} {e['gc_s']:.2f} s" for name, e in r["engines"].items())
    cpu_rows = "\n".join(
        f"| backfill, {name} | {_cpu(e['cpu'])} | {sum(e['cpu'].values()):.2f} | {e['cpu_least']:.2f} "
        f"| **{r['fetch_cpu_least'] / e['cpu_least']:.2f}** |"
        for name, e in r["engines"].items()
    )
    return f"""{SECTION}

Command: `{command}` (run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine:
Ganache 7.9.2, SQLite and PostgreSQL 15 indexes, Python 3.11; load average {load} on 2 cores, shared with other work).

The chain was seeded with {r["events"]:,} events in {r["blocks"]} blocks ({first["posts"]:,} posts and replies,
{first["vote_events"]:,} votes, {first["nonces"]:,} `NonceUsed`, one per signed item) by `batch()` transactions of
{ITEMS_PER_BATCH} EIP-712-signed items: seeding took {r["seeding_s"]:.0f} s ({r["sign_s"]:.0f} s of it signing in
Python, overlapped with Ganache mining the previous batch).

| measure | logs | seconds | logs/s | ratio to eth_getLogs |
|---|---:|---:|---:|---:|
{rows}
| eth_getLogs alone, same ranges (best of {r["runs"]}) | {r["fetched_logs"]:,} | {r["fetch_s"]:.2f} \
| {r["fetch_rate"]:,.0f} | 1 |

Target: ratio >= 0.8. Both sides count the same logs: every log the indexer's topics filter asks for
(PostCreated, VoteCast and NonceUsed, all three stored: `NonceUsed` fills the `nonces` table that `/api/nonces`
answers from since stop 17), and the fetch-only passes use the very same filter and ranges. The rounds are
interleaved (one backfill per engine, then one fetch-only pass, {r["runs"]} times) so a burst of load falls on every
side alike; the best of each counts (backfills: {runs}; fetch-only: {", ".join(f"{s:.2f}" for s in r["fetch_runs"])} s).
Each backfill starts from an empty index in a data dir (and, for PostgreSQL, an emptied database) of its own.
The backfill includes fetching, decoding, mapping, writing the rows, deriving tallies, rankings, the default
lens's counted tallies, reply counts, current votes, first activity and nonces, and committing each range with
its checkpoint; the next range is fetched and decoded on a second connection while the current one is written.

CPU seconds (user + system) spent while each side ran: by the bench's Python process (the indexer, or the bare
fetch loop), by Ganache, and by the PostgreSQL server processes serving the bench database. On a machine whose
cores are all busy, wall time is mostly waiting for a core; the CPU each side needs is what load does not change:

| side | CPU s by process (best run by time) | total | least of {r["runs"]} runs | ratio by CPU (least) |
|---|---|---:|---:|---:|
{cpu_rows}
| eth_getLogs alone | {_cpu(r["fetch_cpu"])} | {sum(r["fetch_cpu"].values()):.2f} | {r["fetch_cpu_least"]:.2f} | 1 |

The indexer's resident memory, sampled every 50 ms during the best backfill: {rss}.
Garbage collection in the indexer's process during the best backfill (`gc.callbacks`): {collected}.
"""


def write_docs(section: str) -> None:
    """Replace only this benchmark's section of docs/benchmarks.md."""
    write_section(SECTION, section)


def main() -> int:
    """Run, print, optionally write the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in {DOCS}")
    parser.add_argument("--chain-dir", type=Path, help="keep the seeded chain here and reuse it on later runs")
    parser.add_argument("--postgres", default="", help="also backfill into this (emptied) PostgreSQL database")
    parser.add_argument("--profile", type=Path, help="cProfile the first backfill of each engine to this .prof path")
    parser.add_argument("--runs", type=int, default=RUNS, help="rounds of backfills and fetch-only passes")
    args = parser.parse_args()
    result = run(args.events, args.chain_dir, args.postgres, args.profile, args.runs)
    load = ", ".join(f"{x:.0f}" for x in os.getloadavg())
    words = ["python", "bench/index.py"]
    for name in ("events", "chain_dir", "postgres", "runs"):
        value = getattr(args, name)
        if value:
            words += [
                f"--{name.replace('_', '-')}",
                "URL" if name == "postgres" else "DIR" if name == "chain_dir" else str(value),
            ]
    section = report(result, load, " ".join(words + (["--write-docs"] if args.write_docs else [])))
    print(section)
    if args.write_docs:
        write_docs(section)
    return 0 if result["events"] >= args.events else 1


if __name__ == "__main__":
    sys.exit(main())
