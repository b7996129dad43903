"""Full-text search on a real chain: /api/search and /search, on SQLite FTS5 and PostgreSQL tsvector.

One Board per module (and per database engine) is filled through the contract and indexed by the
app's own indexer. The index keeping in step (reorgs, late content) is tests/backend/indexer/test_search_indexing.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from web3 import Web3

from backend.api.schemas import SearchOut
from backend.app import create_app
from backend.content.pins import PinStore
from backend.db.fulltext import BadQuery, SearchSort, fts5_expression, parse_query, search_rows
from backend.views.search_results import highlight
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed


@dataclass
class World:
    """The module's app and the ids it created."""

    client: TestClient
    board: BoardHandle
    ids: dict[str, int]


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Posts and replies with known words, one folded by votes, indexed by the app."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "search")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)

    def post(title: str | None, body: str, parent: int = 0) -> int:
        return board.post_document(pins, title, body, parent)

    ids = {"lighthouse": post("Lighthouse keepers", "They kept the lamp lit through every storm.")}
    ids["storm"] = post("Weather report", "A storm is coming; the lamp keepers are ready.")
    ids["reply"] = post(None, "The storm passed and the lighthouse stood.", ids["lighthouse"])
    for voter in range(1, 4):  # before "folded": its downvoters were active before it, so the default lens counts them
        board.vote(ids["storm"], 1, accounts[voter])
    ids["folded"] = post("Folded rant", "Nobody liked this zebra rant about storms.")
    ids["markup"] = post("Markup <b>tags</b>", 'A body with <script>alert("x")</script> and quokka words.')
    for voter in range(1, 3):
        board.vote(ids["folded"], -1, accounts[voter])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url, collapse_score=-1)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, board, ids)


def found(world: World, q: str, **params: str | int) -> list[int]:
    response = world.client.get("/api/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    SearchOut.model_validate(response.json())
    return [result["id"] for result in response.json()["results"]]


def test_a_word_in_a_body_finds_the_post(world: World):
    assert found(world, "zebra") == [world.ids["folded"]]


def test_a_word_in_a_title_finds_the_post(world: World):
    assert found(world, "Weather") == [world.ids["storm"]]


def test_a_quoted_phrase_finds_only_posts_with_the_words_in_that_order(world: World):
    assert found(world, '"lamp lit"') == [world.ids["lighthouse"]]
    assert found(world, '"lit lamp"') == []


def test_every_word_is_required(world: World):
    assert found(world, "lighthouse lamp", sort="new") == [world.ids["lighthouse"]]


def test_replies_are_found_and_link_into_their_thread(world: World):
    result = world.client.get("/api/search", params={"q": "passed"}).json()["results"][0]
    assert result["id"] == world.ids["reply"]
    assert result["url"] == f"/api/posts/{world.ids['reply']}"
    assert result["thread_url"] == f"/api/posts/{world.ids['lighthouse']}"


def test_a_folded_post_is_found_and_marked_collapsed(world: World):
    result = world.client.get("/api/search", params={"q": "zebra"}).json()["results"][0]
    assert result["collapsed"] is True and result["score"] == -2


def test_the_search_page_shows_a_folded_post_folded(world: World):
    html = world.client.get("/search", params={"q": "zebra"}).text
    assert f'id="post-{world.ids["folded"]}"' in html
    assert 'class="post search-result is-collapsed"' in html and "<details" in html


def test_sort_new_lists_matches_newest_first(world: World):
    assert found(world, "storm", sort="new") == [world.ids["reply"], world.ids["storm"], world.ids["lighthouse"]]


def test_sort_top_lists_matches_by_score(world: World):
    assert found(world, "lamp", sort="top") == [world.ids["storm"], world.ids["lighthouse"]]


def test_relevance_ranks_a_title_match_above_a_body_match(world: World):
    assert found(world, "lighthouse")[0] == world.ids["lighthouse"]


@pytest.mark.parametrize("sort", ["relevance", "new", "top"])
def test_cursor_pages_walk_every_match_once(world: World, sort: str):
    everything = found(world, "the", sort=sort)
    walked: list[int] = []
    cursor = None
    while True:
        params = {"q": "the", "sort": sort, "limit": 1} | ({"cursor": cursor} if cursor else {})
        body = world.client.get("/api/search", params=params).json()
        walked += [result["id"] for result in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert walked == everything and len(everything) >= 3


@pytest.mark.parametrize("sort", ["relevance", "top"])
def test_relevance_and_top_rank_the_newest_candidates_and_new_reaches_every_match(world: World, sort: SearchSort):
    terms = parse_query("storm")
    with Session(world.client.app.state.indelible.engine) as session:
        ranked = search_rows(session, terms, sort, None, 10, candidates=2)
        newest = search_rows(session, terms, "new", None, 10, candidates=2)
    assert sorted(row["id"] for row in ranked) == [world.ids["storm"], world.ids["reply"]]
    assert [row["id"] for row in newest] == [world.ids["reply"], world.ids["storm"], world.ids["lighthouse"]]


def test_a_cursor_of_another_query_is_refused(world: World):
    cursor = world.client.get("/api/search", params={"q": "the", "limit": 1}).json()["next_cursor"]
    response = world.client.get("/api/search", params={"q": "storm", "cursor": cursor})
    assert response.status_code == 422 and response.json()["detail"].startswith("cursor: made for another listing")


def test_highlights_mark_matched_words_and_escape_the_rest(world: World):
    result = world.client.get("/api/search", params={"q": "quokka tags"}).json()["results"][0]
    assert result["highlight"]["title"] == "Markup &lt;b&gt;<mark>tags</mark>&lt;/b&gt;"
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; and <mark>quokka</mark> words." in result["highlight"]["body"]
    )
    html = world.client.get("/search", params={"q": "quokka"}).text
    assert "<script>alert" not in html and "<mark>quokka</mark>" in html


@pytest.mark.parametrize(
    ("q", "detail"),
    [
        ("!!!", "q: no words to search for (a word is letters or digits)"),
        ('""', "q: no words to search for (a word is letters or digits)"),
        (" ".join(f"w{i}" for i in range(13)), "q: at most 12 words and phrases, got 13"),
    ],
)
def test_a_query_without_words_or_with_too_many_is_refused_with_a_reason(world: World, q: str, detail: str):
    response = world.client.get("/api/search", params={"q": q})
    assert response.status_code == 422 and response.json()["detail"] == detail


@pytest.mark.parametrize(
    "q", ['storm OR "', "NEAR(storm lamp)", "title:storm", "storm*", "^storm", "-storm", "storm AND NOT", "storm'; --"]
)
def test_query_syntax_in_user_text_is_searched_as_words(world: World, q: str):
    response = world.client.get("/api/search", params={"q": q})
    assert response.status_code == 200, response.text


def test_the_search_page_links_its_json_twin_and_the_header_links_search(world: World):
    html = world.client.get("/search", params={"q": "storm"}).text
    assert 'href="/api/search?q=storm&amp;sort=relevance"' in html
    assert '<a href="/search"' in world.client.get("/").text


def test_parse_query_reads_words_and_phrases():
    assert parse_query('Storm "Lamp  lit" x_y "unclosed phrase') == [
        ("storm",),
        ("lamp", "lit"),
        ("x",),
        ("y",),
        ("unclosed", "phrase"),
    ]
    assert fts5_expression([("storm",), ("lamp", "lit")]) == '"storm" AND "lamp lit"'
    with pytest.raises(BadQuery):
        parse_query("  ")


def test_highlight_escapes_text_that_looks_like_markers():
    assert highlight("<mark>x</mark> x", {"x"}) == "&lt;mark&gt;<mark>x</mark>&lt;/mark&gt; <mark>x</mark>"
