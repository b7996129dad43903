"""bench/seed_anvil.py seeds a real Anvil with valid signed batches, and bench/backfill_rss.py's sampled backfill
(the real ``python -m backend index --once``) stores every seeded event, on both engines.

The seeding itself checks its first two batches byte for byte against ``backend.eip712`` + web3's ABI encoder
and the contract checks every signature (a bad one reverts the batch and the seeding raises).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from backend.devchain import Anvil, deploy_board, free_port
from bench.backfill_rss import ANVIL_ARGS, GAS_LIMIT, EventsAt, backfill
from bench.seed_anvil import FastSigner, Planner, Seeded, seed

EVENTS = 2_000  # four batches: the two checked against backend.eip712, two signed by the worker processes


@pytest.fixture(scope="module")
def seeded_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Anvil, Path, Seeded]]:
    """An Anvil of this module's own with Board deployed and EVENTS events seeded."""
    chain_dir = tmp_path_factory.mktemp("seeded")
    with Anvil(free_port(), gas_limit=GAS_LIMIT, extra_args=ANVIL_ARGS) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        w3.eth.default_account = w3.eth.accounts[0]
        deployment = deploy_board(w3, chain_dir)
        board = w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=deployment.abi)
        yield node, chain_dir, seed(node.url, board, EVENTS, workers=2, progress=False)


def test_seeding_mines_every_signed_item_with_the_nonces_planned(seeded_chain: tuple[Anvil, Path, Seeded]) -> None:
    node, chain_dir, seeded = seeded_chain
    w3 = Web3(Web3.HTTPProvider(node.url))
    deployment = json.loads((chain_dir / "deployments.json").read_text())["deployments"][0]
    address = Web3.to_checksum_address(deployment["address"])
    board = w3.eth.contract(address=address, abi=deployment["abi"])
    assert seeded.events == EVENTS == sum(seeded.per_block.values())
    assert len(w3.eth.get_logs({"address": address, "fromBlock": 0, "toBlock": "latest"})) == EVENTS
    assert board.functions.postCount().call() == seeded.posts
    assert 0 < seeded.posts < seeded.items == EVENTS // 2
    planner = Planner(items=seeded.items)
    for _ in planner.batches():
        pass
    signer = FastSigner(w3.eth.chain_id, address, signers=5)
    for index in range(5):  # each signer's next nonce on chain is the count the plan gave it
        assert board.functions.nonces(signer.address(index)).call() == planner.nonces[index]


def test_sampled_backfill_stores_every_seeded_event(
    seeded_chain: tuple[Anvil, Path, Seeded], database_url: str, tmp_path: Path
) -> None:
    node, chain_dir, seeded = seeded_chain
    result = backfill(
        node.url,
        chain_dir,
        tmp_path,
        "" if database_url.startswith("sqlite") else database_url,
        EventsAt(sorted(seeded.per_block.items())),
        every=0.05,
        lock=None,
    )
    assert result["stored"] == EVENTS
    assert (result["posts"], result["vote_events"], result["nonces"]) == (
        seeded.posts,
        seeded.items - seeded.posts,
        seeded.items,
    )
    assert result["content_queue"] == seeded.posts  # no document is pinned: every post's CID waits in the queue
    samples = result["samples"]
    running = [s for s in samples if s.block >= 0]  # the indexer has made its tables: imports and setup are done
    assert running and all(s.rss > 20 and s.hwm >= s.rss for s in running)
    assert samples[-1].events <= EVENTS
    if not database_url.startswith("sqlite"):
        assert any(s.pg_rss > 0 for s in samples)
