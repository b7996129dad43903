"""The node-free reader (issue 22), opened from file:// in Chromium: it reads the chain and the gateways itself.

One module stack: Ganache, a Board, node A (SQLite) and node B (PostgreSQL when configured, else SQLite) on one
chain, B joined by address with A as its content peer. What A served is recorded, A is stopped, and the reader,
given only the RPC, the Board's address and B as its gateway, must show the same posts, tallies, threads and
texts. Then B lies (its index edited, a file it serves tampered) and the reader shows no lie.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page
from sqlalchemy import create_engine, text

from backend.app import create_app
from backend.content.cid import cid_of, digest_to_cid, sha256
from backend.content.document import encode_document
from backend.devchain import Ganache, free_port
from backend.markdown import render as render_markdown
from reader.build import OUT, build
from tests.support.board import BoardHandle, connect
from tests.support.index import POSTGRES_URL, make_settings, module_index, reset_postgres
from tests.support.servers import serving
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}
SORTS = ("new", "hot", "top", "controversial")


@dataclass
class Nodes:
    ganache: Ganache
    board: BoardHandle
    a_url: str
    b_url: str
    b_data: Path
    b_database: str
    threads: list[int]
    seen: dict[str, Any]  # what A served, before it stopped
    missing_digest: str  # a post whose file no gateway has


def _pin(url: str, data: bytes) -> None:
    response = httpx.post(f"{url}/api/content", content=data, headers=JSON, timeout=10)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def reader_file() -> Path:
    """The reader as `make reader` builds it."""
    build()
    return OUT


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, reader_file: Path) -> Iterator[Nodes]:
    with Ganache(free_port()) as ganache:
        w3 = connect(ganache)
        a_data, board, a_database = module_index(w3, tmp_path_factory, "sqlite", "reader-a")
        b_data = tmp_path_factory.mktemp("reader-b") / "data"
        b_data.mkdir()
        b_database = POSTGRES_URL or f"sqlite:///{b_data / 'index.sqlite3'}"
        if POSTGRES_URL:
            reset_postgres(POSTGRES_URL)
        a_port, b_port = free_port(), free_port()
        a_url, b_url = f"http://127.0.0.1:{a_port}", f"http://127.0.0.1:{b_port}"
        a_app = create_app(make_settings(a_data, ganache.url, a_database))
        b_settings = make_settings(
            b_data, ganache.url, b_database, contract_address=board.deployment.address, ipfs_gateways=[a_url]
        )
        with serving(uvicorn.Config(a_app, host="127.0.0.1", port=a_port, log_level="warning")) as a_server:
            ids: list[int] = []
            for n in range(8):
                data = encode_document(f"Topic {n}: *markdown* & <b>escaped</b>", f"Body **{n}**\n\n- one\n- two")
                _pin(a_url, data)
                ids.append(board.post(sha256(data), sender=n % 3))
            threads = ids[:2]
            replies: list[int] = []
            for n, parent in enumerate([threads[0], threads[0], threads[1], threads[0]]):
                data = encode_document(None, f"reply {n} to #{parent}, with a [link](https://example.org/{n})")
                _pin(a_url, data)
                replies.append(board.post(sha256(data), parent_id=parent, sender=1 + n % 2))
            for n, parent in enumerate([replies[0], replies[0], replies[1]]):
                data = encode_document(None, f"nested reply {n} to #{parent}")
                _pin(a_url, data)
                replies.append(board.post(sha256(data), parent_id=parent))
            missing = os.urandom(32)
            ids.append(board.post(missing))  # on chain, on no gateway
            votes = [(ids[0], 1), (ids[1], -1), (ids[2], 1), (ids[0], 1), (ids[3], -1), (replies[1], 1)]
            votes += [(replies[2], -1), (replies[0], 1), (ids[3], 1), (ids[4], -1), (ids[4], 1), (ids[5], -1)]
            for n, (post_id, direction) in enumerate(votes):
                board.vote(post_id, direction, sender=2 + n % 7)
            total = len(ids) + len(replies)

            def caught_up(url: str) -> bool:
                index = httpx.get(url + "/api/status", timeout=5).json()["index"]
                return bool(index["indexed_block"] == w3.eth.block_number and index["posts"] == total)

            wait_for(lambda: caught_up(a_url), timeout=60, interval=0.2, what="node A to index")
            with serving(uvicorn.Config(create_app(b_settings), host="127.0.0.1", port=b_port, log_level="warning")):
                wait_for(lambda: caught_up(b_url), timeout=60, interval=0.2, what="node B to index")
                wait_for(
                    lambda: httpx.get(f"{b_url}/api/status").json()["index"]["content"]["pinned"] == total - 1,
                    timeout=60, interval=0.2, what="node B to fetch the files from A",
                )  # fmt: skip
                seen: dict[str, Any] = {
                    sort: httpx.get(f"{a_url}/api/posts", params={"sort": sort, "limit": 25, "lens": "all"}).json()
                    for sort in SORTS
                }
                for thread in threads:
                    seen[f"thread {thread}"] = httpx.get(f"{a_url}/api/posts/{thread}", params={"lens": "all"}).json()
                a_server.should_exit = True
                wait_for(lambda: not _answers(a_url), timeout=30, interval=0.2, what="node A to stop")
                yield Nodes(ganache, board, a_url, b_url, b_data, b_database, threads, seen, "0x" + missing.hex())


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/api/status", timeout=1)
    except httpx.HTTPError:
        return False
    return True


def reader_url(path: Path, nodes: Nodes, gateway: str, view: str = "new", **extra: str) -> str:
    query = {"rpc": nodes.ganache.url, "board": nodes.board.deployment.address, "gateway": gateway, **extra}
    return f"{path.as_uri()}?{urlencode(query)}#/{view}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None
    )
    yield opened
    context.close()
    assert not errors, errors


def shown(page: Page) -> list[dict[str, Any]]:
    """Every post the view shows: id, parent, tallies, content state, title and body text."""
    try:
        page.wait_for_selector('#view[data-ready="true"], #view[data-ready="error"]', state="attached")
        assert page.get_attribute("#view", "data-ready") == "true"
    except Exception as error:
        state = page.evaluate("[...['check', 'progress', 'view']].map((id) => document.getElementById(id).textContent)")
        raise AssertionError(f"the reader did not finish: {state}") from error
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('#view article')].map((a) => ({
                id: Number(a.dataset.postId), parent: Number(a.dataset.parentId),
                up: Number(a.dataset.upvotes), down: Number(a.dataset.downvotes), content: a.dataset.content,
                title: a.querySelector(':scope > .post-title')?.textContent ?? null,
                body: a.querySelector(':scope > .post-body, :scope > details > .post-body')?.innerHTML ?? '',
                note: a.querySelector(':scope > .content-note, :scope > details > .content-note')?.textContent ?? '',
            }))"""
        )
    )


def _thread(node: dict[str, Any], out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A node's thread as a list in document order (the post, then each reply's subtree)."""
    out.append(node)
    for reply in node.get("replies", []):
        _thread(reply, out)
    return out


def _squash(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_with_node_a_stopped_the_reader_shows_what_a_showed_from_the_chain_and_node_b(
    page: Page, nodes: Nodes, reader_file: Path
):
    for sort in SORTS:
        page.goto(reader_url(reader_file, nodes, nodes.b_url, sort))
        posts = shown(page)
        assert "this release's Board" in page.inner_text("#check")
        expected = nodes.seen[sort]["posts"]
        assert [p["id"] for p in posts] == [p["id"] for p in expected], sort
        for got, want in zip(posts, expected, strict=True):
            assert (got["up"], got["down"]) == (want["upvotes"], want["downvotes"])
            if want["content_status"] == "pinned":
                assert got["content"] == "ok" and got["title"] == want["title"]
            else:
                assert got["content"] == "unavailable"
                assert "content unavailable" in got["note"] and nodes.missing_digest in got["note"]
    for thread in nodes.threads:
        page.goto(reader_url(reader_file, nodes, nodes.b_url, f"post/{thread}"))
        posts = shown(page)
        expected = _thread(nodes.seen[f"thread {thread}"]["post"], [])
        assert [(p["id"], p["parent"]) for p in posts] == [(p["id"], p["parent_id"] or 0) for p in expected]
        for got, want in zip(posts, expected, strict=True):
            assert (got["up"], got["down"]) == (want["upvotes"], want["downvotes"])
            # the text A's pages showed (backend/markdown.py) is the text the reader renders (preview.js, same rules)
            assert _squash(got["body"]) == _squash(render_markdown(want["body"]))


class LyingGateway(BaseHTTPRequestHandler):
    """Node B's /ipfs/ behind a proxy that swaps the bytes of one CID (a node whose store was tampered with)."""

    upstream = ""
    tampered: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        cid = self.path.split("/ipfs/")[-1].split("?")[0]
        if cid in self.tampered:
            status, body = 200, self.tampered[cid]
        else:
            answer = httpx.get(self.upstream + self.path, timeout=10)
            status, body = answer.status_code, answer.content
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_lying_node_b_changes_nothing_and_a_tampered_file_is_shown_as_not_matching(
    page: Page, nodes: Nodes, reader_file: Path
):
    before = {}
    for sort in ("new", "hot"):
        page.goto(reader_url(reader_file, nodes, nodes.b_url, sort))
        before[sort] = shown(page)
    victim = before["new"][0]
    sunk = before["hot"][0]
    engine = create_engine(nodes.b_database)
    with engine.begin() as conn:  # B's index lies: a post deleted, a score lowered, a title changed
        conn.execute(text("DELETE FROM posts WHERE id = :id"), {"id": victim["id"]})
        conn.execute(
            text("UPDATE posts SET upvotes = 0, downvotes = 50, score = -50, hot = -100 WHERE id = :id"),
            {"id": sunk["id"]},
        )
        conn.execute(text("UPDATE posts SET title = 'A changed title' WHERE id = :id"), {"id": before["new"][1]["id"]})
    engine.dispose()
    assert httpx.get(f"{nodes.b_url}/api/posts/{victim['id']}").status_code == 404
    for sort in ("new", "hot"):
        page.goto(reader_url(reader_file, nodes, nodes.b_url, sort))
        assert shown(page) == before[sort]
    # a file swapped in what B serves: the reader names the gateway and the mismatch, and shows no text
    target = before["new"][1]
    cid = digest_to_cid(
        bytes.fromhex(page.evaluate(f"document.querySelector('#post-{target['id']}').dataset.digest")[2:])
    )
    LyingGateway.upstream = nodes.b_url
    LyingGateway.tampered = {cid: encode_document("A changed title", "words the author never wrote")}
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), LyingGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.evaluate("indexedDB.deleteDatabase('indelible-reader')")
        page.goto(reader_url(reader_file, nodes, f"http://127.0.0.1:{port}", "new"))
        posts = {p["id"]: p for p in shown(page)}
    finally:
        server.shutdown()
    lied = posts[target["id"]]
    assert lied["content"] == "unavailable" and "A changed title" not in (lied["title"] or "")
    assert f"127.0.0.1:{port} served a file that does not match its digest" in lied["note"]
    assert "never wrote" not in page.inner_text("#view")
    assert sum(p["content"] == "ok" for p in posts.values()) == len(posts) - 2  # the tampered and the missing


def test_the_reader_refuses_a_board_that_is_not_this_release(page: Page, nodes: Nodes, reader_file: Path):
    w3 = connect(nodes.ganache)
    # an account, not a contract
    page.goto(reader_url(reader_file, nodes, nodes.b_url, "new", board=w3.eth.accounts[3]))
    page.wait_for_selector('#view[data-ready="error"]', state="attached")
    assert "Not read: no code at" in page.inner_text("#check")


def test_the_node_serves_the_reader_at_reader_and_by_its_cid(nodes: Nodes, reader_file: Path):
    data = reader_file.read_bytes()
    cid = cid_of(data)
    assert (reader_file.with_name(reader_file.name + ".cid")).read_text().strip() == cid
    page = httpx.get(f"{nodes.b_url}/reader")
    assert page.status_code == 200 and page.content == data and page.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    by_cid = httpx.get(f"{nodes.b_url}/ipfs/{cid}")
    assert by_cid.content == data and by_cid.headers["access-control-allow-origin"] == "*"
    raw = httpx.get(f"{nodes.b_url}/ipfs/{cid}?format=raw")
    assert raw.headers["content-type"] == "application/vnd.ipld.raw" and sha256(raw.content).hex() == json.dumps(
        sha256(data).hex()
    ).strip('"')
