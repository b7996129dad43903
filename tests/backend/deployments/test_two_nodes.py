"""Two nodes (issue 12): node B knows only A's Board address and A as its one content peer, and serves what A does."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvicorn
from fastapi.testclient import TestClient
from web3 import Web3

from backend.app import create_app
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.devchain import Ganache, free_port
from tests.support.board import BoardHandle
from tests.support.index import make_settings
from tests.support.servers import serving
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}
SORTS = ("hot", "new", "top", "controversial")


def _everything(get: Callable[[str], httpx.Response], post_ids: list[int]) -> dict[str, object]:
    """Every feed and every thread a node serves, as JSON."""
    pages: dict[str, object] = {}
    for sort in SORTS:
        response = get(f"/api/posts?sort={sort}&limit=100")
        assert response.status_code == 200
        pages[sort] = response.json()
    for post_id in post_ids:
        response = get(f"/api/posts/{post_id}")
        assert response.status_code == 200
        pages[f"thread {post_id}"] = response.json()
    return pages


def test_a_node_joining_by_address_with_one_peer_serves_the_same_posts_threads_and_content(
    board: BoardHandle,
    w3: Web3,
    ganache: Ganache,
    data_dir: Path,
    database_url: str,
    tmp_path: Path,
    make_client: Callable[..., TestClient],
):
    a_settings = make_settings(data_dir, ganache.url, database_url)
    port = free_port()
    a_url = f"http://127.0.0.1:{port}"
    with serving(uvicorn.Config(create_app(a_settings), host="127.0.0.1", port=port, log_level="warning")):
        post_ids: list[int] = []
        for n in range(6):
            document = encode_document(f"Topic {n}", f"body of topic {n}")
            assert httpx.post(f"{a_url}/api/content", content=document, headers=JSON).status_code == 201
            post_ids.append(board.post(sha256(document)))
        for n, parent in enumerate(post_ids[:3] * 2):
            document = encode_document(None, f"reply {n} to {parent}")
            assert httpx.post(f"{a_url}/api/content", content=document, headers=JSON).status_code == 201
            post_ids.append(board.post(sha256(document), parent_id=parent))
        for voter, (post_id, direction) in enumerate(
            [(post_ids[0], 1), (post_ids[1], -1), (post_ids[7], 1), (post_ids[0], 1), (post_ids[2], -1)]
        ):
            board.vote(post_id, direction, sender=w3.eth.accounts[2 + voter])
        total = len(post_ids)

        def caught_up(url_get: Callable[[str], httpx.Response]) -> bool:
            index = url_get("/api/status").json()["index"]
            return bool(
                index["indexed_block"] == w3.eth.block_number
                and index["content"]["progress"] == f"content {total} of {total}"
            )

        def a_get(path: str) -> httpx.Response:
            return httpx.get(a_url + path, timeout=10)

        wait_for(lambda: caught_up(a_get), timeout=60, interval=0.2)
        b_dir = tmp_path / "b"
        b_dir.mkdir()
        b_settings = make_settings(
            b_dir,
            ganache.url,
            f"sqlite:///{b_dir / 'index.sqlite3'}",
            contract_address=board.deployment.address,
            ipfs_gateways=[a_url],
        )
        started = time.monotonic()
        b = make_client(b_settings)
        wait_for(lambda: caught_up(b.get), timeout=60, interval=0.2)
        elapsed = time.monotonic() - started
        assert _everything(b.get, post_ids) == _everything(a_get, post_ids)
    assert elapsed < 60
    assert f'<progress id="content-progress" max="{total}" value="{total}">' in b.get("/status").text
    print(f"node B served A's {total} posts within {elapsed:.1f} s of start")
