"""Scale benchmark: an index of N posts and replies (3 votes each), then reads at that size.

    .venv/bin/python bench/scale.py --posts 1000000 [--database-url postgresql+psycopg://...] [--fill store_range]
        [--rounds 25] [--incremental 5000] [--json FILE] [--write-docs]

The chain's events are made here, decoded already (PostCreated, VoteCast and one NonceUsed per signed item, as
``batch()`` emits them), in ranges of RANGE_BLOCKS blocks. Content is real documents (``encode_document``: a
title, a topic for some threads, a body of Zipf-drawn words) read through the indexer's own ``content_fields``.

Fill, ``--fill bulk`` (the default): bench/scale_bulk.py works out the rows the indexer's transactions would
leave and writes them with COPY (PostgreSQL) or executemany (SQLite), indexes dropped and made again after;
tests/backend/test_scale_bulk.py checks on both engines that it leaves exactly the rows ``store_range`` leaves.
``--fill store_range``: each range goes through ``backend.indexer.store.store_range`` and ``checkpoint.advance``
in one transaction, the very calls of the indexer's step after its fetch and decode (about 500 events/s here).
Nothing but eth_getLogs and decoding is left out (bench/index.py measures those). The filler's resident memory
is sampled per range.

Then, on the filled index: ``serve``'s cold start (process start to the first 200 of the front page), 8 concurrent
readers over every read route (feeds in every sort and lens, deep feed and thread pages, author, inbox, topic,
search for common and rare words) with p50/p99 per route, each process's memory, the incremental indexing rate
at that size (more ranges through ``store_range``), and the size on disk of every table and index.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
from eth_utils.address import to_checksum_address
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.content.cid import digest_to_cid, sha256
from backend.content.document import encode_document
from backend.db.session import ensure_schema, make_engine
from backend.devchain import free_port
from backend.indexer import checkpoint, store
from backend.indexer.content_sync import content_fields
from backend.indexer.decode import Event, LogPosition, NonceUsed, PostCreated, VoteCast
from backend.indexer.fetch import RangeBatch
from bench import scale_bulk
from bench.api import Client, drop_tables, percentiles, serve
from bench.benchdocs import DOCS

SECTION = "## Scale (bench/scale.py)"
RANGE_BLOCKS = 20
ITEMS_PER_BLOCK = 150  # one batch() of signed items per block, as bench/index.py seeds
VOTES_PER_POST = 3
AUTHORS = 5_000
VOTERS = 20_000
TOPICS = [f"topic{i}" for i in range(40)]
VOCABULARY = [f"w{i}" for i in range(5000)]
CUM_WEIGHTS = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
WORD_POOL = 1 << 20  # Zipf-drawn words once; a body is a slice of them at a random offset (drawing is slow)
READERS = 8
ALONE_TIMES = 10  # requests of each route by one reader alone, before the 8 (after as many to warm it)
# the thread that gathers 1% of all replies (Chain._parent)
BIG_THREAD = "SELECT root_id FROM posts WHERE depth > 0 GROUP BY root_id ORDER BY COUNT(*) DESC, root_id LIMIT 1"
YEAR = 365 * 86_400


def _address(i: int) -> str:
    return to_checksum_address(f"0x{sha256(i.to_bytes(8, 'big'))[:20].hex()}")


@dataclass
class Chain:
    """The made-up chain's state as the contract would keep it: what the next events must say."""

    posts: int = 0
    block: int = 0
    start_time: int = 0
    big_root: int = 0
    missing_every: int = 0  # every n-th post's document is left out (content missing, queued)
    invalid_every: int = 0  # every n-th reply's document has a title (invalid for a reply)

    def __post_init__(self) -> None:
        self.rng = random.Random(7)
        self.words = self.rng.choices(VOCABULARY, cum_weights=CUM_WEIGHTS, k=WORD_POOL)
        self.authors = [_address(i) for i in range(AUTHORS)]
        self.voters = [_address(AUTHORS + i) for i in range(VOTERS)]
        self.nonces = [0] * (AUTHORS + VOTERS)
        self.up: list[int] = [0]
        self.down: list[int] = [0]
        self.votes_on: list[int] = [0]
        self.parent: list[int] = [0]
        self.depth: list[int] = [0]

    @classmethod
    def from_index(cls, url: str) -> Chain:
        """The chain an index filled by this bench stands for, to go on from it (tallies, threads, nonces, blocks)."""
        engine = make_engine(url)
        chain = cls()
        chain.rng = random.Random(8)  # other draws than the fill's; the state below is what must carry on
        with engine.connect() as conn:
            chain.block = int(conn.execute(text("SELECT value FROM meta WHERE key = 'indexed_block'")).scalar_one())
            for pid, parent, depth, up, down, created, block in conn.execute(
                text("SELECT id, parent_id, depth, upvotes, downvotes, created_at, block_number FROM posts ORDER BY id")
            ):
                if pid != chain.posts + 1:
                    raise ValueError(f"post ids of {url} are not 1..n: not an index this bench filled")
                chain.posts = pid
                chain.parent.append(parent or 0)
                chain.depth.append(depth)
                chain.up.append(up)
                chain.down.append(down)
                chain.votes_on.append(up + down)
                chain.start_time = created - block * 12
            signers = {address: i for i, address in enumerate(chain.authors + chain.voters)}
            for signer, nonce in conn.execute(text("SELECT signer, MAX(nonce) FROM nonces GROUP BY signer")):
                chain.nonces[signers[signer]] = nonce + 1
            chain.big_root = conn.execute(text(BIG_THREAD)).scalar_one()
        engine.dispose()
        return chain

    def range(self, blocks: int, posts_wanted: int) -> tuple[RangeBatch, dict[str, bytes]]:
        """The next ``blocks`` blocks' events (at most ``posts_wanted`` posts), and their documents by CID."""
        events: list[Event]
        rng, events, documents, headers = self.rng, [], {}, {}
        start = self.block + 1
        for _ in range(blocks):
            self.block += 1
            block, index = self.block, 0
            block_hash, tx = f"0x{sha256(b'b' + block.to_bytes(8, 'big')).hex()}", f"0x{block:064x}"
            headers[block] = {
                "hash": block_hash,
                "parentHash": f"0x{sha256(b'b' + (block - 1).to_bytes(8, 'big')).hex()}",
                "timestamp": hex(self.start_time + block * 12),
            }
            n_posts = min(posts_wanted, ITEMS_PER_BLOCK // (1 + VOTES_PER_POST) if self.posts else ITEMS_PER_BLOCK)
            posts_wanted -= n_posts
            for _ in range(n_posts):
                self.posts += 1
                post_id = self.posts
                who = rng.randrange(AUTHORS)
                parent = 0 if post_id == 1 or rng.random() < 0.3 else self._parent(post_id)
                depth = self.depth[parent] + 1 if parent else 0
                self.parent.append(parent)
                self.depth.append(depth)
                self.up.append(0)
                self.down.append(0)
                self.votes_on.append(0)
                offset = rng.randrange(WORD_POOL - 80)
                words = self.words[offset : offset + rng.randint(8, 80)]
                title = None if parent else " ".join(words[:6]).capitalize()
                if parent and self.invalid_every and post_id % self.invalid_every == 0:
                    title = "A reply with a title"
                topic = None if parent or rng.random() < 0.5 else rng.choice(TOPICS)
                data = encode_document(title, f"Post {post_id} says " + " ".join(words), topic)
                digest = sha256(data)
                if not (self.missing_every and post_id % self.missing_every == 0):
                    documents[digest_to_cid(digest)] = data
                at = LogPosition(block, block_hash, tx, index)
                events.append(PostCreated(at, post_id, parent, self.authors[who], digest))
                events.append(
                    NonceUsed(LogPosition(block, block_hash, tx, index + 1), self.authors[who], self._nonce(who))
                )
                index += 2
            if not self.posts:
                continue
            for _ in range(n_posts * VOTES_PER_POST):
                post_id = self._voted_post()
                k = self.votes_on[post_id]
                self.votes_on[post_id] = k + 1
                voter = (post_id * 7919 + k) % VOTERS  # a new (post, voter) pair for each of a post's votes
                direction = 1 if rng.random() < (0.3 if post_id % 97 == 0 else 0.75) else -1
                if direction > 0:
                    self.up[post_id] += 1
                else:
                    self.down[post_id] += 1
                at = LogPosition(block, block_hash, tx, index)
                address = self.voters[voter]
                events.append(VoteCast(at, post_id, address, direction, self.up[post_id], self.down[post_id]))
                events.append(
                    NonceUsed(LogPosition(block, block_hash, tx, index + 1), address, self._nonce(AUTHORS + voter))
                )
                index += 2
        return RangeBatch(start, self.block, headers[self.block]["hash"], headers, events), documents

    def _parent(self, post_id: int) -> int:
        rng = self.rng
        if self.big_root == 0 and post_id > 100:
            self.big_root = post_id - 1 if self.parent[post_id - 1] == 0 else 1
        if self.big_root and rng.random() < 0.01:
            return self.big_root  # one thread gathers 1% of all replies: deep thread pages
        # most replies go to recent posts, a reply to a reply half the time
        candidate = rng.randint(max(1, post_id - 5000), post_id - 1)
        return candidate if self.depth[candidate] < 12 else self.parent[candidate]

    def _voted_post(self) -> int:
        rng = self.rng
        if rng.random() < 0.7:
            return rng.randint(max(1, self.posts - 20_000), self.posts)  # recent posts draw most votes
        return rng.randint(1, self.posts)

    def _nonce(self, signer: int) -> int:
        nonce = self.nonces[signer]
        self.nonces[signer] = nonce + 1
        return nonce


def fill(url: str, chain: Chain, posts: int, progress: bool = True) -> dict[str, Any]:
    """Index ``posts`` more posts (and their votes) through store_range; returns seconds, events and RSS samples."""
    engine = make_engine(url)
    ensure_schema(engine)
    me = psutil.Process()
    rss: list[tuple[int, float]] = []
    events = 0
    started = time.perf_counter()
    last_print = started
    target = chain.posts + posts
    while chain.posts < target:
        batch, documents = chain.range(RANGE_BLOCKS, target - chain.posts)

        def lookup(cid: str, is_reply: bool, documents: dict[str, bytes] = documents) -> dict[str, Any]:
            return content_fields(documents.get(cid), is_reply)

        with engine.begin() as conn:
            store.store_range(conn, batch, lookup)
            checkpoint.advance(conn, batch.headers, batch.end, batch.end_hash)
        events += len(batch.events)
        rss.append((chain.posts, me.memory_info().rss / 2**20))
        if progress and time.perf_counter() - last_print > 30:
            last_print = time.perf_counter()
            rate = events / (last_print - started)
            print(
                f"  {chain.posts:,} posts, {events:,} events, {rate:,.0f} events/s, RSS {rss[-1][1]:.0f} MB",
                flush=True,
            )
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {"seconds": seconds, "events": events, "rate": events / seconds, "rss": rss}


def sizes(url: str) -> list[tuple[str, str, int]]:
    """(kind, name, bytes) of every table and index, largest first."""
    engine = make_engine(url)
    rows: Sequence[Sequence[Any]]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT CASE c.relkind WHEN 'i' THEN 'index' ELSE 'table' END, c.relname,"
                    " pg_relation_size(c.oid) + CASE c.relkind WHEN 'r' THEN"
                    " COALESCE(pg_total_relation_size(c.reltoastrelid), 0) ELSE 0 END"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
                )
            ).all()
        else:
            kinds: dict[str, str] = dict(conn.execute(text("SELECT name, type FROM sqlite_master")).all())
            try:
                rows = [
                    (kinds.get(name, "index"), name, size)
                    for name, size in conn.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")).all()
                ]
            except Exception:  # SQLite built without dbstat: the file alone
                path = make_url(url).database or ""
                rows = [("file", Path(path).name, os.path.getsize(path))]
    engine.dispose()
    return sorted(((str(k), str(n), int(s)) for k, n, s in rows), key=lambda r: -r[2])


def routes(url: str) -> dict[str, str]:
    """Every read route, named, with arguments that make it work at this size."""
    engine = make_engine(url)
    with engine.connect() as conn:
        posts = conn.execute(text("SELECT MAX(id) FROM posts")).scalar_one()
        big = conn.execute(text(BIG_THREAD)).scalar_one()
        author = conn.execute(text("SELECT author FROM posts GROUP BY author ORDER BY COUNT(*) DESC LIMIT 1")).scalar()
        # the most replied-to author (until stop 24: the first with any reply, at 10M one with a light inbox)
        replied = conn.execute(
            text("SELECT recipient FROM inbox GROUP BY recipient ORDER BY COUNT(*) DESC, recipient LIMIT 1")
        ).scalar()
        voter, voted = conn.execute(text("SELECT voter, post_id FROM votes LIMIT 1")).one()
    engine.dispose()
    paths = {}
    for lens in ("default", "all"):
        for sort in ("hot", "new", "top", "controversial"):
            paths[f"feed {sort}, lens {lens}"] = f"/api/posts?{urlencode({'sort': sort, 'lens': lens})}"
    paths["feed top, week"] = "/api/posts?sort=top&window=week"
    paths["topic feed"] = f"/api/posts?topic={TOPICS[3]}"
    paths["topics"] = "/api/topics"
    paths["thread, big (1% of replies)"] = f"/api/posts/{big}"
    paths["thread, a recent post"] = f"/api/posts/{posts - 10}"
    paths["author"] = f"/api/authors/{author}"
    paths["author's replies (inbox)"] = f"/api/authors/{replied}/replies"
    paths["voter's votes"] = f"/api/votes/{voter}?posts={voted},1,2,3"
    paths["search, common word"] = "/api/search?q=w1"
    paths["search, rare word"] = "/api/search?q=w4999"
    paths["search, two words"] = "/api/search?q=w3+w10"
    paths["page: front"] = "/"
    paths["page: new"] = "/new"
    paths["page: thread, big"] = f"/posts/{big}"
    paths["page: author"] = f"/authors/{author}"
    paths["page: inbox"] = f"/inbox?{urlencode({'address': replied})}"
    paths["page: topic"] = f"/t/{TOPICS[3]}"
    paths["page: search"] = "/search?q=w2"
    paths["status"] = "/api/status"
    return paths


def deep_pages(client: Client, paths: dict[str, str]) -> dict[str, str]:
    """Page 50 of the new feed and page 20 of the big thread's replies, found by following cursors."""
    deep = {}
    path = "/api/posts?sort=new"
    for _ in range(49):
        cursor = json.loads(client.get(path)[2]).get("next_cursor")
        if not cursor:
            break
        path = f"/api/posts?{urlencode({'sort': 'new', 'cursor': cursor})}"
    deep["feed new, page 50"] = path
    path = paths["thread, big (1% of replies)"]
    for _ in range(19):
        more = (json.loads(client.get(path)[2]).get("post") or {}).get("more_replies") or {}
        if not more.get("cursor"):
            break
        path = f"{paths['thread, big (1% of replies)']}?{urlencode({'cursor': more['cursor']})}"
    deep["thread, big, replies page 20"] = path
    return deep


Seen = dict[str, tuple[list[float], list[int]]]  # per route: a reader's times (s) and statuses


def _reader(port: int, order: list[tuple[str, str]], rounds: int, seed: int) -> Seen:
    """One reader: its own process and keep-alive connection, every route ``rounds`` times in its own order."""
    client = Client(port)
    mine = order[:]
    random.Random(seed).shuffle(mine)
    seen: Seen = {name: ([], []) for name, _ in order}
    for _ in range(rounds):
        for name, path in mine:
            began = time.perf_counter()
            status = client.get(path)[0]
            seen[name][0].append(time.perf_counter() - began)
            seen[name][1].append(status)
    client.close()
    return seen


def read(port: int, paths: dict[str, str], rounds: int) -> dict[str, tuple[float, float, dict[int, int]]]:
    """``READERS`` processes, each on its own keep-alive connection, each running every route ``rounds`` times.

    Processes, not threads: a reader parsing a large answer would otherwise hold the others' clocks on the GIL.
    """
    timings: dict[str, list[float]] = {name: [] for name in paths}
    statuses: dict[str, dict[int, int]] = {name: {} for name in paths}
    order = list(paths.items())
    with multiprocessing.get_context("fork").Pool(READERS) as pool:
        runs = pool.starmap(_reader, [(port, order, rounds, seed) for seed in range(READERS)])
    for seen in runs:
        for name, (spent, codes) in seen.items():
            timings[name] += spent
            for status in codes:
                statuses[name][status] = statuses[name].get(status, 0) + 1
    return {name: (*percentiles(timings[name]), statuses[name]) for name in paths}


def read_alone(client: Client, paths: dict[str, str], times: int = ALONE_TIMES) -> dict[str, float]:
    """Each route's p50 (ms) with this one reader and nothing else asking: what a request costs, not its queue.

    Every route runs equally often under the 8 readers, so a route's share of the sum of these is about its share
    of the machine's work there. One keep-alive connection: every request goes to the same API process.
    """
    alone = {}
    for name, path in paths.items():
        for _ in range(times):  # warm first: psycopg prepares a statement on its 5th run on a connection
            client.get(path)
        spent = []
        for _ in range(times):
            began = time.perf_counter()
            client.get(path)
            spent.append(time.perf_counter() - began)
        alone[name] = percentiles(spent)[0]
    return alone


def measure(url: str, rounds: int, lock: Path | None, workers: int = 1) -> dict[str, Any]:
    """``serve``'s cold start, the readers' p50/p99 per route, serve's RSS, with ``lock`` held (flock) if given.

    ``workers``: API processes (``serve --workers``); their RSS is summed, the supervisor's included.
    """
    with contextlib.ExitStack() as stack:
        if lock is not None:
            held = stack.enter_context(lock.open("a"))
            fcntl.flock(held, fcntl.LOCK_EX)
        load_before = os.getloadavg()
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        port = free_port()
        began = time.perf_counter()
        server = serve(url, port, Path(tmp), workers)
        try:
            client = Client(port)
            client.wait("/")
            cold = time.perf_counter() - began
            paths = routes(url)
            paths.update(deep_pages(client, paths))
            for path in paths.values():  # warm: each route once
                client.get(path)
            alone = read_alone(client, paths)
            client.close()
            print(f"serve cold start {cold:.2f} s; reading {len(paths)} routes ...", flush=True)
            started = time.perf_counter()
            reads = read(port, paths, rounds)
            read_s = time.perf_counter() - started
            tree = psutil.Process(server.pid)
            serve_rss = sum(p.memory_info().rss for p in [tree, *tree.children(recursive=True)]) / 2**20
        finally:
            server.terminate()
            server.wait()
        return {
            "cold_start_s": cold,
            "reads": reads,
            "alone": alone,
            "paths": paths,
            "read_s": read_s,
            "serve_rss_mb": serve_rss,
            "workers": workers,
            "load": load_before,
            "load_after": os.getloadavg(),
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }


def run(
    url: str,
    posts: int,
    rounds: int,
    incremental: int,
    bulk: bool = True,
    lock: Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Fill, serve, read, index more, measure sizes; the figures."""
    if make_url(url).get_backend_name() == "postgresql":
        drop_tables(url)
    chain = Chain(start_time=int(time.time()) - YEAR)
    print(f"filling {posts:,} posts {'in bulk' if bulk else 'through store_range'} ...", flush=True)
    if bulk:
        spool = Path("/work/tmp") if Path("/work/tmp").is_dir() else None
        filled = scale_bulk.fill(url, chain, posts, RANGE_BLOCKS, spool=spool)
    else:
        filled = fill(url, chain, posts)
    filled["load"] = os.getloadavg()
    print(f"filled in {filled['seconds']:.0f} s ({filled['rate']:,.0f} events/s)", flush=True)
    measured = measure(url, rounds, lock, workers) if rounds else {}
    filled_posts = chain.posts
    more = fill(url, chain, incremental, progress=False)
    more["load"] = os.getloadavg()
    return {
        **measured,
        "url": make_url(url).get_backend_name(),
        "posts": filled_posts,
        "fill": filled,
        "incremental": more,
        "sizes": sizes(url),
    }


def measure_only(
    url: str, rounds: int, incremental: int, lock: Path | None, fill_json: Path | None, workers: int = 1
) -> dict[str, Any]:
    """Measure an index this bench filled before (``--keep`` or a PostgreSQL URL), then index more on top of it.

    The fill's figures come from ``fill_json`` (that run's ``--json``) when given.
    """
    earlier = json.loads(fill_json.read_text()) if fill_json else {}
    chain = Chain.from_index(url)
    posts = chain.posts
    measured = measure(url, rounds, lock, workers)
    more: dict[str, Any] | None = earlier.get("incremental")
    if incremental:
        more = fill(url, chain, incremental, progress=False)
        more["load"] = os.getloadavg()
    return {
        **measured,
        "url": make_url(url).get_backend_name(),
        "posts": posts,
        "fill": earlier.get("fill"),
        "incremental": more,
        "sizes": sizes(url),
    }


def report(r: dict[str, Any]) -> str:
    """The markdown of one run."""
    engine = "PostgreSQL" if r["url"] == "postgresql" else "SQLite"
    fill, more = r.get("fill"), r.get("incremental")
    workers = r.get("workers", 1)
    lines = [f"### {r['posts']:,} posts on {engine}" + (f", {workers} API processes" if workers > 1 else ""), ""]
    if fill:
        rss = fill["rss"]
        mid = rss[len(rss) // 2]
        how = "in bulk (bench/scale_bulk.py)" if fill.get("bulk") else "through `store_range`"
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in fill.get("phases", {}).items())
        lines += [
            f"Fill {how}: {fill['events']:,} events in {fill['seconds']:.0f} s ({fill['rate']:,.0f} events/s"
            + (f"; {phases}" if phases else "")
            + f"), load average at its end {_load(fill.get('load'))}; the filler's RSS {rss[0][1]:.0f} MB after the"
            f" first range, {mid[1]:.0f} MB at {mid[0]:,} posts, {rss[-1][1]:.0f} MB at the end.",
        ]
    if more and more["events"]:
        lines += [
            f"Incremental indexing at this size, through `store_range`: {more['events']:,} more events in"
            f" {more['seconds']:.1f} s (**{more['rate']:,.0f} events/s**), load {_load(more.get('load'))}.",
        ]
    if r.get("reads"):
        worst = max(r["reads"].items(), key=lambda item: item[1][1])
        lines += [
            f"Measured {r.get('measured_at', '')}, load average {_load(r['load'])} before the reads,"
            f" {_load(r.get('load_after'))} after (2 cores, shared). `serve` cold start (process start to the"
            f" front page's first 200): **{r['cold_start_s']:.2f} s**; its RSS after the reads:"
            f" **{r['serve_rss_mb']:.0f} MB**"
            + (f" ({workers} API processes and uvicorn's supervisor)" if workers > 1 else "")
            + f". {READERS} concurrent readers (processes), {r['read_s']:.0f} s; slowest p99:"
            f" {worst[0]} {worst[1][1]:.1f} ms.",
        ]
        alone = r.get("alone") or {}
        if alone:
            whole = sum(alone.values())
            top = sorted(alone.items(), key=lambda item: -item[1])[:4]
            lines += [
                f"Alone (one reader before the 8, each route {ALONE_TIMES} times in a row after {ALONE_TIMES} to"
                f" warm; p50): {whole:.0f} ms for one of each route, of which "
                + ", ".join(f"{name} {ms:.1f} ms ({ms / whole:.0%})" for name, ms in top)
                + ". Each route runs as often under the 8 readers, so that is about its share of the work there.",
            ]
        lines += [
            "",
            "| route | path | alone p50 ms | p50 ms | p99 ms | responses |",
            "|---|---|---:|---:|---:|---|",
        ]
        for name, (p50, p99, statuses) in r["reads"].items():
            counts = " ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
            single = f"{alone[name]:.1f}" if name in alone else ""
            lines.append(f"| {name} | `{r['paths'][name][:70]}` | {single} | {p50:.1f} | {p99:.1f} | {counts} |")
    total = sum(size for _, _, size in r["sizes"])
    lines += ["", f"On disk: {total / 2**20:,.0f} MB in all.", "", "| kind | name | MB |", "|---|---|---:|"]
    lines += [f"| {kind} | {name} | {size / 2**20:,.1f} |" for kind, name, size in r["sizes"][:40]]
    return "\n".join(lines) + "\n"


def _load(load: Any) -> str:
    return ", ".join(f"{x:.1f}" for x in load) if load else "not recorded"


def write_run(section: str) -> None:
    """Put one run's ``### `` subsection into the Scale section of docs/benchmarks.md (replacing its namesake)."""
    text_ = DOCS.read_text()
    start = text_.index(SECTION + "\n")
    end = text_.find("\n## ", start + len(SECTION))
    end = len(text_) if end == -1 else end + 1
    body = text_[start:end]
    heading = section.splitlines()[0]
    at = body.find(heading + "\n")
    if at == -1:
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    else:
        after = body.find("\n### ", at + len(heading))
        body = body[:at] + section + ("\n" + body[after + 1 :] if after != -1 else "\n")
    DOCS.write_text(text_[:start] + body + text_[end:])


def main() -> int:
    """Run once (or measure an index filled before); print; optionally keep the figures as JSON, write the docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (emptied); default a fresh SQLite file")
    parser.add_argument("--keep", type=Path, help="the SQLite index file to fill (kept) or, --measure-only, to read")
    parser.add_argument("--rounds", type=int, default=25, help="times each reader runs every route (0: no reads)")
    parser.add_argument("--incremental", type=int, default=5_000, help="posts indexed after the reads, timed")
    parser.add_argument(
        "--fill", choices=("bulk", "store_range"), default="bulk", help="bench/scale_bulk.py, or the indexer's path"
    )
    parser.add_argument("--measure-only", action="store_true", help="no fill: read the index of --keep or the URL")
    parser.add_argument("--fill-json", type=Path, help="--measure-only: the fill run's --json, for its figures")
    parser.add_argument("--lock", type=Path, help="hold this flock while serving and reading (the bench lock)")
    parser.add_argument("--write-docs", action="store_true", help="put the run into docs/benchmarks.md's Scale section")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--workers", type=int, default=1, help="API processes to read from (serve --workers)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/work/tmp" if Path("/work/tmp").is_dir() else None) as tmp:
        url = args.database_url or f"sqlite:///{args.keep or Path(tmp) / 'index.sqlite3'}"
        if args.measure_only:
            result = measure_only(url, args.rounds, args.incremental, args.lock, args.fill_json, args.workers)
        else:
            result = run(url, args.posts, args.rounds, args.incremental, args.fill == "bulk", args.lock, args.workers)
    section = report(result)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(result))
    if args.write_docs:
        write_run(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
