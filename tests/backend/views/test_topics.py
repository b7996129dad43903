"""Topics on a real chain: the document rule, replies inheriting, /api/posts?topic=, /api/topics, pages, Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.api.schemas import FeedOut, TopicsOut
from backend.app import create_app
from backend.content.document import InvalidDocument, encode_document, parse_document
from backend.content.pins import PinStore
from backend.db.session import make_engine
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed
from tests.support.topics import assert_topics_kept, old_topics

ATOM = "{http://www.w3.org/2005/Atom}"
BAD_TOPIC = "'topic' must be a lowercase slug (a-z, 0-9, single hyphens inside), 1 to 32 characters"


@dataclass
class World:
    """The module's app and the ids it created."""

    client: TestClient
    ids: dict[str, int]
    url: str


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Posts in two topics and none, a reply and a nested reply, votes to tell the sorts apart."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "topics")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)

    def post(title: str | None, body: str, parent: int = 0, topic: str | None = None) -> int:
        return board.post_document(pins, title, body, parent, topic=topic)

    ids = {"pools1": post("Anemones", "Close at dusk", topic="tide-pools")}
    ids["rust1"] = post("Borrowing", "Lifetimes", topic="rust")
    ids["plain"] = post("No topic", "Just a post")
    ids["pools2"] = post("Crabs", "Swap shells", topic="tide-pools")
    ids["reply"] = post(None, "Nice", ids["pools1"])
    ids["nested"] = post(None, "Agreed", ids["reply"])
    for voter in range(1, 4):
        board.vote(ids["pools1"], 1, accounts[voter])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, ids, url)


@pytest.mark.parametrize("topic", ["rust", "tide-pools", "a", "web3", "x" * 32])
def test_a_short_lowercase_slug_is_a_topic(topic: str):
    assert parse_document(encode_document("T", "b", topic)).topic == topic


@pytest.mark.parametrize("topic", ["", "Rust", "tide pools", "-rust", "rust-", "a--b", "x" * 33, "é", 7])
def test_anything_else_is_refused_as_a_topic(topic: object):
    data = ('{"title": "T", "body": "b", "topic": %s}' % (f'"{topic}"' if isinstance(topic, str) else topic)).encode()
    with pytest.raises(InvalidDocument, match="'topic' must be a lowercase slug"):
        parse_document(data)


def test_a_reply_may_not_carry_a_topic():
    with pytest.raises(InvalidDocument, match="a reply must not have a topic"):
        parse_document(b'{"body": "b", "topic": "rust"}', reply=True)


@pytest.mark.parametrize("sort", ["hot", "new", "top", "controversial"])
def test_posts_of_a_topic_are_listed_under_every_sort(world: World, sort: str):
    body = FeedOut.model_validate(world.client.get("/api/posts", params={"sort": sort, "topic": "tide-pools"}).json())
    assert sorted(p.id for p in body.posts) == sorted([world.ids["pools1"], world.ids["pools2"]])
    assert all(p.topic == "tide-pools" for p in body.posts)


def test_topic_pages_walk_by_cursor(world: World):
    first = world.client.get("/api/posts", params={"sort": "new", "topic": "tide-pools", "limit": 1}).json()
    params = {"sort": "new", "topic": "tide-pools", "limit": 1, "cursor": first["next_cursor"]}
    second = world.client.get("/api/posts", params=params).json()
    assert [p["id"] for p in first["posts"] + second["posts"]] == [world.ids["pools2"], world.ids["pools1"]]
    other = world.client.get("/api/posts", params={"sort": "new", "topic": "rust", "cursor": first["next_cursor"]})
    assert other.status_code == 422


def test_replies_inherit_their_roots_topic(world: World):
    for name in ("reply", "nested"):
        assert world.client.get(f"/api/posts/{world.ids[name]}").json()["post"]["topic"] == "tide-pools"
    assert world.client.get(f"/api/posts/{world.ids['plain']}").json()["post"]["topic"] is None


def test_topics_are_listed_by_activity(world: World):
    body = TopicsOut.model_validate(world.client.get("/api/topics").json())
    assert [(t.topic, t.posts) for t in body.topics] == [("tide-pools", 2), ("rust", 1)]
    assert body.topics[0].url == "/api/posts?topic=tide-pools"


def test_topics_answer_what_grouping_every_post_answered(world: World):
    engine = make_engine(world.url)
    try:
        kept = assert_topics_kept(engine)
        before = old_topics(engine)
    finally:
        engine.dispose()
    assert [row[:2] for row in kept] == [("rust", 1), ("tide-pools", 2)]
    topics = world.client.get("/api/topics").json()["topics"]
    assert topics == [row | {"url": f"/api/posts?topic={row['topic']}"} for row in before]
    assert [list(topic) for topic in topics] == [["topic", "posts", "last_post_at", "url"]] * 2


@pytest.mark.parametrize("bad", ["Rust", "a b", "x" * 33, "-a"])
def test_a_bad_topic_parameter_is_a_422(world: World, bad: str):
    response = world.client.get("/api/posts", params={"topic": bad})
    assert response.status_code == 422 and response.json()["detail"].startswith("topic:")


def test_the_topic_page_has_the_front_pages_tabs_and_its_json_twin(world: World):
    html = world.client.get("/t/tide-pools", params={"sort": "new"}).text
    assert f'id="post-{world.ids["pools2"]}"' in html and f'id="post-{world.ids["rust1"]}"' not in html
    assert 'href="/t/tide-pools?sort=top"' in html and 'href="/t/tide-pools"' in html
    assert 'href="/api/posts?sort=new&amp;topic=tide-pools"' in html
    assert 'href="/feeds/topics/tide-pools.atom"' in html


def test_the_topics_page_links_each_topic(world: World):
    html = world.client.get("/topics").text
    assert html.index('href="/t/tide-pools"') < html.index('href="/t/rust"')


def test_a_topic_is_an_atom_feed(world: World):
    response = world.client.get("/feeds/topics/tide-pools.atom")
    assert response.status_code == 200
    entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
    ids = [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in entries]
    assert ids == [str(world.ids["pools2"]), str(world.ids["pools1"])]


def test_compose_offers_the_active_topics(world: World):
    html = world.client.get("/compose", params={"topic": "rust"}).text
    assert 'value="rust"' in html and '<option value="tide-pools">' in html
