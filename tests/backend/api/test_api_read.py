"""The read API on a real chain: /api/posts, /api/posts/{id}, /api/authors/{a}, /api/contract, Atom feeds.

One Board per module (and per database engine) is filled with posts, replies and
votes through the contract, indexed by the app's own indexer, then read back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from web3 import Web3

from backend.api.schemas import AuthorOut, FeedOut, ThreadOut
from backend.app import create_app
from backend.content.cid import digest_to_cid, sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.views.cursors import encode_cursor
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed

ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class World:
    """The module's chain, app and the ids it created."""

    client: TestClient
    board: BoardHandle
    engine: Engine
    accounts: list[str]
    top: list[int]  # top-level ids in creation order
    replies: dict[str, int]  # name -> id
    unpinned: int  # a top-level post whose content was never pinned


def _doc(title: str | None, body: str) -> bytes:
    return encode_document(title, body)


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Five posts (one unpinned), a reply tree, votes from many accounts, indexed by the app."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "api-read")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)

    def post(title: str | None, body: str, parent: int = 0, sender: int = 0, pin: bool = True) -> int:
        data = _doc(title, body)
        if pin:
            pins.put(data)
        return board.post(sha256(data), parent, accounts[sender])

    top = [post(f"Post {i}", f"Body <b>{i}</b> & more", sender=i % 3) for i in range(4)]
    unpinned = post("Never pinned", "lost", sender=1, pin=False)
    top.append(unpinned)
    replies = {"a": post(None, "reply a", top[0], 1)}
    replies["b"] = post(None, "reply b", top[0], 2)
    replies["c"] = post(None, "reply c", top[0], 3)
    replies["a1"] = post(None, "reply a1", replies["a"], 0)
    replies["a1x"] = post(None, "reply a1x", replies["a1"], 4)
    # post 2 (top[1]) is the most upvoted; reply b beats a beats c by Wilson
    for voter in range(1, 8):
        board.vote(top[1], 1, accounts[voter])
    for voter in range(1, 4):
        board.vote(top[0], 1, accounts[voter])
    for voter in range(5, 11):
        board.vote(replies["b"], 1, accounts[voter])
    board.vote(replies["a"], 1, accounts[1])
    board.vote(replies["c"], -1, accounts[1])
    for voter in range(2, 4):
        board.vote(top[2], 1, accounts[voter])
    for voter in range(4, 6):
        board.vote(top[2], -1, accounts[voter])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, board, client.app.state.indelible.engine, accounts, top, replies, unpinned)


def ids(posts: list[dict]) -> list[int]:
    return [p["id"] for p in posts]


# --- /api/posts -----------------------------------------------------------------------------------


def test_new_lists_top_level_posts_newest_first(world: World):
    body = world.client.get("/api/posts?sort=new").json()
    assert ids(body["posts"]) == list(reversed(world.top))
    assert body["next_cursor"] is None


def test_post_fields_are_complete(world: World):
    posts = world.client.get("/api/posts?sort=new").json()["posts"]
    first = next(p for p in posts if p["id"] == world.top[0])
    assert first["title"] == "Post 0"
    assert first["body"] == "Body <b>0</b> & more"
    assert first["content_status"] == "pinned"
    assert first["cid"] == digest_to_cid(bytes.fromhex(first["digest"][2:]))
    assert first["author"] == world.accounts[0]
    assert first["parent_id"] is None
    assert first["upvotes"] == 3 and first["downvotes"] == 0 and first["score"] == 3
    assert first["reply_count"] == 3
    assert first["collapsed"] is False
    assert first["tx_hash"].startswith("0x") and first["block_number"] > 0 and first["created_at"] > 0


def test_unpinned_content_reads_null(world: World):
    posts = world.client.get("/api/posts?sort=new").json()["posts"]
    lost = next(p for p in posts if p["id"] == world.unpinned)
    assert (lost["title"], lost["body"], lost["content_status"]) == (None, None, "missing")


def test_top_orders_by_score(world: World):
    body = world.client.get("/api/posts?sort=top&window=all&lens=all").json()
    assert ids(body["posts"])[:2] == [world.top[1], world.top[0]]


def test_hot_puts_the_most_upvoted_first(world: World):
    assert ids(world.client.get("/api/posts?lens=all").json()["posts"])[0] == world.top[1]


def test_controversial_puts_the_split_post_first(world: World):
    assert ids(world.client.get("/api/posts?sort=controversial&lens=all").json()["posts"])[0] == world.top[2]


@pytest.mark.parametrize("sort", ["hot", "new", "top", "controversial"])
def test_cursor_pages_cover_every_post_once(world: World, sort: str):
    seen, cursor = [], None
    while True:
        url = f"/api/posts?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = world.client.get(url).json()
        seen += ids(body["posts"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(world.top)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("sort=best", "sort: Input should be 'hot', 'new', 'top' or 'controversial'"),
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("limit=101", "limit: Input should be less than or equal to 100"),
        ("limit=ten", "limit: Input should be a valid integer, unable to parse string as an integer"),
        ("window=decade&sort=top", "window: Input should be 'day', 'week', 'month', 'year' or 'all'"),
        ("cursor=%%%", "cursor: malformed; pass next_cursor back exactly as it was given"),
        ("cursor=bm90IGpzb24", "cursor: malformed; pass next_cursor back exactly as it was given"),
    ],
)
def test_bad_listing_query_is_422_with_reason(world: World, query: str, detail: str):
    response = world.client.get(f"/api/posts?{query}")
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_cursor_of_another_sort_is_refused(world: World):
    cursor = world.client.get("/api/posts?sort=new&limit=1").json()["next_cursor"]
    response = world.client.get(f"/api/posts?sort=hot&cursor={cursor}")
    assert response.status_code == 422
    assert response.json() == {"detail": "cursor: made for another listing, not posts:hot"}


def test_forged_cursor_with_huge_id_is_refused(world: World):
    cursor = encode_cursor({"l": "posts:new", "t": 0, "k": 1, "i": 2**70})
    response = world.client.get(f"/api/posts?sort=new&cursor={cursor}")
    assert response.status_code == 422


# --- /api/posts/{id} ------------------------------------------------------------------------------


def test_thread_nests_replies_best_first(world: World):
    body = world.client.get(f"/api/posts/{world.top[0]}?lens=all").json()  # fresh test voters: every vote
    post = body["post"]
    assert post["id"] == world.top[0]
    assert ids(post["replies"]) == [world.replies["b"], world.replies["a"], world.replies["c"]]
    a = post["replies"][1]
    assert ids(a["replies"]) == [world.replies["a1"]]
    assert ids(a["replies"][0]["replies"]) == [world.replies["a1x"]]
    assert a["replies"][0]["replies"][0]["more_replies"] is None


def test_thread_depth_limit_leaves_a_link_to_the_rest(world: World):
    post = world.client.get(f"/api/posts/{world.top[0]}?depth=1").json()["post"]
    a = next(r for r in post["replies"] if r["id"] == world.replies["a"])
    assert a["replies"] == []
    assert a["more_replies"] == {"count": 1, "cursor": None, "url": f"/api/posts/{world.replies['a']}"}
    assert a["url"] == f"/api/posts/{world.replies['a']}"


def test_reply_permalink_serves_its_subtree(world: World):
    post = world.client.get(f"/api/posts/{world.replies['a1']}").json()["post"]
    assert post["parent_id"] == world.replies["a"]
    assert post["depth"] == 2
    assert ids(post["replies"]) == [world.replies["a1x"]]


def test_unknown_post_is_404(world: World):
    response = world.client.get("/api/posts/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Post not found"}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/posts/abc", "post_id: Input should be a valid integer, unable to parse string as an integer"),
        ("/api/posts/0", "post_id: Input should be greater than or equal to 1"),
        ("/api/posts/-3", "post_id: Input should be greater than or equal to 1"),
        ("/api/posts/99999999999999999999", "post_id: Input should be less than or equal to 281474976710655"),
        ("/api/posts/1?depth=21", "depth: Input should be less than or equal to 20"),
        ("/api/posts/1?depth=-1", "depth: Input should be greater than or equal to 0"),
    ],
)
def test_bad_post_request_is_422_with_reason(world: World, path: str, detail: str):
    response = world.client.get(path)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_read_answers_are_exactly_their_declared_models(world: World):
    """The read routes send bytes built by backend.db.queries, not re-validated by FastAPI: check them here."""
    author = world.accounts[1]
    cursor = world.client.get("/api/posts?sort=hot&limit=2").json()["next_cursor"]
    cases = [
        (FeedOut, "/api/posts?sort=hot&limit=2"),
        (FeedOut, f"/api/posts?sort=hot&limit=2&cursor={cursor}"),
        (FeedOut, "/api/posts?sort=top&window=day"),
        (ThreadOut, f"/api/posts/{world.top[0]}"),
        (AuthorOut, f"/api/authors/{author}"),
    ]
    for model, path in cases:
        response = world.client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "application/json", path
        assert response.headers["server-timing"].startswith("app;dur="), path
        body = response.json()
        # a dump of the validated model drops unknown fields and shows any coercion: it must be the body itself
        assert model.model_validate(body).model_dump(mode="json") == body, path


# --- /api/authors/{address} -----------------------------------------------------------------------


def test_author_page_lists_posts_and_replies_with_totals(world: World):
    author = world.accounts[1]
    body = world.client.get(f"/api/authors/{author.lower()}").json()
    assert body["address"] == author
    assert ids(body["posts"]) == sorted([world.top[1], world.unpinned, world.replies["a"]], reverse=True)
    assert body["totals"] == {"posts": 2, "replies": 1, "upvotes_received": 8, "downvotes_received": 0}
    assert all(p["collapsed"] is False for p in body["posts"])


def test_author_pages_by_cursor(world: World):
    author = world.accounts[1]
    first = world.client.get(f"/api/authors/{author}?limit=2").json()
    second = world.client.get(f"/api/authors/{author}?limit=2&cursor={first['next_cursor']}").json()
    assert len(first["posts"]) == 2 and len(second["posts"]) == 1
    assert second["next_cursor"] is None


def test_author_without_posts_has_an_empty_page(world: World):
    address = Web3.to_checksum_address("0x" + "12" * 20)
    response = world.client.get(f"/api/authors/{address.lower()}")
    assert response.status_code == 200
    assert response.json()["address"] == address
    assert response.json()["posts"] == [] and response.json()["next_cursor"] is None
    assert set(response.json()["totals"].values()) == {0}
    feed = _feed(world, f"/feeds/authors/{address}.atom")
    assert feed.findall(f"{ATOM}entry") == []


@pytest.mark.parametrize(
    ("address", "detail"),
    [
        ("0x123", "address: expected 0x followed by 40 hex digits"),
        ("0x" + "zz" * 20, "address: expected 0x followed by 40 hex digits"),
        ("f39fd6e51aad88f6f4ce6ab8827279cfffb92266", "address: expected 0x followed by 40 hex digits"),
        ("0xF39fd6e51aad88F6F4ce6aB8827279cffFb92266", "address: mixed-case address fails its EIP-55 checksum"),
    ],
)
def test_bad_address_is_422_with_reason(world: World, address: str, detail: str):
    response = world.client.get(f"/api/authors/{address}")
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_author_cursor_of_another_author_is_refused(world: World):
    cursor = world.client.get(f"/api/authors/{world.accounts[1]}?limit=1").json()["next_cursor"]
    response = world.client.get(f"/api/authors/{world.accounts[0]}?cursor={cursor}")
    assert response.status_code == 422
    assert response.json()["detail"] == f"cursor: made for another listing, not author:{world.accounts[0]}"


# --- /api/contract --------------------------------------------------------------------------------


def test_contract_document_lets_a_client_talk_to_the_chain(world: World):
    body = world.client.get("/api/contract").json()
    deployment = world.board.deployment
    assert body["address"] == deployment.address
    assert body["chain_id"] == 1337
    assert body["deployment_block"] == deployment.block_number
    assert body["abi"] == deployment.abi
    assert body["eip712"]["domain"] == {
        "name": "Indelible",
        "version": "2",
        "chainId": 1337,
        "verifyingContract": deployment.address,
    }
    post_fields = [f["name"] for f in body["eip712"]["types"]["Post"]]
    assert post_fields == ["author", "digest", "parentId", "parentDigest", "nonce", "deadline"]
    vote_types = [(f["name"], f["type"]) for f in body["eip712"]["types"]["Vote"]]
    assert vote_types == [
        ("voter", "address"),
        ("postId", "uint256"),
        ("postDigest", "bytes32"),
        ("direction", "int8"),
        ("nonce", "uint256"),
        ("deadline", "uint256"),
    ]


# --- Atom feeds -----------------------------------------------------------------------------------


def _feed(world: World, path: str) -> ET.Element:
    response = world.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    return ET.fromstring(response.content)


def test_front_feed_lists_newest_posts_with_escaped_content(world: World):
    feed = _feed(world, "/feeds/posts.atom")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == len(world.top)
    newest_pinned = entries[1]
    assert newest_pinned.find(f"{ATOM}title").text == "Post 3"
    assert newest_pinned.find(f"{ATOM}content").text == "Body <b>3</b> & more"
    assert b"&lt;b&gt;" in world.client.get("/feeds/posts.atom").content


def test_author_feed_lists_their_posts(world: World):
    feed = _feed(world, f"/feeds/authors/{world.accounts[1]}.atom")
    assert len(feed.findall(f"{ATOM}entry")) == 3


def test_thread_feed_lists_post_and_replies(world: World):
    feed = _feed(world, f"/feeds/posts/{world.replies['a']}.atom")
    titles = [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in feed.findall(f"{ATOM}entry")]
    assert [int(t) for t in titles] == [world.replies["a1x"], world.replies["a1"], world.replies["a"]]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/feeds/posts/424242.atom", 404),
        ("/feeds/posts/x.atom", 422),
        ("/feeds/authors/0xnope.atom", 422),
    ],
)
def test_bad_feed_requests_are_4xx(world: World, path: str, status: int):
    assert world.client.get(path).status_code == status
