"""The one-file reader proves what it shows (issue 23.3): the same proofs as the node's pages (static/js/proof.js).

Opened from file:// in Chromium on a Board of a few posts, replies and votes (one module stack: Ganache, the
Board, one node serving the files). Every shown post is proven with eth_getProof against the header of the
reader's block; "proven at block N by 2 RPCs" needs a second RPC that states the same block hash. The liars are
tests/support/lying_rpc.py's: a lazy one whose storage reads differ from its own proofs, and the cleverest one,
who forges the state itself (storage trie, account, state root, a header hashed anew) and answers the reader's
storage reads to match, so that everything it says agrees with everything else it says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page

from backend.app import create_app
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.devchain import Ganache, free_port
from reader.build import OUT, build
from tests.support.board import BoardHandle, connect
from tests.support.index import make_settings, module_index
from tests.support.lying_rpc import LyingRpc, lying_rpc, slot_key
from tests.support.servers import serving
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}
POST_COUNT_SLOT = 3
TALLIES_SLOT = 5  # backend/static/board-layout.json, pinned to solc's layout by test_proof_layout.py


@dataclass
class Stack:
    ganache: Ganache
    board: BoardHandle
    gateway: str
    liar: LyingRpc  # starts honest; each test sets its lies and clears them after
    honest: LyingRpc  # a second source that never lies: a proxy in front of the same Ganache
    voted: int  # a top-level post with votes (its tally slot exists, so the liar can forge it)
    thread: int


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    build()
    with Ganache(free_port()) as ganache:
        w3 = connect(ganache)
        data_dir, board, database = module_index(w3, tmp_path_factory, "sqlite", "reader-proofs")
        port = free_port()
        app = create_app(make_settings(data_dir, ganache.url, database))
        with serving(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")):
            gateway = f"http://127.0.0.1:{port}"
            ids = []
            for n in range(5):
                data = encode_document(f"Proven post {n}", f"body {n}")
                assert httpx.post(f"{gateway}/api/content", content=data, headers=JSON, timeout=10).status_code == 201
                ids.append(board.post(sha256(data), sender=n % 3))
            for n in range(3):
                data = encode_document(None, f"reply {n}")
                assert httpx.post(f"{gateway}/api/content", content=data, headers=JSON, timeout=10).status_code == 201
                board.post(sha256(data), parent_id=ids[0], sender=1 + n)
            for n, (post_id, direction) in enumerate([(ids[1], 1), (ids[1], 1), (ids[2], -1), (ids[0], 1)]):
                board.vote(post_id, direction, sender=3 + n)
            wait_for(
                lambda: httpx.get(f"{gateway}/api/status").json()["index"]["indexed_block"] == w3.eth.block_number,
                timeout=60, interval=0.2, what="the node to index",
            )  # fmt: skip
            address = board.deployment.address
            with lying_rpc(ganache.url, address) as liar, lying_rpc(ganache.url, address) as honest:
                yield Stack(ganache, board, gateway, liar, honest, voted=ids[1], thread=ids[0])


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    stack.liar.clear()
    assert not errors, errors


def _open(page: Page, stack: Stack, rpcs: list[str], view: str = "new") -> dict[int, tuple[str, str]]:
    """Open the reader on ``rpcs``; wait for its proofs; each shown post's (status, mark text)."""
    query = {"rpc": ",".join(rpcs), "board": stack.board.deployment.address, "gateway": stack.gateway}
    page.goto("about:blank")  # a new load: a change of the hash alone would keep the last view's marks a moment
    page.goto(f"{OUT.as_uri()}?{urlencode(query)}#/{view}")
    page.wait_for_selector("#view[data-proof]", state="attached")
    marks = page.evaluate(
        """() => [...document.querySelectorAll('#view article')].map((a) => {
            const mark = a.querySelector(':scope > .meta > .proof');
            return [Number(a.dataset.postId), mark?.dataset.proof ?? null, mark?.textContent ?? null];
        })"""
    )
    return {post_id: (status, text) for post_id, status, text in marks}


def _block(page: Page) -> int:
    return int(page.evaluate("document.getElementById('check').textContent").split("block ")[1].split(":")[0])


def test_two_honest_rpcs_prove_every_shown_post_and_its_thread(page: Page, stack: Stack):
    for view in ("new", f"post/{stack.thread}"):
        marks = _open(page, stack, [stack.ganache.url, stack.honest.url], view)
        block = _block(page)
        assert marks and all(mark == ("proven", f"proven at block {block} by 2 RPCs") for mark in marks.values()), marks
        assert page.inner_text("#proof-summary").startswith(f"Proven at block {block} by 2 RPCs that agree")
        assert page.get_attribute("#view", "data-proof") == "proven"
    assert "eth_getBlockByNumber" in stack.honest.asked  # the second RPC was asked for the header
    assert len(marks) == 4  # the thread: its root and three replies, each proven


def test_one_rpc_checks_every_post_and_calls_none_proven(page: Page, stack: Stack):
    marks = _open(page, stack, [stack.ganache.url])
    block = _block(page)
    assert marks and all(mark == ("single", f"checked by 1 RPC at block {block}") for mark in marks.values()), marks
    summary = page.inner_text("#proof-summary")
    assert summary.startswith("Checked against one RPC, not independent") and "Proven" not in summary


def _forged_tally(stack: Stack, upvotes: int) -> tuple[str, int]:
    """The voted post's tally slot and a word with ``upvotes`` in place of its own (the digest tag kept)."""
    key = slot_key(stack.voted, TALLIES_SLOT)
    real = int(stack.board.w3.eth.get_storage_at(stack.board.deployment.address, key).hex() or "0", 16)
    assert real & (2**64 - 1) == 2  # two upvotes, as voted
    return key, (real >> 64 << 64) | upvotes


def test_the_cleverest_liar_forging_the_state_is_named_when_an_honest_second_rpc_is_named(page: Page, stack: Stack):
    key, word = _forged_tally(stack, 1000)
    stack.liar.forge = {key: word}  # proofs, state root and header hash rebuilt around the forged tally
    stack.liar.storage_values = {key: word}  # and the reader's storage read agrees with them
    marks = _open(page, stack, [stack.liar.url, stack.honest.url])
    assert page.get_attribute(f"#post-{stack.voted}", "data-upvotes") == "1000"  # what the liar made it read
    assert all(status == "lie" for status, _ in marks.values()), marks
    assert not any(text.startswith("proven") for _, text in marks.values())
    summary = page.inner_text("#proof-summary")
    assert summary.startswith("Not proven") and "disagree on block" in summary and "stateRoot" in summary
    assert page.get_attribute("#view", "data-proof") == "lie"


def test_the_cleverest_liar_alone_is_never_called_proven(page: Page, stack: Stack):
    key, word = _forged_tally(stack, 1000)
    stack.liar.forge = {key: word}
    stack.liar.storage_values = {key: word}
    marks = _open(page, stack, [stack.liar.url])
    block = _block(page)
    # alone, the forged world holds together: the reader can only say how far that goes
    assert all(mark == ("single", f"checked by 1 RPC at block {block}") for mark in marks.values()), marks
    assert page.inner_text("#proof-summary").startswith("Checked against one RPC, not independent")
    assert not page.query_selector_all('#view [data-proof="proven"]')


def test_storage_read_that_differs_from_the_rpcs_own_proof_is_named_for_that_post(page: Page, stack: Stack):
    key, word = _forged_tally(stack, 7)
    stack.liar.storage_values = {key: word}  # a lazy liar: its proofs tell the truth
    marks = _open(page, stack, [stack.liar.url, stack.honest.url])
    status, text = marks[stack.voted]
    assert status == "lie" and "was read with upvotes 7" in text and "its own proof" in text and "says 2" in text
    others = [mark for post_id, mark in marks.items() if post_id != stack.voted]
    block = _block(page)
    assert others and all(mark == ("proven", f"proven at block {block} by 2 RPCs") for mark in others)
    assert page.inner_text("#proof-summary").startswith("Not proven: 1 of")


def test_a_post_count_read_lower_than_its_proof_hiding_the_newest_post_is_named(page: Page, stack: Stack):
    count = stack.board.contract.functions.postCount().call()
    key = "0x" + POST_COUNT_SLOT.to_bytes(32, "big").hex()
    stack.liar.storage_values = {key: count - 1}  # New then starts one post early: the newest is hidden
    marks = _open(page, stack, [stack.liar.url, stack.honest.url])
    assert count not in marks
    summary = page.inner_text("#proof-summary")
    assert summary.startswith("Not proven") and f"the post count was read as {count - 1}" in summary
    assert f"says {count}" in summary and page.get_attribute("#view", "data-proof") == "lie"
