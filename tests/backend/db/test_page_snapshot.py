"""Every page's facts hold at the block it states, even while the indexer writes (issue 12, on both engines).

A writer thread posts and votes straight on the contract, one block per transaction, while the app's own
indexer follows; meanwhile pages are loaded again and again. Each page states the block its index was read
at (``#chain-check``) and the post count; every post shown carries its author, parent, digest and tallies.
All of them are asked of the chain at that block (batched ``eth_call``) and must match: a page built across
two of the indexer's commits would show a tally or a count from another block than the one it names.
"""

from __future__ import annotations

import threading
import time
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi.testclient import TestClient
from web3 import Web3

from tests.support.board import BoardHandle
from tests.support.index import wait_indexed

BLOCKS = 12  # index checkpoints the pages must have been read at (the indexer commits every 0.5 s or so)


class _Facts(HTMLParser):
    """The chain-check section's and each article's data attributes of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.check: dict[str, str] = {}
        self.posts: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if values.get("id") == "chain-check":
            self.check = values
        elif tag == "article" and "data-post-id" in values:
            self.posts.append(values)


def _facts(html: str) -> _Facts:
    parser = _Facts()
    parser.feed(html)
    assert parser.check, "the page carries no #chain-check section"
    return parser


def _chain_at(rpc_url: str, board: BoardHandle, block: int, post_ids: list[int]) -> tuple[int, list[Any]]:
    """postCount and getPost of each id at ``block`` (None: no such post then), in one batched JSON-RPC request."""
    contract = board.contract
    calls = [contract.encode_abi("postCount", [])] + [contract.encode_abi("getPost", [i]) for i in post_ids]
    to = contract.address
    body = [
        {"jsonrpc": "2.0", "id": n, "method": "eth_call", "params": [{"to": to, "data": data}, hex(block)]}
        for n, data in enumerate(calls)
    ]
    answers = sorted(httpx.post(rpc_url, json=body, timeout=60).json(), key=lambda answer: answer["id"])
    codec = board.w3.codec
    count = codec.decode(["uint256"], bytes.fromhex(answers[0]["result"][2:]))[0]
    kinds = ["address", "uint256", "bytes32", "uint64", "uint128", "uint128"]
    return count, [
        codec.decode(kinds, bytes.fromhex(answer["result"][2:])) if "result" in answer else None
        for answer in answers[1:]
    ]


def _mismatches(pages: list[_Facts], rpc_url: str, board: BoardHandle) -> list[str]:
    """What the pages show that the chain does not say at each page's block (one batched request per block)."""
    by_block: dict[int, list[_Facts]] = {}
    for page in pages:
        by_block.setdefault(int(page.check["data-index-block"]), []).append(page)
    found = []
    for block, at_block in sorted(by_block.items()):
        ids = sorted({int(post["data-post-id"]) for page in at_block for post in page.posts})
        count, answers = _chain_at(rpc_url, board, block, ids)
        chain = dict(zip(ids, answers, strict=True))
        for page in at_block:
            if int(page.check["data-post-count"]) != count:
                found.append(f"block {block}: the page counts {page.check['data-post-count']} posts, the chain {count}")
            for post in page.posts:
                facts = chain[int(post["data-post-id"])]
                if facts is None:
                    found.append(f"block {block}: the page shows post {post['data-post-id']}, not on chain yet")
                    continue
                author, parent, digest, _created, up, down = facts
                shown = (post["data-author"], int(post["data-parent-id"]), post["data-digest"],
                         int(post["data-upvotes"]), int(post["data-downvotes"]))  # fmt: skip
                truth = (Web3.to_checksum_address(author), parent, "0x" + digest.hex(), up, down)
                if shown != truth:
                    found.append(
                        f"block {block}, post {post['data-post-id']}: the page shows {shown}, the chain {truth}"
                    )
    return found


def _write_while(board: BoardHandle, stop: threading.Event, failures: list[BaseException]) -> None:
    """Post and vote, a block each, until ``stop``: new posts, and every vote of nine accounts on each."""
    try:
        n = 0
        while not stop.is_set():
            n += 1
            post_id = board.post(Web3.keccak(text=f"snapshot {n}"), 0, n % 3)
            for voter in range(1, 10):
                if stop.is_set():
                    return
                board.vote(post_id, 1 if voter % 3 else -1, voter)
    except BaseException as exc:  # a failed writer must fail the test, not pass it quietly
        failures.append(exc)


def test_every_page_shows_the_chain_as_it_was_at_the_block_it_states_while_blocks_are_indexed(
    client: TestClient, board: BoardHandle, w3: Web3
):
    for n in range(5):
        board.post(Web3.keccak(text=f"before {n}"), 0, n % 3)
    wait_indexed(client, w3)
    author = board.sender(1)
    stop, failures = threading.Event(), []
    writer = threading.Thread(target=_write_while, args=(board, stop, failures), daemon=True)
    writer.start()
    pages: list[_Facts] = []
    blocks: set[int] = set()
    deadline = time.monotonic() + 90
    try:
        while len(blocks) < BLOCKS and time.monotonic() < deadline and not failures:
            for path in ("/new", f"/authors/{author}"):
                response = client.get(path)
                assert response.status_code == 200
                pages.append(_facts(response.text))
                blocks.add(int(pages[-1].check["data-index-block"]))
    finally:
        stop.set()
        writer.join(60)
    assert not failures, f"the writer failed: {failures[0]!r}"
    assert len(blocks) >= BLOCKS, f"the index hardly moved while pages were read (blocks {sorted(blocks)})"
    rpc_url = str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    mismatches = _mismatches(pages, rpc_url, board)
    print(f"{len(pages)} pages read at {len(blocks)} blocks: {len(mismatches)} facts differ from the chain")
    assert mismatches == [], f"{len(mismatches)} facts differ from the chain, e.g. {mismatches[:5]}"
