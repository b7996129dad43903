"""POST /api/relay when the relayer signs with its own key (``INDELIBLE_RELAYER_KEY``), on a real chain.

The key is fresh and random for each test; a Ganache account funds it with
ether unless the test is about an unfunded relayer. Signers hold no ether.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from web3 import Web3
from web3.logs import DISCARD

from backend.config import Settings
from backend.content.cid import sha256
from backend.devchain import Ganache
from tests.backend.relay.test_relay import ALICE, BOB, _pin, _receipt, relay, signed_post, signed_vote
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings

ONE_ETHER = 10**18


@pytest.fixture
def relayer() -> LocalAccount:
    """A relayer key no test has used before."""
    return Account.create()


def _fund(w3: Web3, address: str) -> None:
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"to": address, "value": ONE_ETHER}))


def _keyed_client(make_client: Callable[..., TestClient], settings: Settings, relayer: LocalAccount) -> TestClient:
    return make_client(dataclasses.replace(settings, relayer_key=Web3.to_hex(relayer.key)), run_indexer=False)


@pytest.fixture
def keyed_client(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle, relayer: LocalAccount
) -> TestClient:
    """The app on the session chain, relaying from ``relayer``'s own key, funded with one ether."""
    _fund(board.w3, relayer.address)
    return _keyed_client(make_client, settings, relayer)


def _assert_paid_by_relayer(board: BoardHandle, relayer: LocalAccount, receipt: dict, signer: LocalAccount) -> None:
    w3 = board.w3
    assert receipt["status"] == 1
    assert w3.eth.get_transaction(receipt["transactionHash"])["from"] == relayer.address
    assert receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
    assert w3.eth.get_balance(relayer.address) == ONE_ETHER - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(signer.address) == 0


def test_post_relayed_with_own_key_is_sent_and_paid_by_that_key(
    keyed_client: TestClient, board: BoardHandle, relayer: LocalAccount
):
    digest = _pin(keyed_client, "Keyed", "paid by the relayer's own key")
    receipt = _receipt(board, relay(keyed_client, "post", signed_post(board, ALICE, digest)))
    event = board.contract.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert event["author"] == ALICE.address
    _assert_paid_by_relayer(board, relayer, receipt, ALICE)


def test_vote_relayed_with_own_key_is_sent_and_paid_by_that_key(
    keyed_client: TestClient, board: BoardHandle, relayer: LocalAccount
):
    post_id = board.post(sha256(b"voted on"))
    receipt = _receipt(board, relay(keyed_client, "vote", signed_vote(board, BOB, post_id, 1)))
    event = board.contract.events.VoteCast().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (event["voter"], event["direction"], event["upvotes"]) == (BOB.address, 1, 1)
    _assert_paid_by_relayer(board, relayer, receipt, BOB)


def test_batch_relayed_with_own_key_is_sent_and_paid_by_that_key(
    keyed_client: TestClient, board: BoardHandle, relayer: LocalAccount
):
    digest = _pin(keyed_client, "Keyed batch", "post then vote")
    post = signed_post(board, ALICE, digest)
    vote = signed_vote(board, ALICE, 1, -1, nonce=post["nonce"] + 1, postDigest=digest)  # the post it makes
    receipt = _receipt(board, relay(keyed_client, "batch", {"posts": [post], "votes": [vote]}))
    created = board.contract.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]
    voted = board.contract.events.VoteCast().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (created["author"], voted["voter"], voted["direction"]) == (ALICE.address, ALICE.address, -1)
    _assert_paid_by_relayer(board, relayer, receipt, ALICE)


def test_unfunded_relayer_key_is_503_and_sends_nothing(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle, relayer: LocalAccount
):
    client = _keyed_client(make_client, settings, relayer)
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, "Unpaid", "no gas money")))
    assert response.status_code == 503
    assert response.json() == {"detail": f"relayer {relayer.address} cannot pay for gas: fund it"}
    assert board.w3.eth.get_transaction_count(relayer.address, "pending") == 0
    assert board.contract.functions.nonces(ALICE.address).call() == 0


def test_relays_sent_before_a_block_is_mined_take_consecutive_tx_nonces(
    fresh_ganache: Ganache,
    data_dir: Path,
    database_url: str,
    make_client: Callable[..., TestClient],
    relayer: LocalAccount,
):
    w3 = connect(fresh_ganache)
    board = deploy_board(w3, data_dir)
    _fund(w3, relayer.address)
    settings = make_settings(data_dir, fresh_ganache.url, database_url)
    client = _keyed_client(make_client, settings, relayer)
    # the relayer's tx nonce 0 goes first: Ganache renumbers a raw tx carrying nonce 0 instead of refusing it
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "First", "mined at once"))))

    w3.provider.make_request("miner_stop", [])
    try:
        queued = [
            relay(client, "post", signed_post(board, BOB, _pin(client, "Second", "waits in the pool"))),
            relay(client, "vote", signed_vote(board, ALICE, 1, 1)),
        ]
        assert [r.status_code for r in queued] == [200, 200], [r.text for r in queued]
        hashes = [r.json()["tx_hash"] for r in queued]
        assert [w3.eth.get_transaction(h)["blockNumber"] for h in hashes] == [None, None]
        assert [w3.eth.get_transaction(h)["nonce"] for h in hashes] == [1, 2]
    finally:
        w3.provider.make_request("miner_start", [])

    assert [w3.eth.wait_for_transaction_receipt(h)["status"] for h in hashes] == [1, 1]
    assert w3.eth.get_transaction_count(relayer.address) == 3
    assert board.contract.functions.getPost(2).call()[0] == BOB.address
    assert board.contract.functions.voteOf(1, ALICE.address).call() == 1
