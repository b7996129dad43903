"""The reader's lens on a real chain (issue 11): whose votes fold a post is each reader's choice.

Under the default lens a vote counts only when its voter acted on the Board (posted or voted) before the
post was created, so keys made after a post cannot fold it, whoever pays their gas. Other lenses and the
reader's own fold threshold change only the request that names them: the server stores nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.config import Settings
from backend.content.cid import sha256
from backend.db.models import FirstActivity, Post
from backend.devchain import Ganache
from tests.backend.indexer.test_indexer import run_once
from tests.backend.relay.test_relay import relay, signed_vote
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import dump_index, make_settings, wait_indexed

FOLD = -5  # INDELIBLE_COLLAPSE_SCORE's default: five net downvotes fold a post


def _post(client: TestClient, post_id: int, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/posts/{post_id}{query}")
    assert response.status_code == 200, response.text
    return dict(response.json()["post"])


def _activate(board: BoardHandle, voters: list[str]) -> None:
    """Make ``voters`` active on the Board: each upvotes an older post of its own."""
    warm = board.post(sha256(b"an older post"))
    for voter in voters:
        board.vote(warm, 1, voter)


def _fund_fresh_keys(board: BoardHandle, n: int, label: str) -> list[Any]:
    """``n`` brand-new keys, each sent 1 ether by account 0 so it pays its own gas."""
    w3 = board.w3
    keys = [Account.from_key(keccak(text=f"lens {label} {i}")) for i in range(n)]
    for key in keys:
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": key.address, "value": 10**18})
        w3.eth.wait_for_transaction_receipt(tx)
    return keys


def _self_funded_vote(board: BoardHandle, key: Any, post_id: int, direction: int) -> None:
    w3 = board.w3
    call = board.contract.functions.vote(post_id, board.digest_of(post_id), direction)
    tx = call.build_transaction(
        {
            "from": key.address,
            "nonce": w3.eth.get_transaction_count(key.address),
            "gas": 300_000,
            "chainId": w3.eth.chain_id,
        }
    )
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(key.sign_transaction(tx).raw_transaction))
    assert receipt["status"] == 1


@pytest.fixture
def relay_client(make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle) -> TestClient:
    """The app with room for eight new signers this hour (the relay allows five by default)."""
    return make_client(dataclasses.replace(settings, relay_new_signers_per_hour=100))


def test_fresh_keys_relayed_after_a_post_do_not_fold_it_under_the_default_lens(
    relay_client: TestClient, board: BoardHandle
):
    accounts = board.w3.eth.accounts
    _activate(board, accounts[1:4])
    target = board.post(sha256(b"the top post"))
    for voter in accounts[1:4]:
        board.vote(target, 1, voter)
    sybils = [Account.from_key(keccak(text=f"lens sybil {i}")) for i in range(8)]
    for key in sybils:
        response = relay(relay_client, "vote", signed_vote(board, key, target, -1))
        assert response.status_code == 200, response.text
    board.w3.eth.wait_for_transaction_receipt(response.json()["tx_hash"])
    wait_indexed(relay_client, board.w3)

    post = _post(relay_client, target)
    assert (post["upvotes"], post["downvotes"], post["score"]) == (3, 8, -5)
    assert (post["counted_upvotes"], post["counted_downvotes"], post["counted_score"]) == (3, 0, 3)
    assert post["collapsed"] is False
    assert _post(relay_client, target, "?lens=all")["collapsed"] is True  # today's behaviour, for who asks
    html = relay_client.get(f"/posts/{target}").text
    assert "3 up, 8 down; your lens (default) counts 3 up, 0 down: 8 voters were new to the board" in html
    assert "folded by votes" not in html


def test_fresh_self_funded_accounts_do_not_fold_a_post_under_the_default_lens(client: TestClient, board: BoardHandle):
    target = board.post(sha256(b"a post before the accounts"))
    for key in _fund_fresh_keys(board, 6, "self-funded"):
        _self_funded_vote(board, key, target, -1)
    wait_indexed(client, board.w3)
    post = _post(client, target)
    assert (post["downvotes"], post["counted_downvotes"], post["collapsed"]) == (6, 0, False)
    ranked = [p["id"] for p in client.get("/api/posts?sort=hot").json()["posts"]]
    assert ranked[0] == target  # newest and not sunk: the fresh votes neither fold nor rank it


def test_accounts_active_before_the_post_fold_it(client: TestClient, board: BoardHandle):
    accounts = board.w3.eth.accounts
    _activate(board, accounts[1:6])
    target = board.post(sha256(b"a post the regulars dislike"))
    for voter in accounts[1:6]:
        board.vote(target, -1, voter)
    wait_indexed(client, board.w3)
    post = _post(client, target)
    assert (post["counted_downvotes"], post["counted_score"], post["collapsed"]) == (5, FOLD, True)
    ranked = [p["id"] for p in client.get("/api/posts?sort=hot").json()["posts"]]
    assert ranked[-1] == target  # a folded post sinks, and stays listed
    page = client.get(f"/posts/{target}").text
    assert "folded by votes</span>: show" in page and "lens</span>: <strong>default</strong>" in page


def test_each_lens_and_threshold_change_only_the_readers_own_view(client: TestClient, board: BoardHandle):
    accounts = board.w3.eth.accounts
    _activate(board, accounts[1:6])
    folded = board.post(sha256(b"folded by regulars"))
    for voter in accounts[1:6]:
        board.vote(folded, -1, voter)
    wait_indexed(client, board.w3)

    assert _post(client, folded, "?lens=never")["collapsed"] is False
    assert _post(client, folded, "?fold=-6")["collapsed"] is False
    assert _post(client, folded, "?lens=all&fold=-10")["collapsed"] is False
    assert _post(client, folded, "?lens=all")["collapsed"] is True
    never = client.get(f"/posts/{folded}", headers={"cookie": "lens=never"}).text
    assert "folded by votes" not in never
    # another reader, asking nothing, sees the board's default whatever the others asked before
    assert _post(client, folded)["collapsed"] is True
    page = client.get(f"/posts/{folded}").text
    assert "folded by votes</span>: show" in page and "lens</span>: <strong>default</strong>" in page


@pytest.mark.parametrize(("query", "detail"), [("?lens=friends", "lens: "), ("?fold=abc", "fold: ")])
def test_bad_lens_parameters_are_422(client: TestClient, board: BoardHandle, query: str, detail: str):
    response = client.get(f"/api/posts{query}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


@pytest.fixture
def own_chain(fresh_ganache: Ganache, data_dir) -> Iterator[tuple[Ganache, BoardHandle]]:
    """A Board on a chain of this test's own, which the test rewrites."""
    yield fresh_ganache, deploy_board(connect(fresh_ganache), data_dir)


def _counted(engine: Any, post_id: int) -> tuple[int, int, int, int]:
    with engine.connect() as conn:
        query = select(Post.upvotes, Post.downvotes, Post.counted_upvotes, Post.counted_downvotes)
        return tuple(conn.execute(query.where(Post.id == post_id)).one())  # type: ignore[return-value]


def test_reorg_that_removes_a_voters_first_action_uncounts_their_votes(own_chain, data_dir, database_url, tmp_path):
    node, board = own_chain
    w3 = board.w3
    accounts = w3.eth.accounts
    settings = make_settings(data_dir, node.url, database_url)
    warm = board.post(sha256(b"warm"))
    for voter in accounts[1:5]:
        board.vote(warm, 1, voter)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    board.vote(warm, 1, accounts[5])  # accounts[5]'s first action, on the branch the reorg drops
    target = board.post(sha256(b"target"))
    for voter in accounts[1:6]:
        board.vote(target, -1, voter)
    indexer = run_once(settings)
    assert _counted(indexer.engine, target) == (0, 5, 0, 5)

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert board.post(sha256(b"target")) == target  # the same post again, without accounts[5]'s earlier vote
    for voter in accounts[1:6]:
        board.vote(target, -1, voter)
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run(once=True)
    assert indexer.health.reorgs >= 1
    assert _counted(indexer.engine, target) == (0, 5, 0, 4)
    clean = run_once(make_settings(data_dir, node.url, f"sqlite:///{tmp_path / 'clean.sqlite3'}"))
    assert dump_index(indexer.engine) == dump_index(clean.engine)


# --- issue 19.5: activity is a post or a vote of direction +-1, in an earlier block than the post --------------


def _first_activity(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {a: b for a, b in conn.execute(select(FirstActivity.address, FirstActivity.block_number))}


def test_direction_zero_votes_are_no_activity_and_a_reorg_to_them_uncounts_the_votes(
    own_chain, data_dir, database_url, tmp_path
):
    node, board = own_chain
    w3 = board.w3
    sleepers = w3.eth.accounts[1:6]
    settings = make_settings(data_dir, node.url, database_url)
    warm = board.post(sha256(b"warm"))
    for voter in sleepers:
        board.vote(warm, 0, voter)  # a VoteCast with direction 0: no tally changes, nothing shows
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    for voter in sleepers:
        board.vote(warm, 1, voter)  # on this branch they really vote before the post
    target = board.post(sha256(b"target"))
    for voter in sleepers:
        board.vote(target, -1, voter)
    indexer = run_once(settings)
    assert _counted(indexer.engine, target) == (0, 5, 0, 5)

    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert board.post(sha256(b"target")) == target  # the same post, the sleepers' only earlier votes are 0
    for voter in sleepers:
        board.vote(target, -1, voter)
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run(once=True)
    assert indexer.health.reorgs >= 1
    assert _counted(indexer.engine, target) == (0, 5, 0, 0)
    first = _first_activity(indexer.engine)
    target_block = board.contract.events.PostCreated().get_logs(from_block=0)[-1]["blockNumber"]
    assert all(first[v] > target_block for v in sleepers)  # their first activity is their vote on the target
    clean = run_once(make_settings(data_dir, node.url, f"sqlite:///{tmp_path / 'clean.sqlite3'}"))
    assert dump_index(indexer.engine) == dump_index(clean.engine)


def test_activity_in_the_posts_own_block_does_not_count(fresh_ganache: Ganache, data_dir, database_url, tmp_path):
    board = deploy_board(connect(fresh_ganache), data_dir)
    w3 = board.w3
    sleepers = w3.eth.accounts[1:6]
    warm = board.post(sha256(b"warm"))
    # seen in the mempool, a post is answered by activity placed ahead of it in the same block (a higher tip)
    assert w3.provider.make_request("miner_stop", [])["result"] is True
    base = {"maxFeePerGas": 10 * 10**9, "gas": 200_000}
    reactions = [
        board.contract.functions.vote(warm, board.digest_of(warm), 1).transact(
            {**base, "from": voter, "maxPriorityFeePerGas": 5 * 10**9}
        )
        for voter in sleepers
    ]
    posted = board.contract.functions.post(sha256(b"target"), 0, bytes(32)).transact(
        {**base, "from": w3.eth.accounts[0], "maxPriorityFeePerGas": 10**9}
    )
    w3.provider.make_request("evm_mine", [])
    assert w3.provider.make_request("miner_start", [])["result"] is True
    post_receipt = w3.eth.wait_for_transaction_receipt(posted)
    (created,) = board.contract.events.PostCreated().process_receipt(post_receipt)
    target = int(created["args"]["postId"])
    for tx in reactions:
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        assert receipt["blockNumber"] == post_receipt["blockNumber"]
        assert receipt["transactionIndex"] < post_receipt["transactionIndex"]  # earlier in chain order
    for voter in sleepers:
        board.vote(target, -1, voter)
    settings = make_settings(data_dir, fresh_ganache.url, database_url)
    indexer = run_once(settings)
    assert _counted(indexer.engine, target) == (0, 5, 0, 0)
    assert all(_first_activity(indexer.engine)[v] == post_receipt["blockNumber"] for v in sleepers)
    later = board.post(sha256(b"a later post"))  # the same activity, one block before: it counts
    for voter in sleepers:
        board.vote(later, -1, voter)
    indexer.run(once=True)
    assert _counted(indexer.engine, later) == (0, 5, 0, 5)
    clean = run_once(make_settings(data_dir, fresh_ganache.url, f"sqlite:///{tmp_path / 'clean.sqlite3'}"))
    assert dump_index(indexer.engine) == dump_index(clean.engine)
