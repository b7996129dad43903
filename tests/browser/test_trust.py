"""The reader's browser checks pages against the chain (issue 12), on a node of its own that the test makes lie.

Its own Ganache, Board and app process (the session stack stays honest for the other tests): the index
database is edited under the running app (a title, a tally, a deleted row) and a pinned file is overwritten;
each lie is flagged on the front, author and search pages, the honest posts stay marked checked, through the
node's RPC or through the reader's wallet. What the checks cost in time is bench/verify.py's to measure.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.content.pins import PinStore
from backend.devchain import Ganache, free_port
from tests.support.board import BoardHandle, deploy_board
from tests.support.browser import inject_wallet
from tests.support.servers import wait_app_ready
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}
POSTS = 25


class Node:
    """A running app on its own chain and SQLite index."""

    def __init__(self, url: str, data_dir: Path, board: BoardHandle, ganache_url: str) -> None:
        self.url, self.data_dir, self.board, self.ganache_url = url, data_dir, board, ganache_url

    def post(self, title: str, body: str, parent_id: int = 0) -> int:
        document = {"body": body} if parent_id else {"title": title, "body": body}
        response = httpx.post(f"{self.url}/api/content", content=json.dumps(document).encode(), headers=JSON)
        response.raise_for_status()
        return self.board.post(bytes.fromhex(response.json()["digest"][2:]), parent_id)

    def sql(self, statement: str, *params: Any) -> None:
        with sqlite3.connect(self.data_dir / "index.sqlite3") as conn:
            assert conn.execute(statement, params).rowcount == 1

    def cid(self, post_id: int) -> str:
        return str(httpx.get(f"{self.url}/api/posts/{post_id}").json()["post"]["cid"])

    def file(self, post_id: int) -> bytes:
        return httpx.get(f"{self.url}/ipfs/{self.cid(post_id)}").raise_for_status().content

    def indexed(self) -> None:
        head = self.board.w3.eth.block_number
        wait_for(lambda: httpx.get(f"{self.url}/api/status").json()["index"]["indexed_block"] == head, 30, 0.2)


class Serving:
    """A threaded HTTP server on 127.0.0.1 (a lying node's front or a reader's gateway), closed on exit."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def lying_front(upstream: str, swapped: dict[str, bytes]) -> Serving:
    """A node's front that passes every request to ``upstream`` but serves other bytes for the CIDs in ``swapped``.

    The app's own pin store never serves a file that does not hash to its CID, so a node that does is built here:
    what a hostile operator's own gateway would do.
    """

    class Front(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            found = re.match(r"^/ipfs/([a-z2-7]+)", self.path)
            if found and found.group(1) in swapped:
                self._answer(200, [("Content-Type", "application/octet-stream")], swapped[found.group(1)])
                return
            reply = httpx.get(upstream + self.path, headers={"Cookie": self.headers.get("Cookie", "")})
            self._answer(reply.status_code, list(reply.headers.multi_items()), reply.content)

    return Serving(Front)


def gateway(files: dict[str, bytes]) -> Serving:
    """A reader's own IPFS gateway: /ipfs/{cid} for the files given, readable from any page (CORS)."""

    class Gateway(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            found = re.match(r"^/ipfs/([a-z2-7]+)", self.path)
            body = files.get(found.group(1)) if found else None
            self.send_response(200 if body is not None else 404)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    return Serving(Gateway)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    data_dir = tmp_path_factory.mktemp("lying") / "data"
    data_dir.mkdir()
    log_path = data_dir.parent / "app.log"
    with Ganache(free_port()) as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url, request_kwargs={"timeout": 60}))
        board = deploy_board(w3, data_dir)
        port = free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_")},
            "INDELIBLE_DATA_DIR": str(data_dir),
            "INDELIBLE_RPC_URL": chain.url,
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
            node = Node(url, data_dir, board, chain.url)
            for n in range(POSTS):
                node.post(f"Topic {n}", f"The body of topic **{n}**.")
            head = w3.eth.block_number
            wait_for(lambda: httpx.get(f"{url}/api/status").json()["index"]["indexed_block"] == head, 30, 0.2)
            yield node
        finally:
            process.terminate()
            process.wait(20)


@pytest.fixture(scope="module")
def lying(node: Node) -> Node:
    """The node, once its index tells three lies (a title, a tally, a deleted row) and a pinned file is altered."""
    node.sql("UPDATE posts SET title = ? WHERE id = 3", "A title the author never wrote")
    node.sql("UPDATE posts SET upvotes = 12, score = 12 WHERE id = 5")
    node.sql("DELETE FROM posts WHERE id = 7")
    cid = httpx.get(f"{node.url}/api/posts/9").json()["post"]["cid"]
    path = PinStore(node.data_dir / "content").path_for(cid)
    path.write_bytes(path.read_bytes().replace(b"topic", b"TOPIC"))
    # the app counts posts once per checkpoint (views/chain_facts.py): one more block, a vote on an honest post,
    # and the count is taken again from the edited index
    node.board.vote(1, 1, sender=2)
    node.indexed()
    return node


def _open(browser: Browser, node: Node, path: str, javascript: bool = True, wallet: bool = False) -> Page:
    context = browser.new_context(base_url=node.url, java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    if wallet:
        inject_wallet(context, node.ganache_url, node.board.sender(0))
    page = context.new_page()
    page.goto(path)
    return page


LIES = {
    "3": "Warning: the title differs from what the author posted.",
    "5": "Warning: this node shows 12 up; the chain says 0.",
    "9": "Warning: this node shows text but does not serve its file.",
}


def _flags_each_lie(page: Page, shown: int, checked: str = "checked by 1 RPC at block {block}") -> None:
    """The three lies flagged, the row deleted from the index absent, every other post shown marked ``checked``."""
    marks = _checked(page)
    assert "7" not in marks
    assert {k: v for k, v in marks.items() if k in LIES} == LIES
    block = page.get_attribute("#chain-check", "data-index-block")
    honest = {k: v for k, v in marks.items() if k not in LIES}
    assert len(honest) == shown - 3 and set(honest.values()) == {checked.format(block=block)}
    for post_id in LIES:  # each lie's badge says so in words and opens itself; the others stay quiet
        badge = page.locator(f"article#post-{post_id} [data-check-badge]").first
        expect(badge).to_have_attribute("data-check", "lie")
        expect(badge.locator(".check-label")).to_have_text("a lie found")
        expect(badge.locator("[data-chain-mark]")).to_be_visible()
    quiet = page.locator("[data-check-badge][data-check=checked][open]")
    expect(quiet).to_have_count(0)
    summary = page.locator("[data-chain-summary]")
    expect(summary).to_contain_text(f"this node shows {POSTS - 1} of {POSTS} posts")
    expect(summary).to_contain_text(f"3 of {shown} posts shown differ from the chain")


def _checked(page: Page) -> dict[str, str]:
    """Every post's mark on the page, once the checks are done."""
    # through a lying front (a Python proxy) on two busy cores, a page's files and proofs can take over 5 s
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1, timeout=30_000)
    marks = page.eval_on_selector_all(
        "article[data-post-id]",
        "els => els.map(a => [a.dataset.postId, a.querySelector('[data-chain-mark]').textContent])",
    )
    return dict(marks)


def test_an_honest_front_page_of_25_posts_is_checked_with_one_batched_rpc_call_and_one_fetch_per_file(
    browser: Browser, node: Node
):
    context = browser.new_context(base_url=node.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto("/new")
    marks = _checked(page)
    block = page.get_attribute("#chain-check", "data-index-block")
    assert len(marks) == POSTS
    assert set(marks.values()) == {f"checked by 1 RPC at block {block}"}
    summary = page.locator("[data-chain-summary]")
    expect(summary).to_contain_text(f"All {POSTS} posts shown checked against chain at block {block}")
    expect(summary).to_contain_text(f"through {node.ganache_url.split('//')[1]}")
    expect(summary).to_contain_text("Checked against one RPC, not independent")
    rpc = [request for request in sent if request.url.rstrip("/") == node.ganache_url.rstrip("/")]
    assert len(rpc) == 1
    batch = json.loads(rpc[0].post_data or "[]")
    # the header and the proofs of static/js/proof.js: they carry every fact, so no eth_call is asked
    assert [call["method"] for call in batch] == ["eth_chainId", "eth_getBlockByNumber", "eth_getProof"]
    assert batch[1]["params"][0] == batch[2]["params"][2] == hex(int(block or 0))
    assert len(batch[2]["params"][1]) == 1 + 3 * POSTS  # postCount, and each post's two slots and tally
    files = sorted(request.url for request in sent if "/ipfs/" in request.url)
    assert len(files) == POSTS == len(set(files))
    context.close()


def test_a_page_read_without_javascript_says_once_that_nothing_was_checked(browser: Browser, node: Node):
    page = _open(browser, node, "/", javascript=False)
    notice = page.locator(
        ".chain-note", has_text="JavaScript is off: nothing on this page was checked against the chain"
    )
    expect(notice).to_be_visible()
    assert page.content().count("JavaScript is off") == 1
    expect(page.locator("article[data-post-id]")).to_have_count(POSTS)


def test_each_lie_of_a_tampered_node_is_flagged_and_honest_posts_stay_checked(browser: Browser, lying: Node):
    page = _open(browser, lying, "/new")
    _flags_each_lie(page, POSTS - 1)


def test_the_author_page_flags_each_lie_and_marks_the_honest_posts_checked(browser: Browser, lying: Node):
    page = _open(browser, lying, f"/authors/{lying.board.sender(0)}")
    _flags_each_lie(page, POSTS - 1)


def test_the_search_page_flags_each_lie_and_marks_the_honest_posts_checked(browser: Browser, lying: Node):
    page = _open(browser, lying, "/search?q=body&sort=new")
    _flags_each_lie(page, POSTS - 1)


def test_a_reader_can_check_through_their_wallets_provider_and_the_page_says_so(browser: Browser, lying: Node):
    """The checks go through window.ethereum.request (EIP-1193): the header and the proofs; the RPC URL is asked
    only for the block's header, as a second source (static/js/proof.js): the wallet and the RPC agree, so "proven".

    The provider is injected by the test before any page script runs (Playwright's init script, i.e. CDP's
    Page.addScriptToEvaluateOnNewDocument): it stands for a wallet extension's provider, whose requests leave
    the browser outside the page, and forwards each request to this node's real Ganache.
    """
    page = _open(browser, lying, "/new", wallet=True)
    _checked(page)
    assert page.get_attribute("#chain-check", "data-check-source") == "rpc"
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto("/settings")  # the choice of what checks go through lives in Settings
    with page.expect_navigation():
        page.get_by_role("button", name="Check through your wallet").click()
    page.goto("/new")
    _flags_each_lie(page, POSTS - 1, checked="proven at block {block} by 2 RPCs")
    block = page.get_attribute("#chain-check", "data-index-block")
    assert page.get_attribute("#chain-check", "data-check-source") == "wallet"
    expect(page.locator("[data-chain-summary]")).to_contain_text("through your wallet")
    expect(page.locator("[data-chain-summary]")).to_contain_text(f"Proven at block {block} by 2 RPCs")
    to_rpc = [json.loads(r.post_data or "[]") for r in sent if r.url.rstrip("/") == lying.ganache_url.rstrip("/")]
    assert [[call["method"] for call in batch] for batch in to_rpc] == [["eth_chainId", "eth_getBlockByNumber"]]
    page.goto("/settings")
    with page.expect_navigation():
        page.get_by_role("button", name="Check through this RPC instead of your wallet").click()
    page.goto("/new")
    _checked(page)
    assert page.get_attribute("#chain-check", "data-check-source") == "rpc"


def test_a_wallet_on_another_chain_is_refused_and_the_page_says_nothing_was_checked(browser: Browser, node: Node):
    """The injected provider (as above) answers eth_chainId with mainnet's id: a wallet left on another chain."""
    context = browser.new_context(base_url=node.url)
    context.set_default_timeout(20_000)
    inject_wallet(context, node.ganache_url, node.board.sender(0))
    context.add_init_script(
        """
        localStorage.setItem("indelible.check-via", "wallet");
        const request = window.ethereum.request.bind(window.ethereum);
        window.ethereum.request = (call) => (call.method === "eth_chainId" ? Promise.resolve("0x1") : request(call));
        """
    )
    page = context.new_page()
    page.goto("/new")
    summary = page.locator("[data-chain-summary]")
    contract = node.board.contract.address
    expect(summary).to_have_text(
        f"Not checked against Board {contract} on chain 1337: your wallet serves chain 1; this Board is on chain 1337."
    )
    assert page.eval_on_selector_all("[data-chain-mark]:not([hidden])", "els => els.length") == 0
    context.close()


# Issue 19: posts the node calls invalid or missing, structure edits, the pinned Board. A second author (Ganache
# account 1) writes the posts of these tests, so that its author page shows only them.
STRUCTURED = {
    "link": ("A link", "Read [the guide](https://docs.example/guide) first."),
    "image": ("An image", "Look: ![a heron](https://img.example/heron.png)"),
    "list": ("A list", "3. three\n4. four\n5. five"),
    "code": ("Code", "Run this:\n\n```\ndef f():\n    return 1\n```"),
    "invalid": ("Called invalid", "A valid post the node calls invalid."),
    "missing": ("Called missing", "A valid post the node calls missing."),
    "swapped": ("Swapped file", "The node serves another file for this one."),
    "gone": ("Gone", "Nobody serves this file but the reader's own gateway."),
}
EDITS = {  # the index's body of a post, as a lying node rewrites it: the same text, another structure
    "link": ("https://docs.example/guide", "https://evil.example/guide"),
    "image": ("https://img.example/heron.png", "https://evil.example/heron.png"),
    "list": ("3. three", "1. three"),
    "code": ("    return 1", "  return 1"),
}


@pytest.fixture(scope="module")
def hiding(node: Node) -> Iterator[tuple[Node, dict[str, int], Serving]]:
    """The node's index hides, misstates and restructures posts of account 1; its front serves a swapped file."""
    author = node.board.sender(1)
    ids: dict[str, int] = {}
    for key, (title, body) in STRUCTURED.items():
        response = httpx.post(
            f"{node.url}/api/content", content=json.dumps({"title": title, "body": body}).encode(), headers=JSON
        )
        ids[key] = node.board.post(bytes.fromhex(response.json()["digest"][2:]), 0, sender=author)
    node.indexed()
    for key, (honest, edited) in EDITS.items():  # before any page renders them: the render cache is by digest
        body = STRUCTURED[key][1]
        node.sql("UPDATE posts SET body = ? WHERE id = ?", body.replace(honest, edited), ids[key])
    for key, status in (("invalid", "invalid"), ("swapped", "invalid"), ("missing", "missing"), ("gone", "missing")):
        error = "content is not valid JSON" if status == "invalid" else None
        node.sql(
            "UPDATE posts SET content_status = ?, content_error = ?, title = NULL, body = NULL WHERE id = ?",
            status,
            error,
            ids[key],
        )
    gone = PinStore(node.data_dir / "content").path_for(node.cid(ids["gone"]))
    kept = gone.read_bytes()
    gone.unlink()
    front = lying_front(node.url, {node.cid(ids["swapped"]): b'{"title":"Another","body":"file"}'})
    node.gone_file = kept  # type: ignore[attr-defined]
    try:
        yield node, ids, front
    finally:
        front.close()


def _marks_of(browser: Browser, url: str, path: str, init: str = "") -> tuple[Page, dict[str, str]]:
    context = browser.new_context(base_url=url)
    context.set_default_timeout(20_000)
    if init:
        context.add_init_script(init)
    page = context.new_page()
    page.goto(path)
    return page, _checked(page)


def test_posts_the_node_calls_invalid_or_missing_are_checked_and_a_hidden_valid_post_is_flagged_and_shown(
    browser: Browser, hiding: tuple[Node, dict[str, int], Serving]
):
    node, ids, front = hiding
    page, marks = _marks_of(browser, front.url, f"/authors/{node.board.sender(1)}")
    for key in ("invalid", "missing"):
        assert marks[str(ids[key])].startswith("Warning: this node hides a valid post: it says " + key), marks
    assert marks[str(ids["swapped"])] == (
        "Warning: the file this node serves is not what the author posted (its sha256 differs from the chain's)."
    )
    assert marks[str(ids["gone"])].startswith("content unavailable, not verified"), marks
    assert "checked" not in marks[str(ids["gone"])]
    summary = page.locator("[data-chain-summary]")
    expect(summary).to_contain_text("1 of 8 posts shown could not be verified (content unavailable)")
    expect(summary).to_contain_text(f"Board {node.board.contract.address} on chain 1337")
    hidden = page.locator(f"#post-{ids['invalid']}")
    expect(hidden.locator(".content-invalid")).to_be_visible()
    hidden.get_by_role("button", name="Show the post from its verified file").click()
    expect(hidden.locator("[data-verified-copy]")).to_contain_text("Called invalid")
    expect(hidden.locator("[data-verified-copy] .post-body")).to_have_text("A valid post the node calls invalid.")
    page.context.close()


def test_a_file_only_the_readers_own_gateway_serves_is_verified_from_it(
    browser: Browser, hiding: tuple[Node, dict[str, int], Serving]
):
    node, ids, front = hiding
    own = gateway({node.cid(ids["gone"]): node.gone_file})  # type: ignore[attr-defined]
    try:
        init = f"localStorage.setItem('indelible.gateway', {json.dumps(own.url + '/')});"
        page, marks = _marks_of(browser, front.url, f"/authors/{node.board.sender(1)}", init)
        assert marks[str(ids["gone"])].startswith(
            "Warning: this node hides a valid post: it says missing, but its file (from " + own.url.split("//")[1]
        ), marks
        page.context.close()
    finally:
        own.close()


def test_a_link_target_an_image_source_a_list_start_and_code_indentation_edited_in_the_index_are_each_flagged(
    browser: Browser, hiding: tuple[Node, dict[str, int], Serving]
):
    node, ids, _front = hiding
    page, marks = _marks_of(browser, node.url, f"/authors/{node.board.sender(1)}")
    named = {
        "link": 'a link\'s target differs (this node: "https://evil.example/guide"; '
        'the author\'s: "https://docs.example/guide")',
        "image": 'an image\'s source differs (this node: "https://evil.example/heron.png"',
        "list": 'a list\'s start differs (this node: "(none)"; the author\'s: "3")',
        "code": "a code block's text differs",
    }
    for key, words in named.items():
        assert marks[str(ids[key])].startswith("Warning: the text differs from what the author posted: "), marks
        assert words in marks[str(ids[key])], (key, marks[str(ids[key])])
    page.context.close()


def test_a_page_from_another_board_than_the_pinned_one_is_flagged_and_the_pin_is_set_in_settings(
    browser: Browser, node: Node
):
    context = browser.new_context(base_url=node.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/settings")
    page.get_by_role("button", name="Pin this node's Board").click()
    expect(page.locator("#settings-board")).to_have_value(node.board.contract.address)
    page.get_by_role("button", name="Use these checks").click()
    expect(page.locator("#settings-checks-status")).to_have_text(
        f"Saved: pinned Board {node.board.contract.address} on chain 1337."
    )
    page.goto("/new")
    expect(page.locator("#chain-check[data-checked=true]")).to_have_count(1)
    block = page.get_attribute("#chain-check", "data-index-block")
    checked = page.locator("[data-chain-summary]")
    # "checked against chain at block N" alone, "checked at block N" beside the lies earlier tests left
    expect(checked).to_contain_text(re.compile(rf"checked (against chain )?at block {block} through"))
    expect(checked).to_contain_text(f"Board {node.board.contract.address} on chain 1337")
    expect(checked).not_to_contain_text("you pinned")
    other = "0x" + "ab" * 20
    page.goto("/settings")
    page.fill("#settings-board", other)
    page.get_by_role("button", name="Use these checks").click()
    expect(page.locator("#settings-checks-status")).to_contain_text("Saved: pinned Board")
    page.goto("/new")
    summary = page.locator("[data-chain-summary]")
    board = node.board.contract.address
    expect(summary).to_have_text(
        f"Not checked against Board {board} on chain 1337: this page is from Board {board} on chain 1337, "
        f"not the Board you pinned ({Web3.to_checksum_address(other)} on chain 1337)."
    )
    expect(summary).to_have_class(re.compile("chain-warning"))
    assert page.eval_on_selector_all("[data-chain-mark]:not([hidden])", "els => els.length") == 0
    context.close()
