"""A reorganisation gives post N to another post: a reply and a vote signed against the old N are refused.

Real Ganache (``evm_snapshot``/``evm_revert``), the real relay route and the real contract: the signed
messages name post N by id and digest, so after the revert they no longer fit and the contract's
ParentMismatch / PostMismatch come back as 400s that say so. Nothing lands under the other post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient

from backend.content.cid import sha256
from backend.devchain import Ganache
from tests.backend.relay.test_relay import _pin, _receipt, relay, signed_post, signed_vote
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings

CAROL = Account.from_key(keccak(text="indelible reorg carol"))
DAVE = Account.from_key(keccak(text="indelible reorg dave"))


@pytest.fixture
def own_chain(fresh_ganache: Ganache, data_dir) -> Iterator[tuple[Ganache, BoardHandle]]:
    """A Board on a chain of this test's own, which the test rewrites."""
    yield fresh_ganache, deploy_board(connect(fresh_ganache), data_dir)


def test_reply_and_vote_signed_against_a_post_a_reorg_replaced_are_refused(
    own_chain: tuple[Ganache, BoardHandle], data_dir, database_url: str, make_client: Callable[..., TestClient]
):
    node, board = own_chain
    w3 = board.w3
    client = make_client(make_settings(data_dir, node.url, database_url), run_indexer=False)
    board.post(sha256(b"an older post"))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    seen = board.post(sha256(b"the post they saw"))
    seen_digest = "0x" + sha256(b"the post they saw").hex()
    reply = signed_post(board, CAROL, _pin(client, None, "I agree with this"), parent=seen)
    vote = signed_vote(board, DAVE, seen, 1)
    assert reply["parentDigest"] == vote["postDigest"] == seen_digest

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    other = board.post(sha256(b"somebody else's post"), sender=w3.eth.accounts[3])
    assert other == seen  # same id, another post
    other_digest = "0x" + sha256(b"somebody else's post").hex()

    response = relay(client, "post", reply)
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"post {seen} is not the post you replied to: its digest is {other_digest}, you signed "
        f"{seen_digest} (the chain reorganised or another post took that id)"
    }
    response = relay(client, "vote", vote)
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"post {seen} is not the post you voted on: its digest is {other_digest}, you signed "
        f"{seen_digest} (the chain reorganised or another post took that id)"
    }
    response = client.post("/api/relay", json={"kind": "batch", "posts": [reply], "votes": [vote]})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"batch item 0: post {seen} is not the post you replied to")

    contract = board.contract.functions
    assert contract.postCount().call() == seen
    assert contract.getPost(seen).call()[4:] == [0, 0]
    assert contract.nonces(CAROL.address).call() == contract.nonces(DAVE.address).call() == 0

    # signed again against what the chain now holds, both land under the post they name
    _receipt(board, relay(client, "post", signed_post(board, CAROL, _pin(client, None, "Now I see"), parent=other)))
    _receipt(board, relay(client, "vote", signed_vote(board, DAVE, other, 1)))
    assert contract.getPost(other + 1).call()[1] == other
    assert contract.getPost(other).call()[4:] == [1, 0]
