"""The relayer on a real fee market (Anvil, EIP-1559): fees from eth_feeHistory, stuck and dropped sends sent again.

Each test runs its own Anvil: mining is switched to manual or interval mode, the next block's base fee
is set with ``anvil_setNextBlockBaseFeePerGas``, and a pooled transaction is dropped with
``anvil_dropTransaction``, as a real market and a real node would do to the relayer's transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.devchain import Anvil, free_port
from backend.relay import resend
from backend.relay.nonces import pending_nonce
from backend.relay.relayer import Relayer
from tests.backend.relay.test_relay import ALICE, BOB, relay, signed_vote
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings

GWEI = 10**9


@pytest.fixture
def market(
    data_dir: Path, database_url: str, make_client: Callable[..., TestClient]
) -> Iterator[tuple[TestClient, BoardHandle]]:
    """An Anvil of this test's own with a Board, and the app relaying to it (indexer off)."""
    with Anvil(free_port()) as node:
        w3 = connect(node)
        board = deploy_board(w3, data_dir)
        settings = make_settings(data_dir, node.url, database_url, relay_rate=6000, relay_burst=1000)
        yield make_client(settings, run_indexer=False), board


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer.get("result")


def _relayer(client: TestClient) -> Relayer:
    relayer: Relayer = client.app.state.indelible.chain_link.require_relayer()
    return relayer


def test_fees_follow_the_next_blocks_base_fee_from_fee_history(market: tuple[TestClient, BoardHandle]):
    client, board = market
    w3 = board.w3
    post_id = board.post(b"\x01" * 32)
    _rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(20 * GWEI))
    _rpc(w3, "evm_mine")  # the head's base fee is 20 gwei; an empty block makes the next one's 17.5
    history = w3.eth.fee_history(5, "latest", [50])
    next_base = history["baseFeePerGas"][-1]
    assert w3.eth.get_block("latest")["baseFeePerGas"] == 20 * GWEI and next_base == 17_500_000_000
    sent = relay(client, "vote", signed_vote(board, ALICE, post_id, 1))
    tx = w3.eth.get_transaction(sent.json()["tx_hash"])
    assert tx["maxFeePerGas"] == 2 * next_base + tx["maxPriorityFeePerGas"]  # not 2 x the head's 20 gwei
    assert w3.eth.wait_for_transaction_receipt(tx["hash"])["status"] == 1


def test_a_send_stuck_under_a_rising_base_fee_is_replaced_with_a_bumped_fee(
    market: tuple[TestClient, BoardHandle], monkeypatch: pytest.MonkeyPatch
):
    client, board = market
    w3 = board.w3
    post_id = board.post(b"\x02" * 32)
    _rpc(w3, "evm_setAutomine", False)
    sent = relay(client, "vote", signed_vote(board, ALICE, post_id, 1))
    stuck = w3.eth.get_transaction(sent.json()["tx_hash"])
    _rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(20 * GWEI))
    _rpc(w3, "evm_mine")  # a block at 20 gwei: the relayed tx offered less, it is not mined (Anvil drops it)
    assert stuck["maxFeePerGas"] < 20 * GWEI
    assert _rpc(w3, "eth_getTransactionReceipt", stuck["hash"].to_0x_hex()) is None

    monkeypatch.setattr(resend, "STUCK_AFTER", 0.0)
    relayer = _relayer(client)
    (replacement,) = relayer.upkeep()
    new = w3.eth.get_transaction(replacement)
    assert new["nonce"] == stuck["nonce"] and new["input"] == stuck["input"]
    assert new["maxFeePerGas"] >= max(stuck["maxFeePerGas"] * 1.125, 2 * 17_500_000_000)
    assert new["maxFeePerGas"] <= relayer.policy.max_fee_per_gas
    assert pending_nonce(relayer.limits, board.contract.address, ALICE.address) == (1, replacement)

    _rpc(w3, "evm_setIntervalMining", 1)  # a block a second, as a real chain
    assert w3.eth.wait_for_transaction_receipt(replacement, timeout=30)["status"] == 1
    assert board.contract.functions.voteOf(post_id, ALICE.address).call() == 1
    assert relayer.upkeep() == []  # settled: nothing left to send again


def test_a_nonce_gap_left_by_a_dropped_send_is_filled(market: tuple[TestClient, BoardHandle]):
    client, board = market
    w3 = board.w3
    post_id = board.post(b"\x03" * 32)
    _rpc(w3, "evm_setAutomine", False)
    first = relay(client, "vote", signed_vote(board, ALICE, post_id, 1)).json()["tx_hash"]
    second = relay(client, "vote", signed_vote(board, BOB, post_id, -1)).json()["tx_hash"]
    nonces = [w3.eth.get_transaction(h)["nonce"] for h in (first, second)]
    assert nonces[1] == nonces[0] + 1
    _rpc(w3, "anvil_dropTransaction", first)  # the node forgets it: the second waits behind the gap
    assert _rpc(w3, "eth_getTransactionByHash", first) is None
    assert _rpc(w3, "eth_getTransactionByHash", second)["blockNumber"] is None

    (refill,) = _relayer(client).upkeep()  # the gap only: the second is still in the pool
    assert w3.eth.get_transaction(refill)["nonce"] == nonces[0]
    _rpc(w3, "evm_setIntervalMining", 1)
    receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in (refill, second)]
    assert [r["status"] for r in receipts] == [1, 1]
    assert board.contract.functions.voteOf(post_id, ALICE.address).call() == 1
    assert board.contract.functions.voteOf(post_id, BOB.address).call() == -1
    assert w3.eth.get_transaction_count(w3.eth.accounts[1]) == nonces[1] + 1
