"""A reader's own lists on a real chain (issue 11): trusted voters and muted authors, per request only.

``lens=trusted&trust=...`` counts only the listed voters' votes for the shown posts; ``mute=...`` folds the
listed authors' posts and replies, labelled "muted by you". Nothing is stored: a request without them sees
the board as before. Every listing follows them: feeds, threads, topics, search, inbox, authors.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from web3 import Web3

from backend.api.schemas import AuthorOut, FeedOut, RepliesOut, SearchOut, ThreadOut
from backend.app import create_app
from backend.content.pins import PinStore
from backend.views.lens import EXPLAIN, MAX_ADDRESSES
from backend.views.listings import DEFAULT_DEPTH, carry_params
from tests.support.index import DATABASES, World, make_settings, module_index, wait_indexed


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A voted-on post with two replies, a post and reply by a muted-to-be author (fold threshold -1), a deep chain."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "lens-reader")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)

    def post(title: str | None, body: str, parent: int = 0, author: int = 0) -> int:
        return board.post_document(pins, title, body, parent, accounts[author], "lenses" if title is not None else None)

    warm = post("Warm", "an older post")
    for voter in range(1, 7):
        board.vote(warm, 1, accounts[voter])  # all voters active before the posts below: the default counts them
    ids = {"warm": warm, "target": post("Quokka target", "a quokka post the regulars split on")}
    board.vote(ids["target"], 1, accounts[1])
    board.vote(ids["target"], -1, accounts[2])
    board.vote(ids["target"], -1, accounts[3])
    ids["alpha"] = post(None, "reply alpha", ids["target"])
    ids["beta"] = post(None, "reply beta", ids["target"])
    for voter in (4, 5):
        board.vote(ids["alpha"], 1, accounts[voter])
    board.vote(ids["beta"], 1, accounts[6])
    ids["walrus"] = post("Walrus", "a walrus post", author=8)
    ids["walrus_reply"] = post(None, "a walrus reply", ids["target"], author=8)
    parent = ids["walrus"]
    for level in range(DEFAULT_DEPTH + 1):  # one level deeper than a thread shows: its last post has more replies
        parent = post(None, f"deep reply {level}", parent, author=9)
    ids["deepest_shown"] = parent - 1  # ids grow by one per post
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url, collapse_score=-1)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, accounts, ids)


def get(world: World, path: str, **params: Any) -> dict[str, Any]:
    response = world.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def thread(world: World, **params: Any) -> dict[str, Any]:
    document = get(world, f"/api/posts/{world.ids['target']}", **params)
    ThreadOut.model_validate(document)
    return dict(document["post"])


def tallies(post: dict[str, Any]) -> tuple[int, int, int, bool]:
    return post["counted_upvotes"], post["counted_downvotes"], post["counted_score"], post["collapsed"]


def test_the_trusted_lens_counts_only_the_trusted_voters(world: World):
    one, two, three = (world.accounts[i] for i in (1, 2, 3))
    assert tallies(thread(world)) == (1, 2, -1, True)  # the default lens: all three were active before
    assert tallies(thread(world, lens="trusted", trust=one.lower())) == (1, 0, 1, False)
    assert tallies(thread(world, lens="trusted", trust=f"{two},{three}")) == (0, 2, -2, True)
    assert tallies(thread(world, lens="trusted", trust="")) == (0, 0, 0, False)  # nobody trusted: nothing counts
    feed = get(world, "/api/posts", sort="new", lens="trusted", trust=one)
    FeedOut.model_validate(feed)
    shown = {post["id"]: post for post in feed["posts"]}
    assert tallies(shown[world.ids["target"]]) == (1, 0, 1, False)
    assert shown[world.ids["target"]]["upvotes"] == 1 and shown[world.ids["target"]]["downvotes"] == 2  # raw stay


def test_another_readers_request_is_unchanged_by_a_trusted_lens_or_a_mute(world: World):
    before = get(world, "/api/posts", sort="hot")
    get(world, "/api/posts", sort="hot", lens="trusted", trust=world.accounts[1], mute=world.accounts[8])
    assert get(world, "/api/posts", sort="hot") == before
    assert all(post["muted"] is False for post in before["posts"])


def test_the_trusted_lens_ranks_a_threads_replies_by_the_trusted_votes(world: World):
    default = [reply["id"] for reply in thread(world)["replies"]]
    assert default.index(world.ids["alpha"]) < default.index(world.ids["beta"])  # two upvotes beat one
    trusted = [reply["id"] for reply in thread(world, lens="trusted", trust=world.accounts[6])["replies"]]
    assert trusted.index(world.ids["beta"]) < trusted.index(world.ids["alpha"])  # only the trusted upvote counts


def test_posts_folded_by_the_trusted_votes_sink_within_the_page(world: World):
    trust = f"{world.accounts[2]},{world.accounts[3]}"
    ranked = get(world, "/api/posts", sort="hot", lens="trusted", trust=trust)["posts"]
    assert ranked[-1]["id"] == world.ids["target"] and ranked[-1]["collapsed"] is True
    assert all(not post["collapsed"] for post in ranked[:-1])


def test_mute_folds_an_authors_posts_and_replies_for_that_request_only(world: World):
    muted = world.accounts[8]
    feed = {post["id"]: post for post in get(world, "/api/posts", sort="new", mute=muted.lower())["posts"]}
    assert (feed[world.ids["walrus"]]["muted"], feed[world.ids["walrus"]]["collapsed"]) == (True, True)
    assert feed[world.ids["target"]]["muted"] is False
    replies = {reply["id"]: reply for reply in thread(world, mute=muted)["replies"]}
    assert (replies[world.ids["walrus_reply"]]["muted"], replies[world.ids["walrus_reply"]]["collapsed"]) == (
        True,
        True,
    )
    assert len(replies) == 3  # folded, never dropped
    plain = {post["id"]: post for post in get(world, "/api/posts", sort="new")["posts"]}
    assert (plain[world.ids["walrus"]]["muted"], plain[world.ids["walrus"]]["collapsed"]) == (False, False)
    page = world.client.get(f"/posts/{world.ids['walrus']}", params={"mute": muted}).text
    # the server cannot see the reader's saved settings: a mute list in the URL is the link's (issue 19.10)
    assert ">muted by this link</span>: show" in page and "muted by you" not in page
    assert "muted by this link" not in world.client.get(f"/posts/{world.ids['walrus']}").text


def test_search_inbox_author_and_topic_follow_the_lens(world: World):
    muted, target = world.accounts[8], world.ids["target"]
    found = get(world, "/api/search", q="quokka")
    SearchOut.model_validate(found)
    assert [tallies(r) for r in found["results"]] == [(1, 2, -1, True)]
    assert get(world, "/api/search", q="quokka", lens="never")["results"][0]["collapsed"] is False
    trusted = get(world, "/api/search", q="quokka", lens="trusted", trust=world.accounts[1])["results"][0]
    assert tallies(trusted) == (1, 0, 1, False)
    assert get(world, "/api/search", q="walrus", mute=muted)["results"][0]["muted"] is True

    inbox = get(world, f"/api/authors/{world.accounts[0]}/replies", mute=muted)
    RepliesOut.model_validate(inbox)
    assert {r["id"]: r["muted"] for r in inbox["replies"]}[world.ids["walrus_reply"]] is True
    assert get(world, f"/api/authors/{world.accounts[0]}/replies", fold=-10)["replies"][0]["collapsed"] is False

    author = get(world, f"/api/authors/{muted}", mute=muted)
    AuthorOut.model_validate(author)
    assert all(post["muted"] and post["collapsed"] for post in author["posts"])
    own = {post["id"]: post for post in get(world, f"/api/authors/{world.accounts[0]}")["posts"]}
    assert own[target]["collapsed"] is False  # an author's page never folds by votes

    topic = {post["id"]: post for post in get(world, "/api/posts", topic="lenses", mute=muted)["posts"]}
    assert topic[world.ids["walrus"]]["muted"] is True
    assert "muted by this link" in world.client.get("/t/lenses", params={"mute": muted}).text
    assert "muted by this link" in world.client.get("/search", params={"q": "walrus", "mute": muted}).text


def test_more_replies_urls_carry_the_readers_lens_parameters(world: World):
    muted, walrus = world.accounts[8], world.ids["walrus"]
    asked = {"lens": "never", "fold": "-3", "mute": muted}
    shallow = get(world, f"/api/posts/{walrus}", depth=0, **asked)["post"]["more_replies"]
    assert shallow["cursor"] is None and shallow["url"] == f"/api/posts/{walrus}?lens=never&fold=-3&mute={muted}"
    assert get(world, f"/api/posts/{walrus}", depth=0)["post"]["more_replies"]["url"] == f"/api/posts/{walrus}"
    followed = world.client.get(shallow["url"]).json()["post"]  # keeps the lens: muted, never folded by votes
    assert followed["muted"] is True and followed["replies"][0]["collapsed"] is False

    page = world.client.get(f"/posts/{walrus}", params={"mute": muted}).text  # the deepest shown post's link
    assert (
        f'href="/posts/{world.ids["deepest_shown"]}?mute={muted}#replies">continue this thread (1 reply) →</a>' in page
    )
    assert (
        f'href="/posts/{world.ids["deepest_shown"]}#replies">continue this thread (1 reply)'
        in world.client.get(f"/posts/{walrus}").text
    )


def test_a_more_replies_cursor_url_keeps_its_cursor_and_takes_the_asked_lens():
    node = {
        "id": 7,
        "replies": [],
        "more_replies": {"count": 2, "cursor": "abc", "url": "/api/posts/7?cursor=abc&lens=all"},
    }
    carried = carry_params({"post": node}, {"lens": "trusted", "trust": "0x" + "a" * 40})
    assert carried is not None
    assert carried["post"]["more_replies"]["url"] == f"/api/posts/7?cursor=abc&lens=trusted&trust=0x{'a' * 40}"


def test_search_top_ranks_by_the_lens_score_within_its_candidates(world: World):
    warm, walrus, target = world.ids["warm"], world.ids["walrus"], world.ids["target"]
    found = get(world, "/api/search", q="post", sort="top", lens="all")
    assert [r["id"] for r in found["results"]] == [warm, walrus, target]  # raw: warm's 6 upvotes lead
    for lens in (
        "default",
        "never",
    ):  # counted: warm's voters were new to the Board when they voted (0), ties newest first
        assert [r["id"] for r in get(world, "/api/search", q="post", sort="top", lens=lens)["results"]] == [
            walrus,
            warm,
            target,
        ]
    cursor = get(world, "/api/search", q="post", sort="top", lens="all", limit=1)["next_cursor"]
    refused = world.client.get("/api/search", params={"q": "post", "sort": "top", "cursor": cursor})
    assert refused.status_code == 422  # a cursor belongs to its lens's order
    assert [r["id"] for r in get(world, "/api/search", q="post", sort="top", lens="all", cursor=cursor)["results"]] == [
        walrus,
        target,
    ]


ATOM = "{http://www.w3.org/2005/Atom}"


def atom(world: World, path: str, **params: Any) -> tuple[ET.Element, dict[int, ET.Element]]:
    """The feed at ``path`` and its entries by post id."""
    response = world.client.get(path, params=params)
    assert response.status_code == 200, response.text
    feed = ET.fromstring(response.content)
    entries = {int(e.findtext(f"{ATOM}id", "").rsplit("/", 1)[1]): e for e in feed.iter(f"{ATOM}entry")}
    return feed, entries


def folded(entry: ET.Element) -> tuple[str, list[str]]:
    """An entry's title and the labels of its ``folded`` categories."""
    labels = [c.get("label", "") for c in entry.iter(f"{ATOM}category") if c.get("term") == "folded"]
    return entry.findtext(f"{ATOM}title", ""), labels


def test_atom_feeds_take_the_readers_lens_and_mark_folded_entries_without_dropping_any(world: World):
    ids, muted = world.ids, world.accounts[8]
    _, plain = atom(world, "/feeds/posts.atom")
    why = "folded by votes (your lens: default)"
    assert folded(plain[ids["target"]]) == (f"[{why}] Quokka target", [why])
    assert folded(plain[ids["walrus"]]) == ("Walrus", [])
    assert "1 up / 2 down counted" in plain[ids["target"]].findtext(f"{ATOM}summary", "")

    feed, lensed = atom(world, "/feeds/posts.atom", lens="never", mute=muted)
    assert lensed.keys() == plain.keys()  # folded, never dropped
    assert folded(lensed[ids["target"]]) == ("Quokka target", [])
    assert folded(lensed[ids["walrus"]]) == ("[folded: muted by you] Walrus", ["muted by you"])
    self_link = next(link for link in feed.iter(f"{ATOM}link") if link.get("rel") == "self")
    assert self_link.get("href", "").endswith(f"/feeds/posts.atom?lens=never&mute={muted}")

    _, trusted = atom(world, "/feeds/posts.atom", lens="trusted", trust=world.accounts[1])
    assert folded(trusted[ids["target"]]) == ("Quokka target", [])
    assert "1 up / 0 down counted" in trusted[ids["target"]].findtext(f"{ATOM}summary", "")

    assert folded(atom(world, "/feeds/topics/lenses.atom", mute=muted)[1][ids["walrus"]])[1] == ["muted by you"]
    inbox = atom(world, f"/feeds/authors/{world.accounts[0]}/replies.atom", mute=muted)[1]
    assert folded(inbox[ids["walrus_reply"]])[1] == ["muted by you"]
    thread_feed = atom(world, f"/feeds/posts/{ids['target']}.atom", mute=muted)[1]
    assert folded(thread_feed[ids["walrus_reply"]])[1] == ["muted by you"] and folded(thread_feed[ids["target"]])[1]
    author = atom(world, f"/feeds/authors/{world.accounts[0]}.atom")[1]
    assert folded(author[ids["target"]]) == ("Quokka target", [])  # an author's feed never folds by votes
    refused = world.client.get("/feeds/posts.atom", params={"mute": "0x1234"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("mute: 0x1234 is not an address")


TOO_MANY = ",".join(f"0x{i:040x}" for i in range(MAX_ADDRESSES + 1))
BAD_LISTS = [
    ("trust", "0x1234", "trust: 0x1234 is not an address (0x followed by 40 hex digits)"),
    ("mute", "0xAbCdEf0000000000000000000000000000000000", "mute: 0xAbCdEf0000000000000000000000000000000000 fails"),
    ("trust", TOO_MANY, f"trust: at most {MAX_ADDRESSES} addresses, got {MAX_ADDRESSES + 1}"),
    ("mute", "x" * 10_000, "mute: "),
]


@pytest.mark.parametrize(("name", "value", "detail"), BAD_LISTS, ids=["short", "checksum", "too-many", "too-long"])
@pytest.mark.parametrize("path", ["/api/posts", "/api/posts/1", "/api/search?q=quokka", "/api/authors/0x" + "1" * 40])
def test_bad_trust_or_mute_lists_are_422_with_the_reason(world: World, path: str, name: str, value: str, detail: str):
    response = world.client.get(path, params={"lens": "trusted", name: value})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(detail)


def test_a_page_with_a_bad_list_is_a_422_page(world: World):
    response = world.client.get("/", params={"mute": "0x1234"})
    assert response.status_code == 422
    assert "mute: 0x1234 is not an address" in response.text


def test_the_settings_page_explains_each_lens_and_is_linked_from_the_header(world: World):
    html = world.client.get("/settings", headers={"cookie": "lens=trusted"}).text
    for name, sentence in EXPLAIN.items():
        assert f'value="{name}"' in html and str(escape(sentence)) in html
    assert 'value="trusted" checked' in html
    assert 'href="/settings"' in world.client.get("/").text
