"""The indexer on real Ganache chains: backfill, follow, idempotence, reorgs, replaced chains, status."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select, update
from web3 import Web3

from backend.content.cid import digest_to_cid, sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.db.models import Meta, NonceEvent, Post, Topic, Vote
from backend.db.session import make_engine
from backend.devchain import Ganache
from backend.eip712 import sign, split_signature
from backend.indexer import store
from backend.indexer.decode import NONCE_USED, POST_CREATED, TOPICS, MalformedLog, NonceUsed, decode_log
from backend.indexer.fetch import RangeSizer
from backend.indexer.rpc import Rpc, RpcError
from backend.indexer.runner import Indexer
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.inbox import assert_inbox_kept
from tests.support.index import POSTGRES_URL, dump_index, make_settings, reset_postgres
from tests.support.topics import assert_topics_kept
from tests.support.wait import wait_for


def seed(board: BoardHandle, posts: int = 6) -> list[int]:
    """Top-level posts, replies and votes (some changed, some withdrawn) from several accounts."""
    accounts = board.w3.eth.accounts
    top = [board.post(sha256(f"top {i}".encode()), sender=accounts[i % 4]) for i in range(posts)]
    reply = board.post(sha256(b"reply"), top[0], sender=accounts[5])
    nested = board.post(sha256(b"nested"), reply, sender=accounts[6])
    for i, post_id in enumerate(top):
        board.vote(post_id, 1, accounts[7])
        board.vote(post_id, -1 if i % 2 else 1, accounts[8])
    board.vote(top[0], -1, accounts[7])  # changed
    board.vote(top[1], 0, accounts[8])  # withdrawn
    board.vote(reply, 1, accounts[9])
    return [*top, reply, nested]


def run_once(settings, **kwargs) -> Indexer:
    indexer = Indexer(settings, **kwargs)
    indexer.run(once=True)
    return indexer


def assert_matches_chain(board: BoardHandle, engine) -> None:
    """Every post's author, parent, digest and tallies equal the contract's view, every vote its voteOf."""
    count = board.contract.functions.postCount().call()
    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(Post)).all()}
        votes = {(v.post_id, v.voter): v.direction for v in conn.execute(select(Vote)).all()}
    assert sorted(rows) == list(range(1, count + 1))
    for post_id, row in rows.items():
        author, parent, digest, created_at, up, down = board.contract.functions.getPost(post_id).call()
        assert (row.author, row.parent_id or 0, row.digest, row.created_at) == (
            author,
            parent,
            Web3.to_hex(digest),
            created_at,
        )
        assert (row.upvotes, row.downvotes, row.score) == (up, down, up - down)
        assert row.cid == digest_to_cid(digest)
    for (post_id, voter), direction in votes.items():
        assert board.contract.functions.voteOf(post_id, voter).call() == direction
    with engine.connect() as conn:
        spent = conn.execute(select(NonceEvent.signer, func.max(NonceEvent.nonce)).group_by(NonceEvent.signer)).all()
    for signer, last in spent:
        assert board.contract.functions.nonces(signer).call() == last + 1


def test_backfill_matches_the_contract(board, settings):
    ids = seed(board)
    indexer = run_once(settings)
    assert_matches_chain(board, indexer.engine)
    with indexer.engine.connect() as conn:
        reply, nested = conn.execute(select(Post).where(Post.id.in_(ids[-2:])).order_by(Post.id)).all()
        top = conn.execute(select(Post).where(Post.id == ids[0])).one()
        withdrawn = conn.execute(select(Vote).where(Vote.post_id == ids[1], Vote.voter == board.w3.eth.accounts[8]))
    assert (reply.root_id, reply.depth, nested.root_id, nested.depth) == (ids[0], 1, ids[0], 2)
    assert (top.reply_count, reply.reply_count, nested.reply_count) == (1, 1, 0)
    assert withdrawn.first() is None


def test_indexer_follows_new_blocks(board, settings):
    seed(board, posts=2)
    indexer = Indexer(settings)
    stop = threading.Event()
    thread = threading.Thread(target=indexer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: indexer.health.caught_up)
        new_id = board.post(sha256(b"late"))
        board.vote(new_id, 1)
        with indexer.engine.connect() as conn:
            wait_for(lambda: conn.execute(select(Post.upvotes).where(Post.id == new_id)).scalar() == 1, timeout=2)
    finally:
        stop.set()
        thread.join(10)
    assert_matches_chain(board, indexer.engine)


def seed_topics(board: BoardHandle, settings) -> list[int]:
    """Top-level posts whose documents (pinned first) are in two topics, and one without a topic."""
    pins = PinStore(settings.content_dir)
    topics = ["tide-pools", "rust", "tide-pools", None]
    return [board.post_document(pins, f"Topic post {i}", "text", topic=topic) for i, topic in enumerate(topics)]


def test_indexing_a_range_twice_changes_nothing(board, settings):
    seed_topics(board, settings)
    seed(board)
    indexer = run_once(settings)
    before = dump_index(indexer.engine)
    assert [row[:2] for row in assert_topics_kept(indexer.engine)] == [("rust", 1), ("tide-pools", 2)]
    accounts = board.w3.eth.accounts  # seed's reply answers accounts[0], its nested reply accounts[5]
    assert sorted(recipient for recipient, _ in assert_inbox_kept(indexer.engine)) == sorted(
        accounts[i] for i in (0, 5)
    )
    indexer.sizer.span = indexer.sizer.max_span  # the whole history as one range
    batch = indexer._read_range(board.deployment.block_number, indexer.rpc.block_number(), "", indexer.rpc)
    with indexer.engine.begin() as conn:
        store.store_range(conn, batch, indexer.content.lookup)
    assert dump_index(indexer.engine) == before


def test_an_index_of_the_previous_schema_is_rebuilt_from_the_chain_with_its_topics(board, settings):
    ids = seed_topics(board, settings)
    seed(board)
    indexer = run_once(settings)
    before = dump_index(indexer.engine)
    with indexer.engine.begin() as conn:  # schema 9: no topics table
        Topic.__table__.drop(conn)
        conn.execute(update(Meta).where(Meta.key == "schema_version").values(value="9"))
    indexer.close()
    indexer.engine.dispose()
    rebuilt = run_once(settings)
    try:
        assert dump_index(rebuilt.engine) == before
        topics = assert_topics_kept(rebuilt.engine)
        assert len(assert_inbox_kept(rebuilt.engine)) == 2
    finally:
        rebuilt.close()
        rebuilt.engine.dispose()
    assert [row[:2] + row[3:] for row in topics] == [("rust", 1, ids[1]), ("tide-pools", 2, ids[2])]


def test_refused_log_ranges_shrink_and_still_index_everything(board, settings, monkeypatch):
    seed(board)
    indexer = Indexer(settings)
    spans = []

    def picky(real):
        def get_logs(address, start, end):
            spans.append(end - start + 1)
            if end - start + 1 > 3:
                raise RpcError("query returned more than 10000 results", code=-32005)
            return real(address, start, end)

        return get_logs

    for rpc in (indexer.rpc, indexer._reader_rpc):  # the second one reads ahead
        monkeypatch.setattr(rpc, "get_logs", picky(rpc.get_logs))
    indexer.run(once=True)
    assert max(spans) > 3 and indexer.sizer.span <= 6
    assert_matches_chain(board, indexer.engine)


def test_indexer_asks_the_node_only_for_the_events_it_stores_and_stores_each_signed_nonce(board, settings):
    signer = Account.from_key(sha256(b"indexer topics signer"))
    digest = sha256(b"signed post")
    message = {
        "author": signer.address, "digest": digest, "parentId": 0, "parentDigest": bytes(32), "nonce": 0,
        "deadline": 2**40,
    }  # fmt: skip
    chain_id, address = board.w3.eth.chain_id, board.contract.address
    struct = (
        signer.address,
        digest,
        0,
        bytes(32),
        0,
        2**40,
        *split_signature(sign(signer, "post", message, chain_id, address)),
    )
    board.w3.eth.wait_for_transaction_receipt(board.contract.functions.batch([struct], []).transact())
    head = board.w3.eth.block_number
    everything = Rpc(settings.rpc_url)
    try:
        all_topics = {log["topics"][0] for log in everything.get_logs(address, 0, head)}
    finally:
        everything.close()
    indexer = run_once(settings)
    asked = {log["topics"][0] for log in indexer.rpc.get_logs(address, 0, head)}
    indexer.close()
    assert all_topics == {POST_CREATED, NONCE_USED}  # the signed post's NonceUsed is on chain
    assert asked == all_topics and set(TOPICS) >= asked
    assert indexer.health.malformed_logs == 0
    with indexer.engine.connect() as conn:
        assert conn.execute(select(Post.author)).scalars().all() == [signer.address]
        assert conn.execute(select(NonceEvent.signer, NonceEvent.nonce)).all() == [(signer.address, 0)]


def test_range_sizer_halves_on_refusal_and_doubles_when_sparse():
    sizer = RangeSizer(span=100, max_span=400)
    assert sizer.shrink() and sizer.span == 50
    sizer.after(blocks=50, logs=3)
    assert sizer.span == 100
    for _ in range(5):
        sizer.after(blocks=sizer.span, logs=0)
    assert sizer.span == 400
    sizer.span = 1
    assert not sizer.shrink()


def test_confirmations_hold_back_the_newest_blocks(board, data_dir, ganache, database_url):
    seed(board, posts=3)
    settings = make_settings(data_dir, ganache.url, database_url, confirmations=2)
    indexer = run_once(settings)
    assert indexer.health.indexed_block == board.w3.eth.block_number - 2


LOG = {
    "blockNumber": "0x5",
    "blockHash": "0x" + "ab" * 32,
    "transactionHash": "0x" + "cd" * 32,
    "logIndex": "0x0",
}


@pytest.mark.parametrize(
    ("log", "message"),
    [
        ({**LOG, "topics": [], "data": "0x"}, "log without topics"),
        ({**LOG, "topics": ["0x" + "11" * 32], "data": "0x"}, "unknown event topic"),
        ({"topics": ["0x" + "11" * 32], "data": "0x"}, "log fields missing or malformed"),
    ],
)
def test_malformed_logs_raise_malformed_log(log, message):
    with pytest.raises(MalformedLog, match=message):
        decode_log(log)


def test_malformed_log_is_skipped_and_counted(board, settings, caplog):
    indexer = Indexer(settings)
    good = {**LOG, "topics": [], "data": "0x"}
    events = indexer._decode([good])
    assert events == [] and indexer.health.malformed_logs == 1
    assert "skipping malformed log in tx 0x" + "cd" * 32 in caplog.text


def test_vote_with_impossible_direction_is_malformed():
    from backend.indexer.decode import VOTE_CAST

    topics = [VOTE_CAST, "0x" + "00" * 31 + "01", "0x" + "00" * 12 + "11" * 20]
    data = "0x" + (2).to_bytes(32, "big").hex() + "00" * 64
    with pytest.raises(MalformedLog, match="vote direction 2 is not -1, 0 or 1"):
        decode_log({**LOG, "topics": topics, "data": data})


def test_nonce_used_decodes_and_a_nonce_past_the_storable_range_is_malformed():
    topics = [NONCE_USED, "0x" + "00" * 12 + "11" * 20]
    event = decode_log({**LOG, "topics": topics, "data": "0x" + (7).to_bytes(32, "big").hex()})
    assert isinstance(event, NonceUsed) and (event.signer, event.nonce) == (Web3.to_checksum_address("11" * 20), 7)
    with pytest.raises(MalformedLog, match="does not fit uint63"):
        decode_log({**LOG, "topics": topics, "data": "0x" + (2**63).to_bytes(32, "big").hex()})


@pytest.fixture
def own_chain(fresh_ganache: Ganache, data_dir) -> Iterator[tuple[Ganache, BoardHandle]]:
    w3 = connect(fresh_ganache)
    yield fresh_ganache, deploy_board(w3, data_dir)


def test_reorg_removes_orphaned_posts_and_votes(own_chain, data_dir, database_url, tmp_path):
    node, board = own_chain
    w3 = board.w3
    settings = make_settings(data_dir, node.url, database_url)
    kept = board.post(sha256(b"kept"))
    board.vote(kept, 1)
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    orphan = board.post(sha256(b"orphan"), kept)
    board.vote(kept, -1, w3.eth.accounts[1])
    board.vote(orphan, 1, w3.eth.accounts[2])
    indexer = run_once(settings)
    with indexer.engine.connect() as conn:
        assert conn.execute(select(Post.cid).where(Post.id == orphan)).scalar() == digest_to_cid(sha256(b"orphan"))
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    replacement = board.post(sha256(b"replacement"))  # takes the orphan's id on the new branch
    board.vote(replacement, -1, w3.eth.accounts[3])
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run(once=True)
    assert indexer.health.reorgs >= 1
    assert_matches_chain(board, indexer.engine)
    with indexer.engine.connect() as conn:
        assert conn.execute(select(Post.cid).where(Post.id == replacement)).scalar() == digest_to_cid(
            sha256(b"replacement")
        )
        assert conn.execute(select(Post.reply_count, Post.downvotes).where(Post.id == kept)).one() == (0, 0)
    clean_url = f"sqlite:///{tmp_path / 'clean.sqlite3'}"
    clean = run_once(make_settings(data_dir, node.url, clean_url))
    assert dump_index(indexer.engine) == dump_index(clean.engine)


def test_reorg_at_same_height_is_noticed(own_chain, data_dir, database_url):
    node, board = own_chain
    w3 = board.w3
    settings = make_settings(data_dir, node.url, database_url)
    board.post(sha256(b"base"))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    board.post(sha256(b"first branch"))
    indexer = run_once(settings)
    w3.provider.make_request("evm_revert", [snapshot])
    board.post(sha256(b"second branch"))  # same height as the first branch's block
    indexer.run(once=True)
    assert_matches_chain(board, indexer.engine)
    with indexer.engine.connect() as conn:
        assert conn.execute(select(Post.cid).where(Post.id == 2)).scalar() == digest_to_cid(sha256(b"second branch"))


def test_replaced_chain_rebuilds_the_index(data_dir, database_url):
    from backend.devchain import free_port

    port = free_port()
    with Ganache(port) as first:
        board = deploy_board(connect(first), data_dir)
        seed(board, posts=3)
        settings = make_settings(data_dir, first.url, database_url)
        indexer = run_once(settings)
        old_genesis = indexer._genesis
        assert indexer.health.indexed_block == board.w3.eth.block_number
    with Ganache(port) as second:
        w3 = connect(second)
        w3.provider.make_request("evm_mine", [])  # the new deployment lands in another block
        new_board = deploy_board(w3, data_dir)
        new_id = new_board.post(sha256(b"new world"))
        indexer = run_once(settings)
        assert indexer.health.rebuilds == 1 and indexer._genesis != old_genesis
        assert_matches_chain(new_board, indexer.engine)
        with indexer.engine.connect() as conn:
            assert conn.execute(select(Post.id)).scalars().all() == [new_id]


def test_chain_without_deployment_is_reported_not_served(make_client, data_dir, database_url, board):
    from backend.devchain import free_port

    port = free_port()
    with Ganache(port) as node:
        first = deploy_board(connect(node), data_dir)
        first.post(sha256(b"old"))
        client = make_client(make_settings(data_dir, node.url, database_url))
        wait_for(lambda: client.get("/api/status").json()["index"]["posts"] == 1)
    with Ganache(port):
        # the status is what the indexer last published: wait past its "unreachable" while the node restarted
        status = wait_for(
            lambda: (
                (s := client.get("/api/status").json())["index"]["current"] is False
                and "unreachable" not in s["error"]
                and s
            )
        )
    assert status["index"]["lag"] is None
    assert "the chain was replaced" in status["error"] or "another chain" in status["error"]


def test_post_sent_to_contract_shows_in_status_within_two_seconds(client, board):
    document = encode_document("Straight to the chain", "no backend involved")
    assert (
        client.post("/api/content", content=document, headers={"Content-Type": "application/json"}).status_code == 201
    )
    wait_for(lambda: client.get("/api/status").json()["index"]["current"])
    pinned = board.post(sha256(document))
    missing = board.post(sha256(b'{"title":"never uploaded","body":""}'))
    status = wait_for(lambda: (s := client.get("/api/status").json())["index"]["posts"] == 2 and s, timeout=2)
    assert status["index"]["content"] == {
        "pinned": 1,
        "missing": 1,
        "invalid": 0,
        "queued": 1,
        "progress": "content 1 of 2",
    }
    assert status["index"]["authors"] == 1 and status["index"]["lag"] == 0
    with make_engine(client.app.state.indelible.settings.effective_database_url).connect() as conn:
        rows = {r.id: r for r in conn.execute(select(Post)).all()}
    assert (rows[pinned].content_status, rows[pinned].title) == ("pinned", "Straight to the chain")
    assert (rows[missing].content_status, rows[missing].title, rows[missing].body) == ("missing", None, None)
    assert rows[missing].cid == digest_to_cid(sha256(b'{"title":"never uploaded","body":""}'))


def test_bulk_writes_make_the_index_the_plain_statements_make(board, settings, database_url, monkeypatch):
    """COPY-staged writes of a whole history in one range = plain statements one block at a time, row for row.

    On PostgreSQL the first index takes every bulk write through COPY into a temporary twin (the threshold
    lowered to one row), the second through plain multi-row statements; SQLite takes its multi-row path both
    times. One range holds every event (latest tallies and reply counts derived in Python, posts born with their
    tallies); one block per range makes later ranges update posts stored by earlier ones.
    """
    from backend.db import write

    seed(board)
    signer = Account.from_key(sha256(b"bulk writes signer"))
    chain_id, address = board.w3.eth.chain_id, board.contract.address
    structs = []
    for nonce in range(3):  # signed posts: their NonceUsed fill the nonces table
        digest = sha256(f"signed {nonce}".encode())
        message = {
            "author": signer.address, "digest": digest, "parentId": 0, "parentDigest": bytes(32), "nonce": nonce,
            "deadline": 2**40,
        }  # fmt: skip
        signature = split_signature(sign(signer, "post", message, chain_id, address))
        structs.append((signer.address, digest, 0, bytes(32), nonce, 2**40, *signature))
    board.w3.eth.wait_for_transaction_receipt(board.contract.functions.batch(structs, []).transact())
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 1)
    staged: list[str] = []
    copy_staged = write._copy_staged
    monkeypatch.setattr(
        write, "_copy_staged", lambda conn, table, *rest: staged.append(table.name) or copy_staged(conn, table, *rest)
    )
    bulk = Indexer(settings)
    bulk.sizer.span = bulk.sizer.max_span  # the whole history as one range
    bulk.run(once=True)
    bulk_dump = dump_index(bulk.engine)
    bulk.close()
    bulk.engine.dispose()
    assert (len(bulk_dump["posts"]), len(bulk_dump["nonces"]), len(bulk_dump["votes"])) == (11, 3, 12)
    postgres = settings.effective_database_url.startswith("postgresql")
    assert set(staged) >= ({"posts", "vote_events", "nonces", "content_queue", "votes"} if postgres else set())
    assert postgres or not staged
    staged.clear()
    if postgres:
        reset_postgres(POSTGRES_URL)
        plain_settings = settings
    else:
        plain_settings = dataclasses.replace(settings, database_url=f"sqlite:///{settings.data_dir / 'plain.db'}")
    monkeypatch.setattr(write, "COPY_MIN_ROWS", 0)
    plain = Indexer(plain_settings, max_span=1)
    plain.run(once=True)
    assert dump_index(plain.engine) == bulk_dump
    assert staged == []  # the plain index took no COPY
    assert_matches_chain(board, plain.engine)
    plain.close()


def _signed_batch(board: BoardHandle, posts: list[tuple[Any, bytes]], votes: list[tuple[Any, int, int]]) -> None:
    """One batch() transaction (one block): ``posts`` (signer, digest) top-level, then ``votes`` (signer, post, dir)."""
    chain_id, address, contract = board.w3.eth.chain_id, board.contract.address, board.contract
    nonces: dict[str, int] = {}

    def nonce(signer: Any) -> int:
        known = nonces.get(signer.address)
        if known is None:
            known = contract.functions.nonces(signer.address).call()
        nonces[signer.address] = known + 1
        return known

    post_structs, vote_structs = [], []
    for signer, digest in posts:
        message = {
            "author": signer.address, "digest": digest, "parentId": 0, "parentDigest": bytes(32),
            "nonce": nonce(signer), "deadline": 2**40,
        }  # fmt: skip
        signature = split_signature(sign(signer, "post", message, chain_id, address))
        post_structs.append((signer.address, digest, 0, bytes(32), message["nonce"], 2**40, *signature))
    count = contract.functions.postCount().call()
    for signer, post_id, direction in votes:
        # a post of this very batch has the next ids, in the batch's order
        digest = board.digest_of(post_id) if post_id <= count else posts[post_id - count - 1][1]
        message = {
            "voter": signer.address, "postId": post_id, "postDigest": digest, "direction": direction,
            "nonce": nonce(signer), "deadline": 2**40,
        }  # fmt: skip
        signature = split_signature(sign(signer, "vote", message, chain_id, address))
        vote_structs.append((signer.address, post_id, digest, direction, message["nonce"], 2**40, *signature))
    receipt = board.w3.eth.wait_for_transaction_receipt(contract.functions.batch(post_structs, vote_structs).transact())
    assert receipt["status"] == 1


@pytest.mark.parametrize("span", [5000, 1])
def test_derived_columns_of_a_backfill_equal_those_recounted_from_the_stored_rows(board, settings, span):
    """Reply counts, tallies and the default lens's counted tallies, written once per post by the backfill (new
    posts born with theirs, older posts touched by a range updated once), equal what the stored-row recounts
    (refresh_reply_counts, refresh_tallies, refresh_counted) derive: in one range and one block per range.

    The chain has votes that count (an author of an earlier block voting) and votes that do not (a first action
    in the post's own block: a signer who votes in the batch() transaction that also holds the post).
    """
    top = seed(board)
    accounts = board.w3.eth.accounts
    board.vote(top[6], 1, accounts[0])  # accounts 0-3 posted before the reply: their votes count
    board.vote(top[7], -1, accounts[1])
    board.vote(top[7], 1, accounts[2])
    board.vote(top[6], 1, accounts[7])  # account 7 first voted after the reply: it does not
    early, author, late = (Account.from_key(sha256(f"derived {name}".encode())) for name in ("early", "author", "late"))
    _signed_batch(board, [(early, sha256(b"early post"))], [])
    first_new = board.contract.functions.postCount().call() + 1
    _signed_batch(
        board,
        [(author, sha256(b"same block post")), (author, sha256(b"second same block post"))],
        [(early, first_new, 1), (late, first_new, -1), (early, first_new + 1, -1), (late, top[0], 1)],
    )
    board.vote(first_new, 1, accounts[3])  # a later block: counts
    indexer = Indexer(settings, max_span=span)
    indexer.sizer.span = span
    indexer.run(once=True)
    written = dump_index(indexer.engine)
    with indexer.engine.begin() as conn:
        ids = sorted(conn.execute(select(Post.id)).scalars())
        store.refresh_reply_counts(conn, ids)
        store.refresh_tallies(conn, ids)
        store.refresh_counted(conn, ids)
        counted = dict(conn.execute(select(Post.id, Post.counted_upvotes - Post.counted_downvotes)).all())
    assert dump_index(indexer.engine) == written
    assert counted[first_new] == 1 + 1  # early's and account 3's upvotes; late's downvote does not count
    assert counted[first_new + 1] == -1  # early's downvote
    assert counted[top[6]] == 1  # account 0's upvote (account 7's does not count)
    assert_matches_chain(board, indexer.engine)
    indexer.close()
