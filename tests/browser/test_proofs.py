"""Proofs in the reader's browser (issue 23): what a page shows, proven against a header two sources agree on.

Its own Ganache, Board and app process. The node announces a lying RPC (tests/support/lying_rpc.py) in front of
that Ganache as its public RPC, so by default every check goes through the liar; the reader names the real
Ganache as a second RPC (Settings, kept in localStorage) or does not. Each lie (an eth_call answer, a proof's
stated value, a header field, and a whole forged state behind a node whose index and file store were edited to
match) must be caught and named when the second RPC is named, and with the liar alone nothing is ever called
proven. proof.js's pure functions are checked against the chain and Python's own computation of the same things.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils import keccak
from playwright.sync_api import Browser, Page, Request, expect
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.devchain import Ganache, free_port
from tests.support.board import BoardHandle, deploy_board
from tests.support.lying_rpc import LyingRpc, header_hash, slot_key
from tests.support.servers import wait_app_ready
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}
POSTS = 25
FORGED_POST, CALL_POST, PROOF_POST, VOTED_POST = 4, 6, 8, 10
FAKE = "0x" + "ab" * 32
POSTS_SLOT, TALLIES_SLOT = 4, 5  # backend/static/board-layout.json; test_proof_layout.py pins them to solc's


@dataclass
class ProofNode:
    """A running app whose announced RPC is ``liar``, on its own chain and SQLite index."""

    url: str
    data_dir: Path
    board: BoardHandle
    ganache_url: str
    liar: LyingRpc
    w3: Web3

    def pin(self, document: dict[str, str]) -> dict[str, str]:
        response = httpx.post(f"{self.url}/api/content", content=json.dumps(document).encode(), headers=JSON)
        response.raise_for_status()
        return dict(response.json())

    def sql(self, statement: str, *params: Any) -> None:
        with sqlite3.connect(self.data_dir / "index.sqlite3") as conn:
            assert conn.execute(statement, params).rowcount == 1


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProofNode]:
    data_dir = tmp_path_factory.mktemp("proofs") / "data"
    data_dir.mkdir()
    log_path = data_dir.parent / "app.log"
    with Ganache(free_port()) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 60}))
        board = deploy_board(w3, data_dir)
        liar = LyingRpc(chain.url, board.contract.address).start()
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_")},
            "INDELIBLE_DATA_DIR": str(data_dir),
            "INDELIBLE_RPC_URL": chain.url,
            "INDELIBLE_PUBLIC_RPC_URL": liar.url,
            "INDELIBLE_PORT": str(port),
            "INDELIBLE_START_CHAIN": "never",
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "backend", "serve"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_app_ready(url, process, log_path)
            running = ProofNode(url, data_dir, board, chain.url, liar, w3)
            for n in range(POSTS):
                pinned = running.pin({"title": f"Topic {n}", "body": f"The body of topic **{n}**."})
                board.post(bytes.fromhex(pinned["digest"][2:]), 0)
            board.vote(VOTED_POST, 1, 1)
            head = w3.eth.block_number
            wait_for(lambda: httpx.get(f"{url}/api/status").json()["index"]["indexed_block"] == head, 30, 0.2)
            yield running
        finally:
            process.terminate()
            process.wait(20)
            liar.stop()


@pytest.fixture(autouse=True)
def truthful(node: ProofNode) -> Iterator[None]:
    """Each test sets its own lies; the liar tells the truth before and after."""
    node.liar.clear()
    yield
    node.liar.clear()


def _open(browser: Browser, node: ProofNode, second: bool, path: str = "/new") -> tuple[Page, list[Request]]:
    """``path`` read with the liar as the check's RPC and, if ``second``, the real Ganache named in Settings."""
    context = browser.new_context(base_url=node.url)
    context.set_default_timeout(30_000)
    if second:
        context.add_init_script(
            f"localStorage.setItem('indelible.rpcs', {json.dumps(json.dumps([node.ganache_url]))});"
        )
    page = context.new_page()
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(path)
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1)
    return page, sent


def _marks(page: Page) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "article[data-post-id]",
            "els => els.map(a => [a.dataset.postId, a.querySelector('[data-chain-mark]').textContent])",
        )
    )


def _summary(page: Page) -> str:
    return str(page.locator("[data-chain-summary]").text_content())


def _block(page: Page) -> int:
    return int(page.get_attribute("#chain-check", "data-index-block") or "0")


def _host(url: str) -> str:
    return url.split("//")[1]


def _nothing_proven(page: Page) -> None:
    marks = _marks(page)
    assert len(marks) == POSTS
    assert not [m for m in marks.values() if m.startswith(("proven", "checked"))], marks
    assert "Proven at" not in _summary(page)


def test_one_rpc_checks_every_post_but_proves_none(browser: Browser, node: ProofNode):
    page, _ = _open(browser, node, second=False)
    block = _block(page)
    assert set(_marks(page).values()) == {f"checked by 1 RPC at block {block}"}
    assert f"Checked against one RPC, not independent ({_host(node.liar.url)})" in _summary(page)


def test_two_rpcs_that_agree_prove_every_post_in_one_request_to_each(browser: Browser, node: ProofNode):
    page, sent = _open(browser, node, second=True)
    block = _block(page)
    assert set(_marks(page).values()) == {f"proven at block {block} by 2 RPCs"}
    summary = _summary(page)
    assert f"Proven at block {block} by 2 RPCs that agree on its hash" in summary
    assert _host(node.liar.url) in summary and _host(node.ganache_url) in summary
    to_liar = [json.loads(r.post_data or "[]") for r in sent if r.url.rstrip("/") == node.liar.url]
    to_second = [json.loads(r.post_data or "[]") for r in sent if r.url.rstrip("/") == node.ganache_url]
    assert [[call["method"] for call in batch] for batch in to_liar] == [
        ["eth_chainId", "eth_getBlockByNumber", "eth_getProof"]
    ]
    assert [[call["method"] for call in batch] for batch in to_second] == [["eth_chainId", "eth_getBlockByNumber"]]


@pytest.mark.parametrize("second", [True, False], ids=["with-second-rpc", "liar-alone"])
def test_an_altered_eth_call_answer_is_never_asked_while_proofs_can_be_had(
    browser: Browser, node: ProofNode, second: bool
):
    node.liar.call_posts = {CALL_POST: {"digest": bytes.fromhex(FAKE[2:]), "upvotes": 7}}
    asked = len(node.liar.asked)
    page, _ = _open(browser, node, second=second)
    block = _block(page)
    honest = f"proven at block {block} by 2 RPCs" if second else f"checked by 1 RPC at block {block}"
    assert set(_marks(page).values()) == {honest}
    assert "eth_call" not in node.liar.asked[asked:]


def test_a_liar_that_withholds_proofs_is_proven_around_with_a_second_rpc(browser: Browser, node: ProofNode):
    """It answers the header, refuses eth_getProof and lies in eth_call: the second RPC, which gave the same
    block, is asked for the proofs, and no call is ever asked of the liar."""
    node.liar.refuse = {"eth_getProof"}
    node.liar.call_posts = {CALL_POST: {"digest": bytes.fromhex(FAKE[2:])}}
    asked = len(node.liar.asked)
    page, _ = _open(browser, node, second=True)
    block = _block(page)
    assert set(_marks(page).values()) == {f"proven at block {block} by 2 RPCs"}
    assert "eth_call" not in node.liar.asked[asked:]


def test_a_liar_that_withholds_proofs_alone_proves_nothing_and_its_calls_are_named(browser: Browser, node: ProofNode):
    """Alone, the page falls back to the liar's eth_call answers, as before proofs: never "proven"; the summary
    says why, and the post whose call answer was altered is flagged against what the honest node shows."""
    node.liar.refuse = {"eth_getProof"}
    node.liar.call_posts = {CALL_POST: {"digest": bytes.fromhex(FAKE[2:])}}
    page, _ = _open(browser, node, second=False)
    marks = _marks(page)
    assert not [m for m in marks.values() if m.startswith("proven")]
    assert marks[str(CALL_POST)] == "Warning: this node shows another digest than the chain's."
    assert f"Not proven: {_host(node.liar.url)} gives no proofs (eth_getProof is not served)" in _summary(page)


@pytest.mark.parametrize("second", [True, False], ids=["with-second-rpc", "liar-alone"])
def test_a_proof_value_its_own_proof_contradicts_is_named(browser: Browser, node: ProofNode, second: bool):
    key = slot_key(PROOF_POST, POSTS_SLOT, 1)
    node.liar.proof_values = {key: int(FAKE, 16)}
    page, _ = _open(browser, node, second=second)
    _nothing_proven(page)
    summary = _summary(page)
    assert summary.startswith("Warning: Not proven: ")
    assert f"{_host(node.liar.url)}'s eth_getProof: it states {FAKE} for slot {key}; its proof says" in summary


@pytest.mark.parametrize("field", ["stateRoot", "timestamp"])
def test_an_altered_header_field_is_named_by_field_and_source(browser: Browser, node: ProofNode, field: str):
    node.liar.header_fields = {field: "0x" + "11" * 32 if field == "stateRoot" else "0x1"}
    page, _ = _open(browser, node, second=True)
    _nothing_proven(page)
    block, summary = _block(page), _summary(page)
    assert f"{_host(node.liar.url)}'s header of block {block} does not hash to the hash it states" in summary
    assert f"{_host(node.liar.url)} altered {field} of block {block}" in summary


def test_an_altered_header_alone_is_not_proven_either(browser: Browser, node: ProofNode):
    node.liar.header_fields = {"stateRoot": "0x" + "11" * 32}
    page, _ = _open(browser, node, second=False)
    _nothing_proven(page)
    assert f"{_host(node.liar.url)}'s header of block {_block(page)} does not hash" in _summary(page)


def test_another_contract_forged_at_the_boards_address_is_refused_even_alone(browser: Browser, node: ProofNode):
    """A consistent forgery whose Board account holds other code (its own header, its own proofs): the codeHash
    is not the release's Board filled for this address and chain, so one source is enough to refuse it."""
    node.liar.forge_code = "0x" + keccak(b"a look-alike that stores whatever its owner likes").hex()
    page, _ = _open(browser, node, second=False)
    _nothing_proven(page)
    assert f"the Board account's code is not the release's Board (codeHash {node.liar.forge_code})" in _summary(page)


@pytest.mark.parametrize("second", [True, False], ids=["with-second-rpc", "liar-alone"])
def test_a_proof_left_out_flags_its_post_alone(browser: Browser, node: ProofNode, second: bool):
    node.liar.drop_keys = {slot_key(PROOF_POST, TALLIES_SLOT)}
    page, _ = _open(browser, node, second=second)
    block, marks = _block(page), _marks(page)
    assert marks.pop(str(PROOF_POST)) == (
        f"Warning: {_host(node.liar.url)}'s proof of this post does not hold at block {block} (no proof)."
    )
    assert set(marks.values()) == {
        f"proven at block {block} by 2 RPCs" if second else f"checked by 1 RPC at block {block}"
    }


def test_settings_keep_the_second_rpc_and_pages_are_then_proven(browser: Browser, node: ProofNode):
    context = browser.new_context(base_url=node.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/settings")
    urls = page.get_by_label("More RPC URLs, one per line")
    urls.fill("ftp://nowhere.example")
    page.get_by_role("button", name="Use these RPCs").click()
    expect(page.locator("#sources-status")).to_have_text("Not an http or https URL: ftp://nowhere.example")
    urls.fill(node.ganache_url)
    page.get_by_role("button", name="Use these RPCs").click()
    expect(page.locator("#sources-status")).to_have_text("Saved: 1 more source.")
    page.goto("/new")
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1)
    assert set(_marks(page).values()) == {f"proven at block {_block(page)} by 2 RPCs"}
    page.goto("/settings")
    expect(page.get_by_label("More RPC URLs, one per line")).to_have_value(node.ganache_url)
    context.close()


def test_proof_js_pure_functions_agree_with_the_chain(browser: Browser, node: ProofNode):
    """Slots, decoding, the release's code with its immutables filled, and header hashes, against Ganache."""
    context = browser.new_context(base_url=node.url)
    page = context.new_page()
    page.goto("/settings")
    address = node.board.contract.address
    head = node.w3.eth.block_number
    got = page.evaluate(
        """async ([address, postId, chainId, blocks, rpc]) => {
          const m = await import("/static/js/proof.js");
          const release = await m.loadRelease();
          const ask = async (method, params) => (await (await fetch(rpc, {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({jsonrpc: "2.0", id: 1, method, params})})).json()).result;
          const keys = m.postKeys(postId);
          const words = {};
          for (const [name, key] of Object.entries(keys)) {
            words[name] = BigInt(await ask("eth_getStorageAt", [address, key, "latest"]));
          }
          const post = m.decodePost(words);
          const hashes = [];
          for (const n of blocks) {
            const block = await ask("eth_getBlockByNumber", ["0x" + n.toString(16), false]);
            hashes.push([await m.headerHash(block, chainId), block.hash]);
          }
          return {keys, post: Object.fromEntries(Object.entries(post).map(([k, v]) => [k, String(v)])),
                  code: m.expectedCode(release, chainId, address), hashes, count: m.pageKeys([1, 2]).length};
        }""",
        [address, VOTED_POST, 1337, [0, 1, head], node.ganache_url],
    )
    assert got["keys"] == {
        "first": slot_key(VOTED_POST, POSTS_SLOT),
        "second": slot_key(VOTED_POST, POSTS_SLOT, 1),
        "tally": slot_key(VOTED_POST, TALLIES_SLOT),
    }
    author, parent_id, digest, created_at, upvotes, downvotes = node.board.contract.functions.getPost(VOTED_POST).call()
    assert got["post"] == {
        "author": author,
        "parentId": str(parent_id),
        "digest": "0x" + digest.hex(),
        "createdAt": str(created_at),
        "upvotes": str(upvotes),
        "downvotes": str(downvotes),
    }
    assert upvotes == 1
    # the release's code with the immutables filled for this address and chain is the deployed code, byte for byte
    assert got["code"] == "0x" + bytes(node.w3.eth.get_code(address)).hex()
    assert all(mine == theirs for mine, theirs in got["hashes"])
    assert got["count"] == 1 + 3 * 2
    block = dict(node.w3.provider.make_request("eth_getBlockByNumber", [hex(head), False])["result"])  # type: ignore[arg-type]
    assert header_hash(block) == block["hash"]  # the liar hashes headers as the chain does, so its forgery holds
    context.close()


def _lying_node(node: ProofNode) -> tuple[str, str]:
    """The node's index and file store say FORGED_POST is another document: (its title, its digest)."""
    title = "A post the author never wrote"
    altered = node.pin({"title": title, "body": "Words the author never wrote."})
    node.sql(
        "UPDATE posts SET digest = ?, cid = ?, title = ?, body = ? WHERE id = ?",
        altered["digest"], altered["cid"], title, "Words the author never wrote.", FORGED_POST,
    )  # fmt: skip
    return title, altered["digest"]


def test_a_forged_state_behind_a_lying_node_passes_one_rpc_and_is_caught_by_two(browser: Browser, node: ProofNode):
    """The cleverest liar: index, file store, eth_call, proofs and header all agree on the altered post.

    Alone it is a perfect lie, so the page says what a lone source can: "checked by 1 RPC", not independent,
    and never "proven". The real Ganache named as a second RPC gives the real block's hash: nothing is proven,
    and the summary names the sources and the header field they disagree on.
    """
    title, digest = _lying_node(node)
    node.liar.forge = {slot_key(FORGED_POST, POSTS_SLOT, 1): int(digest, 16)}
    node.liar.call_posts = {FORGED_POST: {"digest": bytes.fromhex(digest[2:])}}
    page, _ = _open(browser, node, second=False)
    expect(page.locator(f"article[data-post-id='{FORGED_POST}'] .post-title")).to_contain_text(title)
    block = _block(page)
    assert set(_marks(page).values()) == {f"checked by 1 RPC at block {block}"}
    assert "Checked against one RPC, not independent" in _summary(page)
    page, _ = _open(browser, node, second=True)
    _nothing_proven(page)
    summary = _summary(page)
    assert summary.startswith("Warning: Not proven: ")
    assert f"{_host(node.liar.url)} and {_host(node.ganache_url)} disagree on block {block} (stateRoot: " in summary
    marks = _marks(page)
    assert marks[str(FORGED_POST)].startswith("Warning: not proven: ")
