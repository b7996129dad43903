"""Backfill behind a hosted provider's limits against the same backfill straight from the node.

Seeds a fresh chain (Ganache, or Anvil with ``--chain anvil``) with Board events through
``batch()`` of signed posts and votes (bench/index.py's seeding), then times full backfills
into fresh SQLite indexes: one direct, one behind ``tests/support/provider_proxy.py`` for each
provider profile (the issue's: results capped, batches of at most 8, ~8 % 429 with
Retry-After 1 s, 3 % 503, resets, slow answers). Each backfill's index is compared with the
direct one, row for row.

    python bench/provider.py [--events 6000] [--chain ganache|anvil] [--write-docs]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web3 import Web3

import bench.index
from backend.config import Settings
from backend.devchain import Anvil, DevNode, Ganache, free_port
from backend.indexer.runner import Indexer
from bench.benchdocs import write_section
from bench.index import deploy, seed
from tests.support.index import dump_index
from tests.support.provider_proxy import Behaviour, ProviderProxy

SECTION = "## Backfill behind a provider (bench/provider.py)"
ITEMS_PER_BATCH = 20  # signed items per batch() transaction: 40 events in one block
EMPTY_BLOCKS = 10  # mined after each batch: the logs spread over many blocks, as on a real chain
PROFILES = {
    "429 only (8 %, Retry-After 1 s)": Behaviour(seed=7, rate_429=0.08),
    "the issue's provider": Behaviour(
        seed=21,
        log_results=2000,
        batch_max=8,
        rate_429=0.08,
        rate_503=0.03,
        rate_502=0.01,
        rate_reset=0.01,
        rate_slow=0.02,
        slow_seconds=1.0,
    ),
    "span 100 blocks, no batches, Alchemy's result cap text": Behaviour(
        seed=5, log_span=100, log_results=300, log_style="alchemy", batches=False, rate_429=0.03
    ),
}


def backfill(url: str, data_dir: Path, deployments: Path) -> tuple[float, Indexer, dict[str, Any]]:
    """One full backfill into a fresh SQLite index; (seconds, the indexer, the index's rows)."""
    data_dir.mkdir()
    (data_dir / "deployments.json").write_text(deployments.read_text())
    settings = Settings(
        data_dir=data_dir, rpc_url=url, database_url="", start_chain=False, contract_address="", confirmations=0,
        ipfs_gateways=[], ipfs_api_url="",
    )  # fmt: skip
    indexer = Indexer(settings)
    started = time.perf_counter()
    indexer.run(once=True)
    seconds = time.perf_counter() - started
    indexer.close()
    rows = dump_index(indexer.engine)
    indexer.engine.dispose()
    return seconds, indexer, rows


def run(events_wanted: int, chain: str) -> dict[str, Any]:
    """Seed, back-fill direct and behind each profile; the figures."""
    logging.basicConfig(level=logging.WARNING)
    node: DevNode = (Anvil if chain == "anvil" else Ganache)(free_port())
    with tempfile.TemporaryDirectory() as tmp, node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 300}))
        w3.eth.default_account = w3.eth.accounts[0]
        root = Path(tmp)
        (root / "seed").mkdir()
        board = deploy(w3, root / "seed")
        send_batch = bench.index._send_batch
        mine = ("anvil_mine", [hex(EMPTY_BLOCKS)]) if chain == "anvil" else ("evm_mine", [{"blocks": EMPTY_BLOCKS}])

        def send_and_mine(w3: Web3, board: Any, posts: list[Any], votes: list[Any]) -> Any:
            receipt = send_batch(w3, board, posts, votes)
            w3.provider.make_request(*mine)
            return receipt

        bench.index.ITEMS_PER_BATCH, bench.index._send_batch = ITEMS_PER_BATCH, send_and_mine
        events, _ = seed(w3, board, events_wanted)
        deployments = root / "seed" / "deployments.json"
        direct_s, _, direct_rows = backfill(node.url, root / "direct", deployments)
        rows: list[dict[str, Any]] = [
            {"profile": "direct", "seconds": direct_s, "same": True, "limits": None, "requests": None}
        ]
        for i, (name, behaviour) in enumerate(PROFILES.items()):
            with ProviderProxy(node.url, behaviour) as proxy:
                seconds, indexer, proxied_rows = backfill(proxy.url, root / f"proxied{i}", deployments)
            limits = indexer.rpc.limits.as_dict()
            same = proxied_rows == direct_rows
            rows.append({
                "profile": name, "seconds": seconds, "same": same, "limits": limits, "fates": proxy.fates,
                "requests": proxy.requests,
            })  # fmt: skip
        return {"events": events, "blocks": w3.eth.block_number, "chain": chain, "rows": rows}


def report(r: dict[str, Any]) -> str:
    """The markdown section for docs/benchmarks.md."""
    direct = r["rows"][0]["seconds"]
    lines = []
    for row in r["rows"]:
        limits, fates = row["limits"], row.get("fates") or {}
        refused = ", ".join(f"{k} {v}" for k, v in sorted(fates.items())) or "none"
        learned = (
            "—"
            if limits is None
            else f"batch {limits['batch_size']}, span {limits['log_span'] or 'no limit'}, {limits['retries']} retries"
        )
        lines.append(
            f"| {row['profile']} | {row['seconds']:.1f} | {row['seconds'] / direct:.1f}x "
            f"| {row['requests'] if row['requests'] is not None else '—'} | {refused} | {learned} "
            f"| {'yes' if row['same'] else '**no**'} |"
        )
    table = "\n".join(lines)
    return f"""{SECTION}

Command: `python bench/provider.py --chain {r["chain"]} --write-docs` (run {datetime.now(UTC):%Y-%m-%d} on this
machine, SQLite index, Python 3.11, other work running beside it).

{r["events"]:,} events in {r["blocks"]:,} blocks (signed posts and votes, {ITEMS_PER_BATCH} to a `batch()` \
transaction, {EMPTY_BLOCKS} empty blocks after each), backfilled into
a fresh index straight from the node, then behind `tests/support/provider_proxy.py` with each profile (seeded:
the same run of fates each time). "same index" compares every table row for row with the direct backfill.

| provider | seconds | against direct | HTTP requests | what the proxy did | what the node learned | same index |
|---|---:|---:|---:|---|---|---|
{table}

Most of the extra time is waiting: each 429 is waited out as its `Retry-After` asks (1 s, shared by both of the
indexer's connections), each 503/502/reset costs a backoff of 0.1-0.25 s first, each slow answer its second.
"""


def main() -> int:
    """Run, print, optionally write the docs section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--chain", choices=["ganache", "anvil"], default="ganache")
    parser.add_argument("--write-docs", action="store_true", help=f"replace '{SECTION}' in docs/benchmarks.md")
    args = parser.parse_args()
    result = run(args.events, args.chain)
    section = report(result)
    print(section)
    if args.write_docs:
        write_section(SECTION, section)
    return 0 if all(row["same"] for row in result["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
