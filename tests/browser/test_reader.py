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
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from eth_account import Account
from playwright.sync_api import Browser, BrowserContext, Page, Request
from sqlalchemy import create_engine, text

from backend import ranking
from backend.api.gateway import CAR, car
from backend.app import create_app
from backend.content.cid import cid_of, digest_to_cid, sha256
from backend.content.document import encode_document
from backend.devchain import Ganache, free_port
from backend.markdown import render as render_markdown
from reader.build import OUT, build
from tests.support.board import BoardHandle, connect
from tests.support.browser import STATUS_RECORDER, inject_wallet, status_log
from tests.support.index import POSTGRES_URL, make_settings, module_index, reset_postgres
from tests.support.lying_rpc import lying_rpc, slot_key
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
            b_data, ganache.url, b_database, contract_address=board.deployment.address, ipfs_gateways=[a_url],
            relay_rate=6000, relay_burst=1000, relay_new_signers_per_hour=1000,
        )  # fmt: skip
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
                trust = ",".join(w3.eth.accounts[i] for i in (2, 4, 6))
                for lens in ("default", "never", "trusted"):
                    for sort in SORTS:
                        params = {"sort": sort, "limit": 25, "lens": lens} | (
                            {"trust": trust} if lens == "trusted" else {}
                        )
                        seen[f"{lens} {sort}"] = httpx.get(f"{a_url}/api/posts", params=params).json()
                    seen[f"{lens} thread"] = httpx.get(
                        f"{a_url}/api/posts/{threads[0]}", params={"lens": lens, "trust": trust}
                    ).json()
                seen["trust"] = trust
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
    query = {"rpc": nodes.ganache.url, "board": nodes.board.deployment.address, "gateway": gateway} | extra
    return f"{path.as_uri()}?{urlencode(query)}#/{view}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    with _watched(context) as opened:
        yield opened


@contextmanager
def _watched(context: BrowserContext) -> Iterator[Page]:
    """A page of ``context`` that fails the test on an uncaught error or a console error."""
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
    """Every post the view shows: id, parent, tallies (raw and counted), content state, title and body text."""
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
                counted: [Number(a.dataset.countedUp), Number(a.dataset.countedDown)],
                folded: a.querySelector(':scope > details') !== null,
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
    # a thread read whole (every PostCreated since the root's block) and level by level (whole=0: by parent topic)
    for thread, whole in [(t, w) for t in nodes.threads for w in ("10000", "0")]:
        page.goto(reader_url(reader_file, nodes, nodes.b_url, f"post/{thread}", whole=whole))
        posts = shown(page)
        assert ("every PostCreated log since block" in page.inner_text(".stated")) == (whole != "0")
        expected = _thread(nodes.seen[f"thread {thread}"]["post"], [])
        assert [(p["id"], p["parent"]) for p in posts] == [(p["id"], p["parent_id"] or 0) for p in expected]
        for got, want in zip(posts, expected, strict=True):
            assert (got["up"], got["down"]) == (want["upvotes"], want["downvotes"])
            # the text A's pages showed (backend/markdown.py) is the text the reader renders (preview.js, same rules)
            assert _squash(got["body"]) == _squash(render_markdown(want["body"]))


@pytest.mark.parametrize("lens", ["default", "never", "trusted"])
def test_each_lens_ranks_counts_and_folds_as_node_a_did(page: Page, nodes: Nodes, reader_file: Path, lens: str):
    extra = {"lens": lens} | ({"trust": nodes.seen["trust"]} if lens == "trusted" else {})
    for sort in SORTS:
        page.goto(reader_url(reader_file, nodes, nodes.b_url, sort, **extra))
        posts = shown(page)
        expected = nodes.seen[f"{lens} {sort}"]["posts"]
        if lens == "trusted" and sort != "new":
            # the node keeps the default lens's order within a page (docs/ranking.md: a per-request full ranking
            # would slow reads for everyone); the reader, reading for one person, ranks fully by the trusted
            # votes with the node's formulas: the same posts, tallies and folds, in that order
            board = nodes.board.contract.functions
            created = {p["id"]: board.getPost(p["id"]).call()[3] for p in expected}

            def key(p: dict[str, Any], sort: str = sort, created: dict[int, int] = created) -> tuple[int, float, int]:
                up, down = p["counted_upvotes"], p["counted_downvotes"]
                value = {"hot": ranking.hot(up, down, created[p["id"]]), "top": up - down}.get(sort)
                return (
                    int(bool(p.get("folded"))),
                    -(ranking.controversial(up, down) if value is None else value),
                    -p["id"],
                )

            expected = sorted(expected, key=key)
        assert [p["id"] for p in posts] == [p["id"] for p in expected], (lens, sort)
        for got, want in zip(posts, expected, strict=True):
            assert got["counted"] == [want["counted_upvotes"], want["counted_downvotes"]], (lens, sort, want["id"])
            assert (got["up"], got["down"]) == (want["upvotes"], want["downvotes"])
            assert got["folded"] == bool(want.get("folded")), (lens, sort, want["id"])
    page.goto(reader_url(reader_file, nodes, nodes.b_url, f"post/{nodes.threads[0]}", **extra))
    posts = shown(page)
    expected = _thread(nodes.seen[f"{lens} thread"]["post"], [])
    assert [p["id"] for p in posts] == [p["id"] for p in expected]
    assert [p["counted"] for p in posts] == [[p["counted_upvotes"], p["counted_downvotes"]] for p in expected]
    if lens != "trusted":
        assert "PostCreated and VoteCast logs since block" in page.inner_text(".stated")


class LyingGateway(BaseHTTPRequestHandler):
    """Node B's /ipfs/ and /api/content/car behind a proxy that lies (a node whose store was tampered with, or one
    crafting its CARs against the reader's checks: ``car`` names how, see CAR_LIES)."""

    upstream = ""
    tampered: ClassVar[dict[str, bytes]] = {}
    car: ClassVar[str] = "tampered"
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        if self.path.startswith("/api/content/car"):
            status, body = self._car(parse_qs(urlsplit(self.path).query)["cid"])
        elif (cid := self.path.split("/ipfs/")[-1].split("?")[0]) in self.tampered:
            status, body = 200, self.tampered[cid]
        else:
            answer = httpx.get(self.upstream + self.path, timeout=10)
            status, body = answer.status_code, answer.content
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Type", CAR if self.path.startswith("/api/content/car") and status == 200 else "x/y")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _car(self, cids: list[str]) -> tuple[int, bytes]:
        if self.car == "no CAR route (an IPFS gateway)":
            return 404, b"404 page not found"
        if self.car == "busy (503, the node's CAR budget spent)":
            return 503, b'{"detail": "busy: too many CARs asked; try again shortly"}'
        files = {}
        for cid in cids:
            answer = httpx.get(f"{self.upstream}/ipfs/{cid}?format=raw", timeout=10)
            if answer.status_code == 200:
                files[cid] = self.tampered.get(cid, answer.content)
        if self.car == "each block under the next one's CID":
            order = [cid for cid in cids if cid in files]
            files = {cid: files[order[(i + 1) % len(order)]] for i, cid in enumerate(order)}
        body = car(cids, files)  # each block under the CID asked, its bytes as above
        if self.car == "cut inside its last block":
            body = body[:-20]
        elif self.car == "a length that never ends":
            body += b"\xff" * 12
        return 200, body

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def lying_gateway(upstream: str, tampered: dict[str, bytes], how: str) -> Iterator[str]:
    """LyingGateway in front of ``upstream`` on a port of its own; its URL."""
    LyingGateway.upstream, LyingGateway.tampered, LyingGateway.car = upstream, tampered, how
    LyingGateway.asked = []
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), LyingGateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


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
    # (the view's files come in one CAR: the swapped file is a block under its own CID whose bytes are others)
    forged = {cid: encode_document("A changed title", "words the author never wrote")}
    with lying_gateway(nodes.b_url, forged, "tampered") as gateway:
        page.evaluate("indexedDB.deleteDatabase('indelible-reader')")
        page.goto(reader_url(reader_file, nodes, gateway, "new"))
        posts = {p["id"]: p for p in shown(page)}
        # every file asked in one CAR; the one it left out (no gateway has it) asked once more, by itself
        assert [path.split("?")[0].split("/")[1] for path in LyingGateway.asked] == ["api", "ipfs"]
    lied = posts[target["id"]]
    assert lied["content"] == "unavailable" and "A changed title" not in (lied["title"] or "")
    assert f"{gateway.removeprefix('http://')} served a file that does not match its digest" in lied["note"]
    assert "never wrote" not in page.inner_text("#view")
    assert sum(p["content"] == "ok" for p in posts.values()) == len(posts) - 2  # the tampered and the missing


CAR_LIES = {
    # how the CAR lies or fails: (how many fewer posts than on B show their text; what their notes say)
    "no CAR route (an IPFS gateway)": (0, None),
    "busy (503, the node's CAR budget spent)": (0, None),
    "each block under the next one's CID": (0, None),
    "cut inside its last block": (1, "sent a CAR that could not be read (a block runs past its end)"),
    "a length that never ends": (0, "sent a CAR that could not be read (a length of more than 7 bytes)"),
}


@pytest.mark.parametrize("how", CAR_LIES)
def test_a_gateway_whose_car_lies_or_is_missing_shows_no_wrong_text(
    page: Page, nodes: Nodes, reader_file: Path, how: str
):
    """A CAR is believed block by block, for its bytes' sha256 alone: a block under another file's CID, a CAR cut
    short or one whose lengths never end shows no wrong text, and a gateway with no CAR route is asked file by
    file."""
    page.goto(reader_url(reader_file, nodes, nodes.b_url, "new"))
    truth = {p["id"]: p for p in shown(page)}
    with lying_gateway(nodes.b_url, {}, how) as gateway:
        page.evaluate("indexedDB.deleteDatabase('indelible-reader')")
        page.goto(reader_url(reader_file, nodes, gateway, "new"))
        posts = {p["id"]: p for p in shown(page)}
        asked = [path.split("?")[0] for path in LyingGateway.asked]
    fewer, note = CAR_LIES[how]
    with_text = [post_id for post_id, p in truth.items() if p["content"] == "ok"]
    assert posts.keys() == truth.keys() and len(with_text) == len(truth) - 1  # all but the missing one
    assert sum(p["content"] == "ok" for p in posts.values()) == len(with_text) - fewer
    for post_id, post in posts.items():
        if post["content"] == "ok":
            assert (post["title"], post["body"]) == (truth[post_id]["title"], truth[post_id]["body"])
        else:
            assert "content unavailable" in post["note"] and (note is None or note in post["note"])
    assert asked[0] == "/api/content/car"
    if how.startswith(("no CAR route", "busy")):  # the CAR asked once, then each file (the missing one too)
        assert asked[1:] and all(path.startswith("/ipfs/") for path in asked[1:]) and len(asked) == 1 + len(truth)
    elif how == "each block under the next one's CID":  # each file believed for its bytes, the missing one asked
        assert len(asked) == 2 and asked[1].startswith("/ipfs/")
    else:  # a CAR that cannot be read: that gateway is not asked again for what it left
        assert asked == ["/api/content/car"]


LAYOUT = json.loads((Path(__file__).resolve().parents[2] / "backend" / "static" / "board-layout.json").read_text())


@pytest.mark.parametrize("lie", ["posts it has not", "a reply moved", "a tally moved", "a reply log forged"])
def test_an_rpc_whose_storage_or_logs_lie_is_named_and_nothing_it_made_up_is_shown(
    page: Page, nodes: Nodes, reader_file: Path, lie: str
):
    """The reader reads posts as storage words (eth_getStorageAt) and threads from PostCreated logs. Storage words
    no Board post can hold (an id postCount claims but the chain has not: empty slots), a tally that belongs to
    another post's digest, or a log and a storage that disagree on a post, are refused with the RPC named, and
    nothing is shown. (A liar consistent in every answer it gives is as undetectable from one RPC as with eth_call:
    docs/reader.md says so.)"""
    w3 = connect(nodes.ganache)
    address = nodes.board.deployment.address
    root = nodes.threads[0]
    thread = _thread(nodes.seen[f"thread {root}"]["post"], [])
    count = nodes.board.contract.functions.postCount().call()
    posts, tallies = LAYOUT["posts"]["slot"], LAYOUT["tallies"]["slot"]

    def word(key: str) -> int:
        return int.from_bytes(w3.eth.get_storage_at(address, int(key, 16)), "big")

    with lying_rpc(nodes.ganache.url, address) as rpc:
        if lie == "posts it has not":  # postCount raised: the posts above the chain's count read as empty slots
            rpc.storage_values = {"0x" + LAYOUT["postCount"]["slot"].to_bytes(32, "big").hex(): count + 2}
            view, reason = "new", f"storage for post {count + 2} at block"
        elif lie == "a reply moved":  # a nested reply's storage says it answers the root
            nested = next(p for p in thread if p["parent_id"] not in (None, 0, root))
            key = slot_key(nested["id"], posts)
            offset = 8 * LAYOUT["posts"]["members"]["parentId"]["offset"]
            rpc.storage_values = {key: (word(key) & ~((2**48 - 1) << offset)) | (root << offset)}
            view, reason = f"post/{root}", f"contradicts itself on post {nested['id']}"
        elif lie == "a tally moved":  # an unvoted post given the tally of a voted one
            new = nodes.seen["new"]["posts"]
            voted = next(p for p in new if p["upvotes"] + p["downvotes"] > 0)
            unvoted = next(p for p in new if p["upvotes"] + p["downvotes"] == 0 and p["id"] != voted["id"])
            rpc.storage_values = {slot_key(unvoted["id"], tallies): word(slot_key(voted["id"], tallies))}
            view, reason = "new", f"storage for post {unvoted['id']} at block"
        else:  # a top-level post's PostCreated log rewritten into the thread; its storage says otherwise
            in_thread = {p["id"] for p in thread}
            other = next(p["id"] for p in nodes.seen["new"]["posts"] if p["id"] > root and p["id"] not in in_thread)
            rpc.log_parents = {other: root}
            view, reason = f"post/{root}", f"contradicts itself on post {other}"
        page.goto(reader_url(reader_file, nodes, nodes.b_url, view, rpc=rpc.url))
        page.wait_for_selector('#view[data-ready="error"], #view[data-ready="true"]', state="attached")
        message = page.inner_text("#view")
        assert page.get_attribute("#view", "data-ready") == "error", message
        assert f"127.0.0.1:{rpc.port}" in message and reason in message, message
        if lie == "a tally moved":
            assert "a tally cached for another digest" in message
        assert page.locator("#view article").count() == 0


@pytest.mark.parametrize("view", ["new", "post/1"])
def test_the_reader_refuses_a_board_that_is_not_this_release(page: Page, nodes: Nodes, reader_file: Path, view: str):
    """Opened on a thread, the first probes for its block go with the code check's request (both sent by early.js
    while the module loads); what they answered is used only once the code held, so an account that is no Board
    shows nothing."""
    w3 = connect(nodes.ganache)
    # an account, not a contract
    page.goto(reader_url(reader_file, nodes, nodes.b_url, view, board=w3.eth.accounts[3]))
    page.wait_for_selector('#view[data-ready="error"]', state="attached")
    assert "Not read: no code at" in page.inner_text("#check")
    assert page.locator("#view article").count() == 0


def test_the_first_reads_are_sent_from_the_head_once_and_all_taken_by_the_module(
    page: Page, nodes: Nodes, reader_file: Path
):
    """early.js (in the page's head) asks the chain id and head, the code check's request and a thread's first log
    spans while the module loads; the module takes each of those answers for the very request it sends itself
    (reader/src/plan.js builds both), so the RPC is asked nothing twice and early.js asks nothing the module does
    not take. (What the module takes it checks as any answer: the lying-RPC tests above open the reader the same
    way.)"""
    bodies: list[str] = []

    def asked(request: Request) -> None:
        if request.method == "POST" and request.url.startswith(nodes.ganache.url):
            bodies.append(request.post_data or "")

    page.on("request", asked)
    root = nodes.threads[0]
    page.goto(reader_url(reader_file, nodes, nodes.b_url, f"post/{root}"))
    posts = shown(page)
    assert posts[0]["id"] == root and posts[0]["content"] == "ok" and len(posts) > 1
    early = page.evaluate("({sent: [...indelibleEarly.sent], asked: [...indelibleEarly.asked]})")
    sent = [key.split(" ", 1)[1] for key in early["sent"]]
    assert '"eth_chainId"' in sent[0] and '"eth_getCode"' in sent[1], sent
    assert any('"eth_getLogs"' in body for body in sent), sent  # the thread's first spans came from the head
    assert set(early["sent"]) <= set(early["asked"])  # every one taken by the module
    # the view's reads (the proofs after it ask eth_getProof): none asked twice
    reads = [body for body in bodies if '"eth_getProof"' not in body]
    assert len(reads) == len(set(reads)), [body[:120] for body in reads if reads.count(body) > 1]


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


def _write(page: Page, title: str | None, body: str) -> int:
    """Fill the compose form (or an open reply form) and send; the new post's id once confirmed."""
    if title is not None:
        page.fill("#compose-title", title)
        page.fill("#compose-body", body)
        page.click(".compose button[type=submit]")
    else:
        page.fill("textarea[id^=reply-]", body)
        page.click("text=Send reply")
    page.wait_for_selector("#write-status[data-done]", state="attached", timeout=60_000)
    status = page.inner_text("#write-status")
    assert status.startswith("Confirmed: post #"), status
    return int(page.get_attribute("#write-status", "data-done") or 0)


def _vote(page: Page, post_id: int, direction: int) -> None:
    page.click(f"#post-{post_id} > .write button[data-vote='{direction}']")
    page.wait_for_selector('#write-status[data-done="vote"]', state="attached", timeout=60_000)
    page.wait_for_selector(f'#view[data-ready="true"] #post-{post_id}', state="attached")


# (posts written from here on change what A served: the tests comparing with it come first, in file order)
@pytest.mark.parametrize("signer", ["wallet", "relay"])
def test_posting_replying_and_voting_from_the_reader(browser: Browser, nodes: Nodes, reader_file: Path, signer: str):
    w3 = connect(nodes.ganache)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    wallet = w3.eth.accounts[8]
    if signer == "wallet":
        inject_wallet(context, nodes.ganache.url, wallet)
    with _watched(context) as page:
        page.goto(reader_url(reader_file, nodes, nodes.b_url, "compose", relay=nodes.b_url))
        page.wait_for_selector("#compose-title")
        post_id = _write(page, f"Written in the reader by {signer}", "*from* the reader")
        assert page.get_attribute("#write-status", "data-pinned") == nodes.b_url.removeprefix("http://")
        author = (
            wallet
            if signer == "wallet"
            else Account.from_key(page.evaluate("localStorage.getItem('indelible.key')")).address
        )
        on_chain = nodes.board.contract.functions.getPost(post_id).call()
        assert on_chain[0] == author and on_chain[1] == 0
        page.wait_for_url(re.compile(f"#/post/{post_id}$"))
        posts = shown(page)
        assert posts[0]["id"] == post_id and posts[0]["title"] == f"Written in the reader by {signer}"
        page.click(f"#post-{post_id} > .write button[data-reply='{post_id}']")
        reply_id = _write(page, None, "a reply from the reader")
        assert nodes.board.contract.functions.getPost(reply_id).call()[1] == post_id
        _vote(page, post_id, -1)
        assert nodes.board.contract.functions.voteOf(post_id, author).call() == -1
        posts = {p["id"]: p for p in shown(page)}
        assert (posts[post_id]["up"], posts[post_id]["down"]) == (0, 1)
        assert posts[reply_id]["content"] == "ok" and "a reply from the reader" in posts[reply_id]["body"]
        # node B indexed them too, from the chain, like any post
        indexed = f"{nodes.b_url}/api/posts/{reply_id}"
    wait_for(lambda: httpx.get(indexed).status_code == 200, timeout=30, interval=0.3, what="B to index the reply")


class CappedProvider(BaseHTTPRequestHandler):
    """A hosted provider's limits in front of Ganache, with CORS as public RPCs answer: eth_getLogs refused past
    a block span (-32600 "exceed maximum block range") or a result count (Infura's -32005 "query returned more
    than N results"), batches over a size refused with one error object, and the first requests answered 429
    with Retry-After. (The `providers` helper's tests/support proxy was not on main when this was written, and
    answers no CORS preflight, which a page needs.)"""

    protocol_version = "HTTP/1.1"
    upstream = ""
    client = httpx.Client(timeout=30)
    span = 8
    results = 1
    batch = 10
    throttle = 2
    refused: ClassVar[dict[str, int]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {
            "Access-Control-Allow-Origin": "*",
            "Content-Type": "application/json",
            **(headers or {}),
        }.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _count(self, what: str) -> None:
        self.refused[what] = self.refused.get(what, 0) + 1

    def _one(self, call: dict[str, Any]) -> dict[str, Any]:
        if call["method"] == "eth_getLogs":
            query = call["params"][0]
            first, last = int(query["fromBlock"], 16), int(query["toBlock"], 16)
            if last - first + 1 > self.span:
                self._count("span")
                error = {"code": -32600, "message": f"exceed maximum block range: {self.span}"}
                return {"jsonrpc": "2.0", "id": call["id"], "error": error}
        answer: dict[str, Any] = self.client.post(self.upstream, json=call).json()
        if call["method"] == "eth_getLogs" and len(answer.get("result") or []) > self.results:
            self._count("results")
            error = {"code": -32005, "message": f"query returned more than {self.results} results"}
            return {"jsonrpc": "2.0", "id": call["id"], "error": error}
        return answer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if CappedProvider.throttle > 0:
            CappedProvider.throttle -= 1
            self._count("429")
            self._send(429, {"error": "too many requests"}, {"Retry-After": "1"})
            return
        if isinstance(body, list):
            if len(body) > self.batch:
                self._count("batch")
                message = f"batch size too large: at most {self.batch} calls"
                self._send(200, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}})
                return
            self._send(200, [self._one(call) for call in body])
            return
        self._send(200, self._one(body))


def test_behind_a_provider_with_span_result_and_batch_caps_and_429s_the_reader_reads_the_same(
    browser: Browser, nodes: Nodes, reader_file: Path
):
    views = ["new", "hot", f"post/{nodes.threads[0]}", f"author/{connect(nodes.ganache).eth.accounts[1]}"]
    direct = {}
    context = browser.new_context()
    with _watched(context) as page:
        for view in views:
            page.goto(reader_url(reader_file, nodes, nodes.b_url, view))
            direct[view] = shown(page)
    CappedProvider.upstream = nodes.ganache.url
    CappedProvider.refused = {}
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), CappedProvider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxied = {}
    context = browser.new_context()  # its own IndexedDB: everything is read anew, through the provider
    context.add_init_script(STATUS_RECORDER)
    try:
        with _watched(context) as page:
            for view in views:
                page.goto(reader_url(reader_file, nodes, nodes.b_url, view, rpc=f"http://127.0.0.1:{port}"))
                proxied[view] = shown(page)
            log = status_log(page)
    finally:
        server.shutdown()
    assert proxied == direct
    assert CappedProvider.refused["429"] == 2 and CappedProvider.refused["batch"] >= 1
    assert CappedProvider.refused["span"] >= 1 and CappedProvider.refused["results"] >= 1, CappedProvider.refused
    assert any("answered HTTP 429, asking to wait: waiting 1 s" in line for line in log), log


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("dark", [False, True])
def test_the_reader_has_no_wcag_violations_and_fits_375_px(
    browser: Browser, nodes: Nodes, reader_file: Path, dark: bool
):
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme="dark" if dark else "light")
    with _watched(context) as page:
        views = ["new", f"post/{nodes.threads[0]}", "compose"]
        for view in views:
            page.goto(reader_url(reader_file, nodes, nodes.b_url, view))
            if view == "compose":
                page.wait_for_selector("#compose-title")
            else:
                shown(page)
            if view.startswith("post"):  # with a reply form open
                page.click(f"#post-{nodes.threads[0]} > .write button[data-reply]")
            # axe evaluated through the DevTools protocol: the page's own policy stays as it is
            page.evaluate(AXE.read_text() + "\n;undefined")
            result = page.evaluate(
                "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
            )
            violations = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
            assert violations == [], (view, violations)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375, view
    # the form before anything is read, and a refusal, too
    context = browser.new_context(viewport={"width": 375, "height": 800}, color_scheme="dark" if dark else "light")
    with _watched(context) as page:
        page.goto(reader_file.as_uri())
        page.wait_for_selector("#self-cid")
        page.evaluate(AXE.read_text() + "\n;undefined")
        result = page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})")
        assert [v["id"] for v in result["violations"]] == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_the_footer_shows_the_cid_of_the_bytes_it_was_loaded_from(page: Page, nodes: Nodes, reader_file: Path):
    cid = cid_of(reader_file.read_bytes())
    for path in ("/reader", f"/ipfs/{cid}"):  # served by a node: the page hashes what it was loaded from
        page.goto(nodes.b_url + path)
        page.wait_for_selector("#self-cid[data-cid]", state="attached")
        assert page.get_attribute("#self-cid", "data-cid") == cid
    # from file:// a page may not read its own file: it says so, and hashes a copy the reader picks
    page.goto(reader_file.as_uri())
    assert "Opened from a file" in page.inner_text("#self-cid")
    page.set_input_files("#self-file", str(reader_file))
    page.wait_for_selector("#self-file-cid:not(:empty)", state="attached")
    assert f"CID {cid}" in page.inner_text("#self-file-cid")
    tampered = reader_file.parent / "tampered-reader.html"
    tampered.write_bytes(reader_file.read_bytes().replace(b"Indelible reader", b"Indelible readed", 1))
    page.set_input_files("#self-file", str(tampered))
    page.wait_for_selector("#self-file-cid:has-text('tampered-reader.html')", state="attached")
    assert cid not in page.inner_text("#self-file-cid")
