"""The same node on Ganache and on Anvil (issue 21.3): deploy, index, relay, content and join on both chains.

The parametrised subset where the chain's kind may matter (its blocks, fees, receipts,
error texts and batches); the rest of the suite runs on Ganache alone, and the database
engine is SQLite here (both engines run on each chain in test_anvil_reorg.py and the
suite's Ganache tests). The browser check on Anvil is tests/browser/test_check_on_anvil.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from sqlalchemy import select
from web3.logs import DISCARD

from backend.content.cid import sha256
from backend.db.models import Post
from backend.db.stats import index_summary
from backend.deployments.resolve import find_deployment
from backend.devchain import DevNode
from backend.indexer.runner import Indexer
from tests.backend.relay.test_relay import _pin, relay, signed_post, signed_vote
from tests.support.board import connect, deploy_board
from tests.support.index import dump_index, make_settings
from tests.support.wait import wait_for

CAROL = Account.from_key(keccak(text="indelible chains carol"))


def test_a_board_deployed_on_either_chain_is_indexed_as_the_contract_has_it(any_chain: DevNode, tmp_path: Path):
    w3 = connect(any_chain)
    board = deploy_board(w3, tmp_path / "data")
    top = board.post(sha256(b"top"), sender=2)
    reply = board.post(sha256(b"reply"), top, sender=3)
    board.vote(top, 1, 4)
    board.vote(top, -1, 5)
    board.vote(reply, 1, 4)
    settings = make_settings(tmp_path / "data", any_chain.url, f"sqlite:///{tmp_path / 'index.sqlite3'}")
    indexer = Indexer(settings)
    try:
        indexer.run(once=True)
        with indexer.engine.connect() as conn:
            rows = conn.execute(select(Post.id, Post.author, Post.parent_id, Post.upvotes, Post.downvotes)).all()
    finally:
        indexer.close()
        indexer.engine.dispose()
    accounts = w3.eth.accounts
    assert sorted(rows) == [(top, accounts[2], None, 1, 1), (reply, accounts[3], top, 1, 0)]
    assert indexer.deployment is not None and indexer.deployment.chain_id == w3.eth.chain_id


def test_relayed_content_lands_on_either_chain_and_is_indexed_with_its_text(
    any_chain: DevNode, tmp_path: Path, make_client: Callable[..., TestClient]
):
    w3 = connect(any_chain)
    board = deploy_board(w3, tmp_path / "data")
    client = make_client(make_settings(tmp_path / "data", any_chain.url, f"sqlite:///{tmp_path / 'index.sqlite3'}"))
    digest = _pin(client, "On every chain", "relayed, pinned, indexed")
    response = relay(client, "post", signed_post(board, CAROL, digest))
    assert response.status_code == 200, response.text
    receipt = w3.eth.wait_for_transaction_receipt(response.json()["tx_hash"])
    assert receipt["from"] == w3.eth.accounts[1]  # the relayer pays, the signer is the author
    post_id = board.contract.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]["postId"]
    vote = relay(client, "vote", signed_vote(board, CAROL, post_id, 1))
    assert vote.status_code == 200, vote.text
    w3.eth.wait_for_transaction_receipt(vote.json()["tx_hash"])
    engine = client.app.state.indelible.engine
    wait_for(lambda: index_summary(engine)["vote_events"] == 1, what="the relayed vote in the index")
    post = client.get(f"/api/posts/{post_id}").json()["post"]
    assert (post["author"], post["title"], post["upvotes"]) == (CAROL.address, "On every chain", 1)
    assert client.get(f"/api/nonces/{CAROL.address}").json()["nonce"] == 2


def test_a_node_joins_a_board_by_address_on_either_chain_and_builds_the_same_index(any_chain: DevNode, tmp_path: Path):
    w3 = connect(any_chain)
    board = deploy_board(w3, tmp_path / "deployer")
    for n in range(3):
        board.post(sha256(f"joined {n}".encode()), sender=n)
    board.vote(1, -1, 6)
    dumps = []
    for name, address in (("deployer", ""), ("joiner", board.deployment.address)):
        data_dir = tmp_path / name
        data_dir.mkdir(exist_ok=True)
        settings = make_settings(
            data_dir, any_chain.url, f"sqlite:///{data_dir / 'index.sqlite3'}", contract_address=address
        )
        indexer = Indexer(settings)
        try:
            indexer.run(once=True)
            dumps.append(dump_index(indexer.engine))
        finally:
            indexer.close()
            indexer.engine.dispose()
    joined = find_deployment(w3, make_settings(tmp_path / "joiner", any_chain.url, "", contract_address=address))
    assert joined.joined and joined.block_number == board.deployment.block_number
    assert dumps[0] == dumps[1]
