"""One data function per view: the JSON twin, the page and the Atom feed show one answer, with its chain facts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from web3 import Web3

from backend.app import create_app
from backend.content.pins import PinStore
from backend.db.models import Post
from backend.db.session import ensure_schema, make_engine, read_snapshot
from backend.db.write import get_meta, set_meta
from backend.views.answers import feed_view
from backend.views.chain_facts import chain_facts
from backend.views.lens import make_lens
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed

ATOM = "{http://www.w3.org/2005/Atom}"
FACTS = re.compile(
    r'id="chain-check"[^>]*data-index-block="(\d+)" data-contract="(0x[0-9a-fA-F]{40})" data-chain-id="(\d+)"'
    r' data-post-count="(\d+)"'
)


@dataclass
class World:
    client: TestClient
    board: BoardHandle
    pins: PinStore
    accounts: list[str]
    ids: dict[str, int]


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A topic post with a nested thread, a second author's reply, a downvoted post."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "views")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)
    ids = {"top": board.post_document(pins, "Views", "one answer", 0, accounts[0])}
    ids["reply"] = board.post_document(pins, None, "a reply", ids["top"], accounts[1])
    ids["nested"] = board.post_document(pins, None, "a nested reply", ids["reply"], accounts[0])
    ids["other"] = board.post_document(pins, "Other", "second post", 0, accounts[2])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, board, pins, accounts, ids)


def twins(world: World) -> list[tuple[str, str]]:
    author = world.accounts[0]
    return [
        ("/api/posts", "/"),
        ("/api/posts?sort=new", "/new"),
        (f"/api/posts/{world.ids['top']}", f"/posts/{world.ids['top']}"),
        (f"/api/authors/{author}", f"/authors/{author}"),
        (f"/api/authors/{author}/replies", f"/inbox?address={author}"),
        ("/api/search?q=reply", "/search?q=reply"),
    ]


def page_facts(html: str) -> dict[str, int | str]:
    found = FACTS.search(html)
    assert found, "the page has no chain facts"
    block, contract, chain_id, posts = found.groups()
    return {"block": int(block), "contract": contract, "chain_id": int(chain_id), "posts": int(posts)}


def test_every_json_answer_carries_the_chain_facts_its_page_carries(world: World):
    for api, page in twins(world):
        answer = world.client.get(api).json()
        assert answer["chain"] == page_facts(world.client.get(page).text), api


def test_the_chain_facts_are_the_index_checkpoint_and_its_post_count(world: World):
    engine = world.client.app.state.indelible.engine
    with read_snapshot(engine) as session:
        meta = get_meta(session.connection())
        count = len(session.execute(select(Post.id)).all())
    facts = world.client.get("/api/posts").json()["chain"]
    assert facts == {
        "block": int(meta["indexed_block"]),
        "contract": world.board.contract.address,
        "chain_id": world.board.w3.eth.chain_id,
        "posts": count,
    }


def test_a_new_post_moves_the_block_and_the_count_together(world: World):
    before = world.client.get("/api/posts").json()["chain"]
    world.ids["late"] = world.board.post_document(world.pins, "Late", "after the first count", 0, world.accounts[3])
    wait_indexed(world.client, world.board.w3)
    after = world.client.get("/api/posts").json()["chain"]
    assert after["block"] > before["block"] and after["posts"] == before["posts"] + 1


def _post_row(post_id: int) -> dict[str, object]:
    digest = "0x" + f"{post_id:064x}"
    return {
        "id": post_id, "author": "0x" + "ab" * 20, "parent_id": None, "root_id": post_id, "depth": 0, "digest": digest,
        "cid": f"cid{post_id}", "content_status": "pinned", "created_at": post_id, "block_number": post_id,
        "block_hash": digest, "tx_hash": digest, "log_index": 0, "hot": 0.0, "counted_hot": 0.0,
    }  # fmt: skip


@pytest.fixture
def bare_engine(database_url: str) -> Iterator[Engine]:
    """An empty index of each engine, no indexer: the test writes its checkpoint and rows itself."""
    engine = make_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def _checkpoint(engine: Engine, block: int, block_hash: str, posts: list[int]) -> None:
    """One indexer transaction, as the indexer commits a range: its rows and its checkpoint together."""
    with engine.begin() as conn:
        conn.execute(Post.__table__.delete())
        if posts:
            conn.execute(Post.__table__.insert(), [_post_row(post_id) for post_id in posts])
        for key, value in {
            "indexed_block": str(block), "indexed_block_hash": block_hash, "contract_address": "0x" + "cd" * 20,
            "chain_id": "1337",
        }.items():  # fmt: skip
            set_meta(conn, key, value)


def test_before_the_first_block_an_answer_says_its_facts_are_unknown(bare_engine: Engine):
    with read_snapshot(bare_engine) as session:
        assert chain_facts(session) is None
        assert feed_view(session, make_lens("default", None, -5))["chain"] is None


def test_the_count_is_taken_again_for_another_checkpoint_even_at_the_same_height(bare_engine: Engine):
    """A reorg rewinds the checkpoint to another block of the same height: the count of that one is taken."""
    _checkpoint(bare_engine, 10, "0x" + "01" * 32, [1, 2, 3])
    with read_snapshot(bare_engine) as session:
        assert chain_facts(session) == {"block": 10, "contract": "0x" + "cd" * 20, "chain_id": 1337, "posts": 3}
    _checkpoint(bare_engine, 10, "0x" + "02" * 32, [1, 2])
    with read_snapshot(bare_engine) as session:
        assert (chain_facts(session) or {})["posts"] == 2
    _checkpoint(bare_engine, 11, "0x" + "03" * 32, [1, 2, 3, 4])
    with read_snapshot(bare_engine) as session:
        assert (chain_facts(session) or {})["posts"] == 4


def test_a_snapshot_keeps_its_count_while_the_indexer_commits_the_next_range(bare_engine: Engine):
    _checkpoint(bare_engine, 10, "0x" + "01" * 32, [1, 2, 3])
    with read_snapshot(bare_engine) as session:
        get_meta(session.connection())  # the snapshot starts here
        _checkpoint(bare_engine, 11, "0x" + "02" * 32, [1, 2, 3, 4, 5])
        assert chain_facts(session) == {"block": 10, "contract": "0x" + "cd" * 20, "chain_id": 1337, "posts": 3}
    with read_snapshot(bare_engine) as session:
        assert (chain_facts(session) or {})["posts"] == 5


@pytest.mark.parametrize(
    ("feed", "api", "key"),
    [
        ("/feeds/posts.atom", "/api/posts?sort=new&limit=50", "posts"),
        ("/feeds/authors/{author}.atom", "/api/authors/{author}?limit=50", "posts"),
        ("/feeds/authors/{author}/replies.atom", "/api/authors/{author}/replies?limit=50", "replies"),
    ],
)
def test_an_atom_feed_lists_the_answer_of_its_json_twin(world: World, feed: str, api: str, key: str):
    author = world.accounts[0]
    entries = ET.fromstring(world.client.get(feed.format(author=author)).content).findall(f"{ATOM}entry")
    listed = [int(entry.find(f"{ATOM}id").text.rsplit("/", 1)[1]) for entry in entries]
    assert listed and listed == [post["id"] for post in world.client.get(api.format(author=author)).json()[key]]


def test_a_threads_feed_lists_the_replies_its_answer_holds_newest_first_then_the_post(world: World):
    thread = world.client.get(f"/api/posts/{world.ids['top']}?depth=20").json()
    ids, stack = [], [thread["post"]]
    while stack:
        node = stack.pop()
        ids.append(node["id"])
        stack.extend(node["replies"])
    entries = ET.fromstring(world.client.get(f"/feeds/posts/{world.ids['top']}.atom").content).findall(f"{ATOM}entry")
    listed = [int(entry.find(f"{ATOM}id").text.rsplit("/", 1)[1]) for entry in entries]
    assert listed == [*sorted(ids[1:], reverse=True), world.ids["top"]]
