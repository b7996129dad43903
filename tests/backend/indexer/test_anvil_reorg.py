"""Real reorganisations on Anvil (``anvil_reorg``: the last blocks replaced, with other transactions in them).

During a backfill and at the head, depth 1 to 10, SQLite and PostgreSQL: after the reorg the
index equals a fresh rebuild of the same chain, row for row (the per-topic table too, and it equals
GROUP BY topic over the posts: the posts carry documents in three topics, the new branch's in two; and the inbox
table equals the replies joined to their parents' authors: replies on both branches, one of them to oneself).
Confirmations do not hide a deeper reorg: the indexer checks its tip's hash whatever the finality rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from web3 import Web3
from web3.types import RPCEndpoint

from backend.config import Settings
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.db.models import Post
from backend.devchain import Anvil
from backend.indexer.runner import Indexer
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.inbox import assert_inbox_kept
from tests.support.index import dump_index, make_settings
from tests.support.topics import assert_topics_kept

POSTS = 14  # one block each, then votes: the chain above the deployment is ~20 blocks
TOPICS = ("tide-pools", "rust", None)  # post i's document is in TOPICS[i % 3]
REPLIES = {5: 1, 9: 5, 10: 5, 13: 2}  # post i (sender i % 5) answers post j: 10 answers its own author's post 5
SELF_REPLY = Web3.to_hex(sha256(encode_document(None, "reply 10", None)))  # in no inbox


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in answer, answer
    return answer.get("result")


@pytest.fixture
def busy(anvil: Anvil, data_dir: Path) -> BoardHandle:
    """A Board on the session Anvil with posts and votes in blocks of their own."""
    w3 = connect(anvil)
    board = deploy_board(w3, data_dir)
    accounts = w3.eth.accounts
    pins = PinStore(data_dir / "content")
    ids: list[int] = []
    for i in range(POSTS):
        if i in REPLIES:
            ids.append(board.post_document(pins, None, f"reply {i}", ids[REPLIES[i]], accounts[i % 5]))
        else:
            ids.append(board.post_document(pins, f"before {i}", "text", sender=accounts[i % 5], topic=TOPICS[i % 3]))
    for i, post_id in enumerate(ids[-6:]):
        board.vote(post_id, 1 if i % 2 else -1, accounts[6 + i])
    return board


def _branch_document(tag: str, k: int) -> bytes:
    """The new branch's k-th post: in a topic of the old branch or one of its own; the third is a reply."""
    if k == 2:
        return encode_document(None, f"{tag} reply", None)
    return encode_document(f"{tag} {k}", "text", "rust" if k % 2 else "branch")


def _pin_branch(data_dir: Path, tag: str) -> None:
    """Pin the new branch's documents before the indexer starts (it looks new posts up in its pin store)."""
    pins = PinStore(data_dir / "content")
    for k in range(3):
        pins.put(_branch_document(tag, k))


def _replacements(board: BoardHandle, depth: int, tag: str) -> list[list[Any]]:
    """Transactions for the new branch: new posts from other accounts (documents with topics) and a changed vote."""
    functions, accounts = board.contract.functions, board.w3.eth.accounts
    pairs: list[list[Any]] = []
    for k in range(min(depth, 3)):  # the third answers post 2 (by accounts[2]): an inbox entry on this branch only
        parent, parent_digest = (2, board.digest_of(2)) if k == 2 else (0, bytes(32))
        data = functions.post(sha256(_branch_document(tag, k)), parent, parent_digest)._encode_transaction_data()
        pairs.append([{"from": accounts[12 + k], "to": board.contract.address, "data": data}, k])
    vote = functions.vote(1, board.digest_of(1), 1)._encode_transaction_data()
    pairs.append([{"from": accounts[15], "to": board.contract.address, "data": vote}, depth - 1])
    return pairs


def _fresh_dump(settings: Settings, tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    fresh_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    clean = Indexer(make_settings(settings.data_dir, settings.rpc_url, fresh_url, confirmations=settings.confirmations))
    try:
        clean.run(once=True)
        return dump_index(clean.engine)
    finally:
        clean.close()
        clean.engine.dispose()


@pytest.mark.parametrize("depth", [1, 4, 10])
@pytest.mark.parametrize("when", ["head", "backfill"])
def test_an_anvil_reorg_leaves_the_index_equal_to_a_fresh_rebuild(
    busy: BoardHandle, anvil: Anvil, data_dir: Path, database_url: str, tmp_path: Path, depth: int, when: str
):
    w3 = busy.w3
    settings = make_settings(data_dir, anvil.url, database_url)
    _pin_branch(data_dir, f"branch {when} {depth}")
    indexer = Indexer(settings, max_span=2)  # small ranges: a backfill is many steps, one read ahead
    head = w3.eth.block_number
    old = {n: w3.eth.get_block(n)["hash"] for n in range(head - depth + 1, head + 1)}
    try:
        if when == "head":
            indexer.run(once=True)
        else:  # stop mid-way: some replaced blocks indexed, others read ahead or not read yet
            while (indexer.health.indexed_block or 0) < head - depth // 2 - 3:
                indexer.step()
        _rpc(w3, "anvil_reorg", depth, _replacements(busy, depth, f"branch {when} {depth}"))
        assert all(w3.eth.get_block(n)["hash"] != old[n] for n in old), "anvil_reorg left a block as it was"
        _rpc(w3, "evm_mine")
        indexer.run(once=True)
        followed = dump_index(indexer.engine)
        topics = assert_topics_kept(indexer.engine)
        inbox = assert_inbox_kept(indexer.engine)
        with indexer.engine.connect() as conn:
            digests = set(conn.execute(select(Post.digest)).scalars())
            replies = {d: i for d, i in conn.execute(select(Post.digest, Post.id).where(Post.parent_id.is_not(None)))}
    finally:
        indexer.close()
        indexer.engine.dispose()
    assert followed == _fresh_dump(settings, tmp_path)
    assert Web3.to_hex(sha256(_branch_document(f"branch {when} {depth}", 0))) in digests  # the new branch's post
    assert [topic for topic, *_ in topics] == ["branch", "rust", "tide-pools"]
    branch_reply = Web3.to_hex(sha256(_branch_document(f"branch {when} {depth}", 2)))
    assert (branch_reply in replies) == (depth >= 3)
    assert {reply for _, reply in inbox} == {i for d, i in replies.items() if d != SELF_REPLY}
    if when == "head":
        assert indexer.health.reorgs == 1


def test_a_reorg_deeper_than_the_confirmations_is_followed(
    busy: BoardHandle, anvil: Anvil, data_dir: Path, database_url: str, tmp_path: Path
):
    w3 = busy.w3
    settings = make_settings(data_dir, anvil.url, database_url, confirmations=2)
    _pin_branch(data_dir, "deeper")
    indexer = Indexer(settings)
    try:
        indexer.run(once=True)
        assert indexer.health.indexed_block == w3.eth.block_number - 2
        _rpc(w3, "anvil_reorg", 6, _replacements(busy, 6, "deeper"))
        indexer.run(once=True)
        followed = dump_index(indexer.engine)
        assert_topics_kept(indexer.engine)
        assert len(assert_inbox_kept(indexer.engine)) == len(REPLIES)  # 3 of busy's and the branch's (depth 6)
    finally:
        indexer.close()
        indexer.engine.dispose()
    assert indexer.health.reorgs == 1
    assert followed == _fresh_dump(settings, tmp_path)
