"""Threads page their replies: at most N direct replies per post, a "more replies" cursor, bounded documents.

One Board per module (and per database engine): a post with 8 direct replies (two
upvoted, one collapsed) and a reply with 5 replies of its own, indexed by an app
whose ``INDELIBLE_THREAD_REPLIES`` is 3.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session
from web3 import Web3

from backend.api.schemas import ThreadOut
from backend.app import create_app
from backend.views import cursors
from backend.views import listings as documents
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, digest_of, make_settings, module_index, wait_indexed

PER_PARENT = 3


@dataclass
class Thread:
    """The module's app and the ids it created."""

    client: TestClient
    board: BoardHandle
    engine: Engine
    root: int
    replies: list[int]  # the root's direct replies, in creation order
    nested: list[int]  # the replies of replies[0]


@pytest.fixture(scope="module", params=DATABASES)
def thread(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Thread]:
    """A root with 8 replies (replies[5] and replies[6] upvoted, replies[1] collapsed), replies[0] with 5 replies."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "thread-paging")
    accounts = list(w3.eth.accounts)
    root = board.post(digest_of(b"root"))
    replies = [board.post(digest_of(f"reply {i}".encode()), root, accounts[i % 5]) for i in range(8)]
    nested = [board.post(digest_of(f"nested {i}".encode()), replies[0], accounts[1]) for i in range(5)]
    for voter in accounts[1:4]:
        board.vote(replies[5], 1, voter)
    board.vote(replies[6], 1, accounts[1])
    for voter in accounts[1:6]:
        board.vote(replies[1], -1, voter)
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url, thread_replies=PER_PARENT)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield Thread(client, board, client.app.state.indelible.engine, root, replies, nested)


def ids(posts: list[dict[str, Any]]) -> list[int]:
    return [p["id"] for p in posts]


def _unpaged(thread: Thread, post_id: int) -> list[int]:
    """Every direct reply of ``post_id`` in the thread's order, from one unbounded build."""
    with Session(thread.engine) as session:
        document = documents.build_thread(session, post_id, 1, per_parent=1000, counted=False)
    assert document is not None
    return ids(document["post"]["replies"])


def _walk(thread: Thread, post_id: int) -> list[int]:
    """Direct replies of ``post_id`` read page by page through more_replies cursors."""
    body = thread.client.get(f"/api/posts/{post_id}?lens=all").json()  # votes of fresh test accounts count
    ThreadOut.model_validate(body)
    seen = ids(body["post"]["replies"])
    more = body["post"]["more_replies"]
    while more is not None:
        assert more["cursor"] is not None and more["url"] == f"/api/posts/{post_id}?cursor={more['cursor']}&lens=all"
        assert more["count"] == len(_unpaged(thread, post_id)) - len(seen)
        response = thread.client.get(more["url"])
        assert response.status_code == 200, response.text
        ThreadOut.model_validate(response.json())
        page = response.json()["post"]
        assert len(page["replies"]) <= PER_PARENT
        seen += ids(page["replies"])
        more = page["more_replies"]
    return seen


def test_thread_shows_at_most_n_replies_per_post_with_a_more_replies_cursor(thread: Thread):
    post = thread.client.get(f"/api/posts/{thread.root}?lens=all").json()["post"]
    assert ids(post["replies"]) == _unpaged(thread, thread.root)[:PER_PARENT]
    assert ids(post["replies"])[:2] == [thread.replies[5], thread.replies[6]]  # best first, as before
    assert post["more_replies"]["count"] == 8 - PER_PARENT
    first = next(r for r in post["replies"] if r["id"] == thread.replies[0])
    assert len(first["replies"]) == PER_PARENT and first["more_replies"]["count"] == 5 - PER_PARENT


def test_following_cursors_reads_every_reply_once_in_thread_order(thread: Thread):
    assert _walk(thread, thread.root) == _unpaged(thread, thread.root)
    assert _unpaged(thread, thread.root)[-1] == thread.replies[1]  # the collapsed reply comes last


def test_nested_replies_page_through_their_own_cursor(thread: Thread):
    assert sorted(_walk(thread, thread.replies[0])) == sorted(thread.nested)
    assert _walk(thread, thread.replies[0]) == _unpaged(thread, thread.replies[0])


def test_cursor_of_another_post_is_refused(thread: Thread):
    cursor = thread.client.get(f"/api/posts/{thread.root}").json()["post"]["more_replies"]["cursor"]
    response = thread.client.get(f"/api/posts/{thread.replies[0]}?cursor={cursor}")
    assert response.status_code == 422
    assert response.json() == {"detail": f"cursor: made for another listing, not replies:{thread.replies[0]}"}


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24", cursors.encode_cursor({"l": "replies:1", "t": 0, "i": 1})])
def test_malformed_reply_cursor_is_422(thread: Thread, cursor: str):
    response = thread.client.get(f"/api/posts/{thread.root}", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cursor: ")


def test_budget_bounds_the_document_and_cut_posts_link_onwards(thread: Thread):
    with Session(thread.engine) as session:
        document = documents.build_thread(session, thread.root, 6, per_parent=PER_PARENT, budget=4)
    assert document is not None
    post = document["post"]
    shown = len(post["replies"]) + sum(len(r["replies"]) for r in post["replies"])
    assert shown == 4
    assert len(post["replies"]) == PER_PARENT  # the first level is read whole before the next
    first = next(r for r in post["replies"] if r["id"] == thread.replies[0])
    assert len(first["replies"]) == 1 and first["more_replies"]["count"] == 4


def test_each_level_is_read_by_bounded_queries(thread: Thread):
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(thread.engine, "before_cursor_execute", record)
    try:
        with Session(thread.engine) as session:
            documents.build_thread(session, thread.root, 6, per_parent=PER_PARENT)
    finally:
        event.remove(thread.engine, "before_cursor_execute", record)
    levels = [s for s in statements if "parent_id" in s.split("WHERE", 1)[-1]]
    # the root's replies, then replies[0]'s (no deeper replies exist): each has more than PER_PARENT, so each
    # is read by its own keyset query down ix_read_replies*, the first PER_PARENT of the first tier
    assert len(levels) == 2
    assert all("LIMIT" in s.upper() and "row_number" not in s.lower() for s in levels)


def test_thread_page_links_more_replies_without_javascript(thread: Thread):
    html = thread.client.get(f"/posts/{thread.root}?lens=all", headers={"Accept": "text/html"}).text
    links = re.findall(rf'href="(/posts/{thread.root}\?cursor=[^"#]+&amp;lens=all)#replies"', html)
    assert len(links) == 1
    assert "5 more replies" in html
    following = thread.client.get(links[0].replace("&amp;", "&"), headers={"Accept": "text/html"}).text
    expected = _unpaged(thread, thread.root)[PER_PARENT : 2 * PER_PARENT]
    for reply_id in expected:
        assert f'id="post-{reply_id}"' in following
    assert f'id="post-{thread.replies[5]}"' not in following
    assert "Back to the first replies" in following


def test_thread_page_with_a_bad_cursor_is_a_422_page(thread: Thread):
    response = thread.client.get(f"/posts/{thread.root}?cursor=%25%25", headers={"Accept": "text/html"})
    assert response.status_code == 422
    assert "cursor: malformed" in response.text
