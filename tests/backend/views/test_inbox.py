"""The inbox on a real chain: /api/authors/{a}/replies, its Atom feed and the /inbox page, on both engines."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.api.schemas import RepliesOut
from backend.app import create_app
from backend.content.pins import PinStore
from tests.support.index import DATABASES, World, make_settings, module_index, wait_indexed

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Account 0's post with replies from others and from itself, a nested reply, and a folded reply."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "inbox")
    pins = PinStore(data_dir / "content")
    accounts = list(w3.eth.accounts)

    def post(title: str | None, body: str, parent: int = 0, sender: int = 0) -> int:
        return board.post_document(pins, title, body, parent, accounts[sender])

    ids = {"mine": post("My question", "Anyone?")}
    ids["answer"] = post(None, "An answer <b>here</b>", ids["mine"], 1)
    ids["self"] = post(None, "Replying to myself", ids["mine"], 0)
    ids["my_reply"] = post(None, "Thanks!", ids["answer"], 0)
    ids["nested"] = post(None, "You're welcome", ids["my_reply"], 1)
    for voter in range(3, 5):  # active before "rude", so the default lens counts their downvotes on it
        board.vote(ids["mine"], 1, accounts[voter])
    ids["rude"] = post(None, "Rude reply", ids["mine"], 2)
    ids["elsewhere"] = post("Another thread", "Not mine", sender=3)
    ids["not_to_me"] = post(None, "Reply elsewhere", ids["elsewhere"], 1)
    for voter in range(3, 5):
        board.vote(ids["rude"], -1, accounts[voter])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url, collapse_score=-1)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, accounts, ids)


def replies(world: World, address: str, **params: str | int) -> dict:
    response = world.client.get(f"/api/authors/{address}/replies", params=params)
    assert response.status_code == 200, response.text
    return RepliesOut.model_validate(response.json()).model_dump()


def test_replies_by_others_to_an_authors_posts_and_replies_come_newest_first(world: World):
    body = replies(world, world.accounts[0])
    assert [r["id"] for r in body["replies"]] == [world.ids["rude"], world.ids["nested"], world.ids["answer"]]
    assert body["replies"][1]["parent_url"] == f"/api/posts/{world.ids['my_reply']}"
    assert body["next_cursor"] is None


def test_a_folded_reply_is_listed_and_marked_collapsed(world: World):
    first = replies(world, world.accounts[0])["replies"][0]
    assert first["id"] == world.ids["rude"] and first["collapsed"] is True


def test_any_spelling_of_the_address_reads_the_same_inbox(world: World):
    assert replies(world, world.accounts[0].lower()) == replies(world, world.accounts[0])


def test_cursor_pages_walk_the_inbox_once(world: World):
    first = replies(world, world.accounts[0], limit=2)
    second = replies(world, world.accounts[0], limit=2, cursor=first["next_cursor"])
    ids = [r["id"] for r in first["replies"] + second["replies"]]
    assert ids == [world.ids["rude"], world.ids["nested"], world.ids["answer"]] and second["next_cursor"] is None


def test_an_address_with_no_replies_has_an_empty_inbox(world: World):
    assert replies(world, "0x" + "12" * 20)["replies"] == []


@pytest.mark.parametrize(
    ("address", "params", "detail"),
    [
        ("0x1234", {}, "address: expected 0x followed by 40 hex digits"),
        ("0xAbCdef0000000000000000000000000000000000", {}, "address: mixed-case address fails its EIP-55 checksum"),
        ("0x" + "12" * 20, {"cursor": "nope"}, "cursor: malformed"),
    ],
)
def test_bad_addresses_and_cursors_are_refused_with_a_reason(world: World, address: str, params: dict, detail: str):
    response = world.client.get(f"/api/authors/{address}/replies", params=params)
    assert response.status_code == 422 and response.json()["detail"].startswith(detail)


def test_the_inbox_is_an_atom_feed(world: World):
    response = world.client.get(f"/feeds/authors/{world.accounts[0]}/replies.atom")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/atom+xml")
    entries = ET.fromstring(response.content).findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}id").text.rsplit("/", 1)[1] for e in entries] == [
        str(world.ids[name]) for name in ("rude", "nested", "answer")
    ]
    assert entries[2].find(f"{ATOM}content").text == "An answer <b>here</b>"


def test_the_inbox_page_lists_the_replies_escaped_with_its_json_twin_and_feed(world: World):
    html = world.client.get("/inbox", params={"address": world.accounts[0].lower()}).text
    assert f'id="post-{world.ids["answer"]}"' in html and "An answer &lt;b&gt;here&lt;/b&gt;" in html
    assert f'href="/api/authors/{world.accounts[0]}/replies"' in html
    assert f'href="/feeds/authors/{world.accounts[0]}/replies.atom"' in html
    assert f'data-inbox-newest="{world.ids["rude"]}"' in html


def test_the_inbox_page_without_an_address_asks_for_one_and_refuses_a_bad_one(world: World):
    assert "data-inbox-find" in world.client.get("/inbox").text
    response = world.client.get("/inbox", params={"address": "nope"})
    assert response.status_code == 422 and "address: expected 0x followed by 40 hex digits" in response.text
