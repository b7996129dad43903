"""GET /api/nonces/{address} answers from the index (every NonceUsed) and the relayer's records, never the node.

Real Ganache, the real relay route and indexer, SQLite and PostgreSQL: the nonce follows signed posts and
votes as they land, a relayed action still in the pool, and a reorganisation that takes a signed action away.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from backend.content.cid import sha256
from backend.devchain import Ganache
from tests.backend.relay.test_relay import ALICE, _pin, _receipt, relay, signed_post, signed_vote
from tests.backend.test_one_way import record_node_calls, route_calls
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings, wait_indexed
from tests.support.wait import wait_for


def _nonce(client: TestClient, calls: list[str]) -> dict[str, Any]:
    """The route's answer for ALICE, checking that answering it asked the node nothing."""
    before = len(route_calls(calls))
    response = client.get(f"/api/nonces/{ALICE.address}")
    assert response.status_code == 200, response.text
    assert route_calls(calls)[before:] == []
    return dict(response.json())


def test_nonce_route_counts_relayed_posts_and_votes_from_the_index_without_asking_the_node(
    client: TestClient, board: BoardHandle
):
    calls = record_node_calls(client)
    wait_indexed(client, board.w3)
    assert _nonce(client, calls) == {
        "address": ALICE.address, "nonce": 0, "indexed_nonce": 0, "indexed_block": board.w3.eth.block_number,
        "pending_tx": None,
    }  # fmt: skip
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Nonce", "one"))))
    _receipt(board, relay(client, "vote", signed_vote(board, ALICE, 1, 1)))
    wait_indexed(client, board.w3)
    answer = _nonce(client, calls)
    assert answer == {
        "address": ALICE.address, "nonce": 2, "indexed_nonce": 2, "indexed_block": board.w3.eth.block_number,
        "pending_tx": None,
    }  # fmt: skip
    assert board.contract.functions.nonces(ALICE.address).call() == 2


def test_nonce_route_follows_a_pending_relay_and_a_reorg_that_removes_signed_actions(
    fresh_ganache: Ganache, data_dir, database_url: str, make_client: Callable[..., TestClient]
):
    w3 = connect(fresh_ganache)
    board = deploy_board(w3, data_dir)
    client = make_client(make_settings(data_dir, fresh_ganache.url, database_url))
    calls = record_node_calls(client)
    target = board.post(sha256(b"a post to vote on"))
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Signed", "first"))))
    wait_indexed(client, w3)
    assert _nonce(client, calls)["nonce"] == 1

    w3.provider.make_request("miner_stop", [])
    try:  # a relayed vote in the pool: the index has not seen it, the relayer's record has
        pending = relay(client, "vote", signed_vote(board, ALICE, target, 1, nonce=1))
        assert pending.status_code == 200, pending.text
        tx = pending.json()["tx_hash"]
        answer = _nonce(client, calls)
        assert (answer["nonce"], answer["indexed_nonce"], answer["pending_tx"]) == (2, 1, tx)
    finally:
        w3.provider.make_request("miner_start", [])
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    wait_indexed(client, w3)
    answer = _nonce(client, calls)  # the index caught up: its answer wins over the (older) record
    assert (answer["nonce"], answer["indexed_nonce"], answer["pending_tx"]) == (2, 2, None)

    # a reorg takes a signed post away (Ganache drops its tx); the index rolls its nonce back
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Signed", "then reorganised"))))
    wait_indexed(client, w3)
    assert _nonce(client, calls)["indexed_nonce"] == 3
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    for _ in range(4):
        w3.provider.make_request("evm_mine", [])
    wait_for(lambda: _nonce(client, calls)["indexed_nonce"] == 2, what="the index rolled back")
    assert board.contract.functions.nonces(ALICE.address).call() == 2
    # the relayer's record of that post cannot be checked without the node: it still says 3 ...
    assert _nonce(client, calls)["nonce"] == 3
    # ... until a relay shows the node no longer knows that tx: the refusal forgets it, and the index's 2 stands
    refused = relay(client, "post", signed_post(board, ALICE, _pin(client, "Again", "after the reorg"), nonce=3))
    assert refused.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 2, got 3"}
    answer = _nonce(client, calls)
    assert (answer["nonce"], answer["indexed_nonce"], answer["pending_tx"]) == (2, 2, None)
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Again", "after the reorg"))))
    wait_indexed(client, w3)
    assert _nonce(client, calls)["nonce"] == 3
