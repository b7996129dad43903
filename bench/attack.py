"""Attack bench: flood a local stack with refused input while other clients read; read latency and relayer cost.

    .venv/bin/python bench/attack.py [--seconds 30] [--baseline 10] [--attackers 2] [--concurrency 8]
                                     [--max-requests 100000] [--workers 1] [--database-url URL] [--write]

Starts its own stack, all on 127.0.0.1: a throwaway Ganache, a Board, and
``python -m backend serve`` (indexer inside; with ``--workers N`` > 1, the
indexer as its own process and N API workers). Seeds posts and a thread
straight on the chain, relays one valid batch, then measures two reading
clients (the front page and the thread, each on its own keep-alive connection,
one request every ``READ_PAUSE`` s) for ``--baseline`` seconds alone and then
for ``--seconds`` beside the attack: ``--attackers`` processes of
``--concurrency`` connections each, cycling through invalid relay batches
(forged signatures, expired, malformed, oversized), replays of the valid batch,
uploads (new valid documents, invalid, oversized), random-CID ``GET /ipfs/{cid}``
and thread requests, stopping at ``--seconds`` or ``--max-requests``, whichever
comes first. Prints read p50/p99 and errors without and with the attack, every
attack answer by kind and status, and the relayer's balance and transaction
count before and after (they must not move: refused input costs it nothing).
``--write`` replaces this bench's section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils.crypto import keccak
from web3 import Web3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend import limits
from backend.config import PROJECT_ROOT
from backend.content.cid import digest_hex, digest_to_cid, sha256
from backend.content.document import MAX_BYTES, encode_document
from backend.content.pins import PinStore
from backend.db.models import Base
from backend.db.session import make_engine
from backend.deployments.records import board as board_contract
from backend.devchain import Ganache, deploy_board, free_port
from backend.eip712 import sign
from bench.benchdocs import write_section

SECTION = "## Attack (bench/attack.py)"  # one section per setup: this, then ", <processes>, <database>"
HOST = "127.0.0.1"  # every socket this bench opens or listens on is on this address, nothing else
READ_PAUSE = 0.02  # seconds between one reader's requests: a reader, not a second flood
TOP_POSTS = 20
THREAD_REPLIES = 60
TARGET_P99_MS = 50.0
ATTACKER = Account.from_key(keccak(text="indelible attack bench"))
KINDS = ("relay invalid", "relay replay", "upload", "ipfs random", "car", "thread")
CAR_CIDS = 100  # GET /api/content/car's cap: each "car" request asks that many, the pinned ones and random ones


# --- the stack ----------------------------------------------------------------------------------------------


def start_app(
    data_dir: Path, rpc_url: str, database_url: str, port: int, workers: int, logs: Path
) -> list[subprocess.Popen[bytes]]:
    """``python -m backend serve`` (and, for several workers, ``index`` beside it) on ``port``."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_")},
        "INDELIBLE_DATA_DIR": str(data_dir),
        "INDELIBLE_RPC_URL": rpc_url,
        "INDELIBLE_HOST": HOST,
        "INDELIBLE_PORT": str(port),
        "INDELIBLE_START_CHAIN": "never",
        "INDELIBLE_INDEXER": "on" if workers == 1 else "off",
        **({"INDELIBLE_DATABASE_URL": database_url} if database_url else {}),
    }
    command = [sys.executable, "-m", "backend"]
    processes = []
    if workers > 1:
        with (logs / "indexer.log").open("wb") as log:
            processes.append(subprocess.Popen([*command, "index"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log))
    with (logs / "serve.log").open("wb") as log:
        serve = [*command, "serve", "--workers", str(workers)]
        processes.append(subprocess.Popen(serve, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log))
    return processes


def wait_current(base: str, posts: int, processes: list[subprocess.Popen[bytes]], seconds: float = 180) -> None:
    """Until the app answers and its index holds ``posts`` posts with their content."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("the app exited: see serve.log / indexer.log in the work directory")
        try:
            index = httpx.get(f"{base}/api/status", timeout=5).json()["index"]
            if index["current"] and index["posts"] >= posts and index["lag"] == 0:
                return
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"the index at {base} did not reach {posts} posts within {seconds:.0f} s")


def empty_database(url: str) -> None:
    """Drop the index's and the shared limits' tables: a run starts with no index and every bucket full."""
    engine = make_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        limits.METADATA.drop_all(conn)
    engine.dispose()


def seed(w3: Web3, board: Any, pins: PinStore) -> tuple[int, int]:
    """Top-level posts and a thread of replies, posted straight to the chain; returns (thread id, posts)."""
    accounts = w3.eth.accounts
    digests: dict[int, bytes] = {0: bytes(32)}  # a reply names its parent's digest (Board version 2)

    def post(n: int, parent: int, title: str | None) -> int:
        cid, _ = pins.put(
            encode_document(title, f"Seeded post {n}: some **Markdown** and a [link](https://a.example).")
        )
        digest = sha256(pins.get(cid) or b"")
        tx = board.functions.post(digest, parent, digests[parent]).transact({"from": accounts[2 + n % 10]})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        post_id = int(board.events.PostCreated().process_receipt(receipt)[0]["args"]["postId"])
        digests[post_id] = digest
        return post_id

    thread = post(0, 0, "The thread under attack")
    for n in range(1, TOP_POSTS):
        post(n, 0, f"Post {n}")
    for n in range(THREAD_REPLIES):
        post(TOP_POSTS + n, thread, None)
    return thread, TOP_POSTS + THREAD_REPLIES


def valid_batch(w3: Web3, board: Any, pins: PinStore, chain_id: int) -> dict[str, Any]:
    """A batch the relay accepts once (a post by ATTACKER); replayed after, it must be refused."""
    cid, _ = pins.put(encode_document("Relayed once", "then replayed by the attack"))
    deadline = int(w3.eth.get_block("latest")["timestamp"]) + 86_400
    nonce = int(board.functions.nonces(ATTACKER.address).call())
    message = {"author": ATTACKER.address, "digest": digest_hex(sha256(pins.get(cid) or b"")), "parentId": 0,
               "parentDigest": "0x" + "00" * 32, "nonce": nonce, "deadline": deadline}  # fmt: skip
    signature = sign(ATTACKER, "post", message, chain_id, board.address)
    return {"kind": "batch", "posts": [{**message, "signature": signature}], "votes": []}


# --- the attack ---------------------------------------------------------------------------------------------


def attack_requests(
    port: int, replay: dict[str, Any], last_post: int, rng: random.Random, pinned: list[str]
) -> dict[str, list[bytes]]:
    """Prebuilt requests per kind, so that attackers spend their time sending, not signing or encoding.

    ``pinned``: the CIDs in the node's store, which the "car" kind asks for, every one in each request (each read
    and hashed by the node), the rest of its 100 random.
    """
    post = replay["posts"][0]
    forged = {**post, "signature": "0x" + secrets.token_hex(64) + "1b"}
    expired = {**post, "deadline": 1, "signature": "0x" + secrets.token_hex(64) + "1c"}
    stranger = {**post, "author": Account.create().address}  # a real signature, by someone else
    unpinned = {**post, "digest": "0x" + secrets.token_hex(32)}
    vote = {"voter": ATTACKER.address, "postId": 1, "postDigest": "0x" + secrets.token_hex(32), "direction": 1,
            "nonce": 0, "deadline": post["deadline"], "signature": "0x" + secrets.token_hex(64) + "1b"}  # fmt: skip
    relay_invalid = [
        {"kind": "batch", "posts": [forged] * 50, "votes": [vote] * 200},
        {"kind": "batch", "posts": [expired, forged], "votes": []},
        {"kind": "batch", "posts": [stranger], "votes": [vote]},
        {"kind": "batch", "posts": [unpinned], "votes": []},
        {"kind": "batch", "posts": [forged] * 51, "votes": []},  # over the schema's cap: 422
        {"kind": "batch", "posts": [{"author": "0x12"}], "votes": "no"},
        {"kind": "post", **forged},
        {"kind": "vote", **vote},
    ]

    def body(value: Any) -> bytes:
        return json.dumps(value).encode()

    uploads = [("POST", "/api/content", encode_document(None, f"flood {i} {secrets.token_hex(8)}")) for i in range(500)]
    uploads += [
        ("POST", "/api/content", b'{"body": 1}'),
        ("POST", "/api/content", b"{" * 10_000),
        ("POST", "/api/content", encode_document(None, "x" * (MAX_BYTES + 1))),
    ]
    built = {
        "relay invalid": [("POST", "/api/relay", body(v)) for v in relay_invalid],
        "relay replay": [("POST", "/api/relay", body(replay))],
        "upload": uploads,
        "ipfs random": [("GET", f"/ipfs/{digest_to_cid(secrets.token_bytes(32))}", b"") for _ in range(500)],
        "car": [("GET", car_path(pinned, rng), b"") for _ in range(200)],
        "thread": [("GET", f"/api/posts/{rng.randint(1, last_post * 3)}", b"") for _ in range(500)],
    }
    return {kind: [raw_request(port, *request) for request in made] for kind, made in built.items()}


def car_path(pinned: list[str], rng: random.Random) -> str:
    """GET /api/content/car with CAR_CIDS CIDs: as many pinned ones as there are (shuffled), then random ones."""
    cids = rng.sample(pinned, min(len(pinned), CAR_CIDS))
    cids += [digest_to_cid(rng.randbytes(32)) for _ in range(CAR_CIDS - len(cids))]
    return "/api/content/car?" + "&".join(f"cid={cid}" for cid in cids)


def raw_request(port: int, method: str, path: str, body: bytes) -> bytes:
    """One HTTP/1.1 request as bytes, built once: attackers only write them."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += "Content-Type: application/json\r\n"
    return head.encode() + b"\r\n" + body


def attacker(port: int, requests: dict[str, list[bytes]], seconds: float, budget: int, concurrency: int,
             seed_value: int) -> dict[str, dict[int, int]]:  # fmt: skip
    """One attacking process: ``concurrency`` connections cycling the kinds until time or budget runs out.

    It runs at nice 10 and writes prebuilt requests on raw sockets: a real attacker's CPU is not ours, and on
    this shared machine every cycle an attacker spends is one the server under test does not get.
    """
    os.nice(10)
    return asyncio.run(_attack(port, requests, seconds, budget, concurrency, seed_value))


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bool]:
    """Send ``request``, read the whole answer; its status and whether the connection stays open."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length, chunked, keep = 0, False, True
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if not chunked:
        await reader.readexactly(length)
        return status, keep
    while size := int((await reader.readline()).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readline()
    return status, keep


async def _attack(port: int, requests: dict[str, list[bytes]], seconds: float, budget: int, concurrency: int,
                  seed_value: int) -> dict[str, dict[int, int]]:  # fmt: skip
    rng = random.Random(seed_value)
    counts: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
    order = [kind for kind in KINDS if kind in requests]
    stop = time.monotonic() + seconds
    sent = 0

    async def worker(offset: int) -> None:
        nonlocal sent
        turn = offset
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < stop and sent < budget:
            sent += 1
            kind = order[turn % len(order)]
            turn += 1
            try:
                if connection is None:
                    connection = await asyncio.open_connection(HOST, port)
                status, keep = await asyncio.wait_for(_exchange(*connection, rng.choice(requests[kind])), 30)
                counts[kind][status] += 1
            except (TimeoutError, OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                counts[kind][0] += 1  # no (whole) answer: counted as status 0
                keep = False
            if not keep and connection is not None:
                connection[1].close()
                connection = None
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {kind: dict(c) for kind, c in counts.items()}


# --- the readers --------------------------------------------------------------------------------------------


class Reader(threading.Thread):
    """One reading client: GET ``path`` on its own keep-alive connection until told to stop."""

    def __init__(self, port: int, path: str, budget: int) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.budget = port, path, budget
        self.samples: list[float] = []
        self.errors: Counter[str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        """Request, time, pause; reconnect after a failure (and count it)."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        while not self.stop.is_set() and len(self.samples) < self.budget:
            began = time.perf_counter()
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.errors[str(response.status)] += 1
            except (OSError, http.client.HTTPException) as exc:
                self.errors[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            self.samples.append(time.perf_counter() - began)
            time.sleep(READ_PAUSE)
        conn.close()


def read_phase(port: int, paths: dict[str, str], seconds: float, during: Any = None) -> dict[str, Any]:
    """Run one reader per path for ``seconds`` (beside ``during()``, which blocks until the attack ends)."""
    budget = int(seconds / READ_PAUSE) + 1
    readers = {name: Reader(port, path, budget) for name, path in paths.items()}
    for reader in readers.values():
        reader.start()
    result: Any = None
    if during is not None:
        result = during()
    else:
        time.sleep(seconds)
    for reader in readers.values():
        reader.stop.set()
        reader.join()
    return {"readers": {name: summary(r.samples, r.errors) for name, r in readers.items()}, "attack": result}


def summary(samples: list[float], errors: Counter[str]) -> dict[str, Any]:
    """Count, p50, p99 and max in milliseconds, and errors."""
    ordered = sorted(samples) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"n": len(samples), "p50": statistics.median(ordered) * 1000, "p99": p99 * 1000,
            "max": ordered[-1] * 1000, "errors": dict(errors)}  # fmt: skip


# --- main ---------------------------------------------------------------------------------------------------


def main() -> int:
    """Start the stack, seed it, read alone, read under attack, report (and with --write, record)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="attack length (the attack stops sooner at the budget)"
    )
    parser.add_argument("--baseline", type=float, default=10.0, help="reading alone first, for this long")
    parser.add_argument("--attackers", type=int, default=2, help="attacking processes")
    parser.add_argument("--concurrency", type=int, default=8, help="connections per attacking process")
    parser.add_argument("--max-requests", type=int, default=100_000, help="attack requests in all, at most")
    parser.add_argument("--workers", type=int, default=1, help="API processes (more than 1: the indexer runs apart)")
    parser.add_argument(
        "--database-url", default="", help="index database, EMPTIED first (default: SQLite in the work directory)"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"comma-separated attack kinds to send (default all: {', '.join(KINDS)})",
    )
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    args = parser.parse_args()
    kinds = [kind.strip() for kind in args.kinds.split(",") if kind.strip()]
    if not kinds or set(kinds) - set(KINDS):
        raise SystemExit(f"--kinds takes some of: {', '.join(KINDS)}")
    if args.seconds > 600 or args.max_requests > 1_000_000:
        raise SystemExit("bounded by design: at most 600 s and 1,000,000 requests")

    if args.database_url:
        empty_database(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="indelible-attack-"))
    data_dir = work / "data"
    data_dir.mkdir()
    processes: list[subprocess.Popen[bytes]] = []
    with Ganache(free_port(), log_path=work / "ganache.log") as node:
        try:
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
            deployment = deploy_board(w3, data_dir)
            board = board_contract(w3, deployment)
            pins = PinStore(data_dir / "content")
            thread, seeded = seed(w3, board, pins)
            port = free_port()
            base = f"http://{HOST}:{port}"
            processes = start_app(data_dir, node.url, args.database_url, port, args.workers, work)
            wait_current(base, seeded, processes)
            batch = valid_batch(w3, board, pins, deployment.chain_id)
            accepted = httpx.post(f"{base}/api/relay", json=batch, timeout=60)
            if accepted.status_code != 200:
                raise SystemExit(f"the valid batch was refused: {accepted.status_code} {accepted.text}")
            w3.eth.wait_for_transaction_receipt(accepted.json()["tx_hash"])
            wait_current(base, seeded + 1, processes)
            relayer = list(w3.eth.accounts)[1]
            before = (w3.eth.get_balance(relayer), w3.eth.get_transaction_count(relayer))
            paths = {"front page": "/api/posts", f"thread {thread} ({THREAD_REPLIES} replies)": f"/api/posts/{thread}"}

            print(f"reading alone for {args.baseline:.0f} s ...", flush=True)
            load = os.getloadavg()[0]  # the machine is shared: how busy it already was says what the numbers mean
            alone = read_phase(port, paths, args.baseline)
            built = attack_requests(port, batch, seeded + 1, random.Random(7), sorted(pins.cids()))
            requests = {k: v for k, v in built.items() if k in kinds}
            budget = args.max_requests // args.attackers
            print(f"reading under attack for up to {args.seconds:.0f} s ...", flush=True)

            def flood() -> tuple[dict[str, Counter[int]], float]:
                began = time.monotonic()
                with multiprocessing.get_context("spawn").Pool(args.attackers) as pool:
                    jobs = [(port, requests, args.seconds, budget, args.concurrency, i) for i in range(args.attackers)]
                    parts = pool.starmap(attacker, jobs)
                total: dict[str, Counter[int]] = {kind: Counter() for kind in KINDS}
                for part in parts:
                    for kind, counts in part.items():
                        total[kind].update(counts)
                return total, time.monotonic() - began

            attacked = read_phase(port, paths, args.seconds, flood)
            time.sleep(2)  # anything the relayer sent would have been mined by now (Ganache mines at once)
            after = (w3.eth.get_balance(relayer), w3.eth.get_transaction_count(relayer))
            status = httpx.get(f"{base}/api/status", timeout=10).json()["index"]
        finally:
            for process in reversed(processes):
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    report = render(args, alone, attacked, before, after, status, relayer)
    report.append(f"- Load average (1 min) as the readers began: {load:.1f} on {os.cpu_count()} cores.")
    print("\n".join(report))
    if args.write:
        write_docs(report, args, kinds)
    missed = any(r["p99"] >= TARGET_P99_MS or r["errors"] for r in attacked["readers"].values())
    return 1 if missed or before != after else 0


def render(args: Any, alone: dict[str, Any], attacked: dict[str, Any], before: tuple[int, int],
           after: tuple[int, int], status: dict[str, Any], relayer: str) -> list[str]:  # fmt: skip
    """The results as Markdown lines."""
    attack, seconds = attacked["attack"]
    sent = sum(sum(c.values()) for c in attack.values())
    lines = [
        "| reader | phase | requests | p50 ms | p99 ms | max ms | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for phase, result in (("alone", alone), ("under attack", attacked)):
        for name, r in result["readers"].items():
            errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
            lines.append(
                f"| {name} | {phase} | {r['n']:,} | {r['p50']:.2f} | {r['p99']:.2f} | {r['max']:.1f} | {errors} |"
            )
    lines += ["", "| attack kind | requests | answers (status: count) |", "| --- | ---: | --- |"]
    server_errors = 0
    for kind in KINDS:
        counts = attack[kind]
        if not counts:
            continue
        server_errors += sum(v for k, v in counts.items() if k >= 500 or k == 0)
        answers = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts.items()))
        lines.append(f"| {kind} | {sum(counts.values()):,} | {answers} |")
    worst = max(r["p99"] for r in attacked["readers"].values())
    read_errors = sum(sum(r["errors"].values()) for r in attacked["readers"].values())
    lines += [
        "",
        f"- Attack: {sent:,} requests in {seconds:.1f} s ({sent / max(seconds, 0.1):,.0f} req/s) from {args.attackers} "
        f"processes x {args.concurrency} connections; {server_errors} answered 5xx or not at all.",
        f"- Relayer {relayer}: balance {before[0]:,} wei -> {after[0]:,} wei, transactions {before[1]} -> {after[1]}: "
        + ("unchanged." if before == after else "MOVED: refused input cost the relayer."),
        f"- Index after the attack: current {status['current']}, lag {status['lag']}, {status['posts']} posts.",
        f"- Target read p99 < {TARGET_P99_MS:.0f} ms and 0 read errors under attack: "
        + ("met" if worst < TARGET_P99_MS and not read_errors else "NOT met")
        + f" (worst p99 {worst:.2f} ms, {read_errors} read errors).",
    ]
    return lines


READING = """\
Reading the numbers: no read failed; the only 5xx are the "car" kind's 503s, answered at once when both of the
process's CAR slots are taken (`backend/api/gateway.py`); refused relay input never moved the relayer's balance
or transaction count; the client's relay and upload buckets (shared store) turn nearly all of the flood into cheap
429s before a body is parsed. What raises the readers' p99 is the CPU: the attack saturates the server (its closed
loop of 16 connections sends as fast as it is answered), so a reader's request waits behind the ones queued before it,
and the two cores are shared with Ganache, the attackers and, on this machine, other engineers' test runs (the load
average line). On 2026-12-07, the day the "car" kind came in, the five kinds before it (`--kinds` naming them) gave
a worst p99 of 61-70 ms at 540-600 attack requests a second in two runs (the run recorded before, 35 ms at 1,030 a
second, was on a faster host). A flood of CARs alone (`--kinds car`) first gave 1,255-1,358 ms p99 against 198-283
for a flood of random `/ipfs/` misses (`--kinds "ipfs random"`): the CARs' files were read in worker threads (two
at a time, the rest 503), which under the flood waited for the GIL behind the busy event loop after every read
(CPython's convoy), and the stalls reached other requests (with the server profiled: readers' p50 20 ms, p99 0.9-1.2
s). Now a process reads at most 2,000 CAR files a second, on the event loop, and a CAR past that is answered 503
before any file is read: a flood of CARs alone gives 283-334 ms p99, against 177-230 for `/ipfs/` misses run right
after it. A `GET /api/content/car` of 100 CIDs costs the server 1.9-2.8 ms of CPU when served, against 0.6-0.9
for an `/ipfs/` request (measured apart, one client). Split by kind (`--kinds "ipfs random,thread"`: reads only;
`--kinds "relay invalid,relay replay,upload"`: refused writes only, each a shared-store write), either half alone
raised p99 about as much before the "car" kind: it is the request rate and each request's cost. The app cannot
tell a reader from an attacker on one address; per-client connection and request limits in a reverse proxy in front
of it, and more cores for `serve --workers N`, are what keep reads fast under a flood (docs/threat-model.md)."""


def write_docs(report: list[str], args: Any, kinds: list[str]) -> None:
    """Replace this bench's section of docs/benchmarks.md (other sections stay as they are)."""
    command = (
        f".venv/bin/python bench/attack.py --seconds {args.seconds:.0f} --baseline {args.baseline:.0f} "
        f"--attackers {args.attackers} --concurrency {args.concurrency} --max-requests {args.max_requests} "
        f"--workers {args.workers}"
        + (" --database-url <PostgreSQL>" if args.database_url else "")
        + (f" --kinds {','.join(kinds)}" if kinds != list(KINDS) else "")
        + " --write"
    )
    database = "PostgreSQL" if args.database_url else "SQLite"
    title = f"{SECTION}, {args.workers} API process{'es' if args.workers > 1 else ''}, {database}"
    title += f", {' + '.join(kinds)} only" if kinds != list(KINDS) else ""
    section = "\n".join(
        [
            title,
            "",
            f"Command: `{command}` (2 cores shared by the app, Ganache, the attackers and the readers; {database}; "
            f"{args.workers} API process{'es' if args.workers > 1 else ''}). Everything on 127.0.0.1.",
            "",
            f"Two readers, each on its own keep-alive connection with a {READ_PAUSE * 1000:.0f} ms pause between "
            f"requests, read the front page and a thread of {THREAD_REPLIES} replies, first alone and then while "
            "the attackers cycle through invalid relay batches (forged signatures, expired, by a stranger, "
            "unpinned content, over the schema's caps, malformed), replays of a batch relayed once, uploads (new "
            "valid documents, invalid and oversized ones), random-CID `GET /ipfs/{cid}` and thread requests. "
            "Attackers write prebuilt requests on raw sockets at nice 10: a real attacker's CPU is not the "
            "server's, here it is.",
            "",
            *report,
            "",
            READING,
            "",
            "",
        ]
    )
    write_section(title, section)


if __name__ == "__main__":
    sys.exit(main())
