"""Cursor pages of /api/posts on a real chain while new posts keep arriving: none skipped, none repeated.

Keyset cursors name the last row seen (tier, sort key, id), so a post created
between two requests either ranks above the cursor (and is left for the next
reading of page one) or below it (and turns up on a later page): it never
pushes an older post off a page boundary, as an offset would.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from tests.support.board import BoardHandle
from tests.support.index import digest_of
from tests.support.wait import wait_for

SORTS = ["hot", "new", "top", "controversial"]


def _indexed(client: TestClient, post_id: int) -> None:
    wait_for(lambda: client.get(f"/api/posts/{post_id}").status_code == 200)


def _page(client: TestClient, sort: str, cursor: str | None) -> dict[str, Any]:
    response = client.get(f"/api/posts?sort={sort}&limit=2&lens=all" + (f"&cursor={cursor}" if cursor else ""))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("sort", SORTS)
def test_pages_neither_skip_nor_repeat_while_posts_arrive(
    client: TestClient, board: BoardHandle, w3: Web3, sort: str
) -> None:
    accounts = w3.eth.accounts
    before = [board.post(digest_of(f"{sort}: before {i}".encode()), sender=accounts[i % 4]) for i in range(9)]
    for voter in accounts[1:6]:  # -5: collapsed, in the second tier of hot, top and controversial
        board.vote(before[0], -1, voter)
    for voter in accounts[1:4]:
        board.vote(before[4], 1, voter)
    for voter, direction in zip(accounts[1:5], (1, 1, -1, -1), strict=True):
        board.vote(before[7], direction, voter)
    board.vote(before[2], 1, accounts[6])
    _indexed(client, before[-1])
    wait_for(lambda: client.get(f"/api/posts/{before[7]}").json()["post"]["downvotes"] == 2)
    # the last vote sent: indexed after before[7]'s on a slow machine, it would move before[2] mid-paging
    wait_for(lambda: client.get(f"/api/posts/{before[2]}").json()["post"]["upvotes"] == 1)
    assert client.get(f"/api/posts/{before[0]}?lens=all").json()["post"]["collapsed"] is True

    seen: list[int] = []
    arrived: list[int] = []
    cursor = None
    while True:
        body = _page(client, sort, cursor)
        seen += [post["id"] for post in body["posts"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # a new post and a reply land between two page requests
        arrived.append(board.post(digest_of(f"{sort}: arrived {len(arrived)}".encode()), sender=accounts[5]))
        reply = board.post(digest_of(f"{sort}: reply {len(arrived)}".encode()), parent_id=seen[-1], sender=accounts[6])
        _indexed(client, reply)

    assert len(arrived) >= 4
    assert len(seen) == len(set(seen)), f"a post was repeated: {seen}"
    assert set(before) <= set(seen), f"skipped: {sorted(set(before) - set(seen))}"
    assert set(seen) <= set(before) | set(arrived)
    if sort == "new":  # a timeline: nothing newer than the first page can appear after it
        assert seen == sorted(before, reverse=True)
