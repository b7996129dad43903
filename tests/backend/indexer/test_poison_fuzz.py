"""Property: no byte string breaks any stage, from upload through the chain and the indexer to API, pages and feeds.

Hypothesis draws arbitrary bytes and hostile JSON-ish documents (lone surrogates
through ``\\uXXXX`` escapes and raw, controls, huge integers, deep nesting,
BOMs, duplicate and unknown keys). Each one is uploaded (accepted or a 4xx,
never a 5xx), pinned (written to the pin store directly when the upload refuses
it, as a peer would hand it over), and posted on a real Ganache; the app's own
indexer writes it to SQLite and PostgreSQL. After each batch a canary post must
show within 2 s, and every drawn post must read back through ``/api/posts``,
``/api/posts/{id}``, ``/``, ``/posts/{id}`` and the Atom feeds (strictly parsed)
as pinned with its text or invalid with the rule's reason. Drawn replies come from a second account, so they
also reach the parent's author's inbox (``/api/authors/{a}/replies``, ``/inbox``, its Atom feed) and the
replier's author page.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from web3 import Web3

from backend.app import create_app
from backend.content.cid import sha256
from backend.content.document import DocumentTooLarge, InvalidDocument, encode_document, parse_document, scrub_text
from backend.content.pins import PinStore
from backend.indexer.content_sync import invalid_fields
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, make_settings, module_index, wait_indexed
from tests.support.wait import wait_for

ATOM = "{http://www.w3.org/2005/Atom}"
JSON = {"Content-Type": "application/json"}
BATCHES = 2
EXAMPLES_PER_BATCH = 40


@dataclass
class FuzzWorld:
    """The module's Board, its pin store, and the app (indexer running) on one database engine."""

    client: TestClient
    board: BoardHandle
    pins: PinStore
    parent: int  # a valid top-level post that drawn replies answer
    author: str  # the parent's author (and of the drawn top-level posts): the drawn replies are in its inbox
    replier: str  # the drawn replies' author


@pytest.fixture(scope="module", params=DATABASES)
def fuzz_world(
    request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzWorld]:
    """A fresh Board and an empty index of this engine, served by the app with its indexer."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "poison-fuzz")
    parent_document = encode_document("Parent", "drawn replies answer this post")
    with TestClient(create_app(make_settings(data_dir, w3.provider.endpoint_uri, url))) as client:
        # the app's own pin store: what it pins is known to its indexer at once (no 2 s scan to wait for)
        pins: PinStore = client.app.state.indelible.content.store
        pins.put(parent_document)
        parent = board.post(sha256(parent_document))
        wait_indexed(client, w3)
        yield FuzzWorld(client, board, pins, parent, board.sender(0), board.sender(1))


# -- strategies ---------------------------------------------------------------------------------------------------

_ESCAPES = st.one_of(
    st.integers(0, 0xFFFF).map(lambda code: f"\\u{code:04x}"),  # lone surrogates, NUL, noncharacters ...
    st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\uffff", "\\ufeff", '\\"', "\\\\", "\\n"]),
)
_RAW_CHARACTERS = st.characters(blacklist_categories=[])  # surrogates too: encoded with surrogatepass below
_PLAIN_CHARACTERS = st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters='"\\')
_STRING = st.lists(st.one_of(_PLAIN_CHARACTERS, _PLAIN_CHARACTERS, _ESCAPES, _RAW_CHARACTERS), max_size=12).map(
    lambda parts: '"' + "".join(parts) + '"'
)
_SCALAR = st.one_of(
    _STRING,
    st.integers(4000, 6000).map(lambda digits: "9" * digits),  # over Python's int() digit limit
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "true", "null", "0", "-0.5"]),
)
_VALUE = st.one_of(
    _SCALAR,
    st.integers(1, 20_000).map(lambda depth: "[" * depth + "]" * depth),  # deep nesting
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.lists(_SCALAR, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
)
_KEY = st.one_of(st.sampled_from(['"title"', '"body"', '"x"', '""', '"\\ud800"', '"t\\u0069tle"']), _STRING)
_MEMBERS = st.lists(st.tuples(_KEY, _VALUE), max_size=4).map(lambda pairs: ",".join(f"{k}:{v}" for k, v in pairs))
_JSONISH = st.builds(
    lambda bom, members, tail: (bom + "{" + members + "}" + tail).encode("utf-8", "surrogatepass"),
    st.sampled_from(["", "", "", "\ufeff", " \n"]),
    _MEMBERS,
    st.sampled_from(["", "", "", " ", "x", "}", "{}"]),
)
_VALID_WITH_HOSTILE_TEXT = st.builds(
    encode_document,
    st.text(_RAW_CHARACTERS.filter(lambda c: not 0xD800 <= ord(c) <= 0xDFFF), min_size=1, max_size=20),
    st.text(max_size=40),
)
# the shape of a real document, with hostile text (or a hostile title value): reaches the checks past JSON
_SHAPED = st.one_of(
    st.builds(lambda title, body: f'{{"title":{title},"body":{body}}}', st.one_of(_STRING, _VALUE), _STRING),
    _STRING.map(lambda body: f'{{"body":{body}}}'),
).map(lambda text: text.encode("utf-8", "surrogatepass"))
DOCUMENTS = st.one_of(st.binary(max_size=300), _JSONISH, _SHAPED, _SHAPED, _VALID_WITH_HOSTILE_TEXT)


# -- the property --------------------------------------------------------------------------------------------------


def _expected(data: bytes, reply: bool) -> dict[str, object]:
    """What the index must say of ``data`` as a post of this kind (the rule of docs/content.md)."""
    try:
        document = parse_document(data, reply=reply)
    except InvalidDocument as exc:
        return invalid_fields(str(exc))
    return {"content_status": "pinned", "title": document.title, "body": document.body, "content_error": None}


def _upload_pin_and_post(world: FuzzWorld, data: bytes, reply: bool) -> int:
    """Upload ``data`` (never a 5xx), pin it behind the upload's back when refused, post its digest on chain."""
    response = world.client.post(f"/api/content?reply={str(reply).lower()}", content=data, headers=JSON)
    assert response.status_code < 500, (data, response.text)
    try:
        parse_document(data, reply=reply)
    except DocumentTooLarge:
        assert response.status_code == 413
    except InvalidDocument as exc:
        assert (response.status_code, response.json()["detail"]) == (422, str(exc))
    else:
        assert response.status_code in (200, 201), (data, response.text)
    if response.status_code >= 400:
        world.pins.put(data)
    if reply:
        return world.board.post(sha256(data), world.parent, sender=world.replier)
    return world.board.post(sha256(data))


def _canary_shows_within_two_seconds(world: FuzzWorld, batch: int) -> None:
    document = encode_document(f"Canary {batch}", "the index kept advancing")
    world.pins.put(document)
    canary = world.board.post(sha256(document))
    posted = time.monotonic()
    wait_for(lambda: world.client.get(f"/api/posts/{canary}").status_code == 200, timeout=2)
    assert time.monotonic() - posted < 2


def _strict_xml(world: FuzzWorld, path: str) -> ET.Element:
    response = world.client.get(path)
    assert response.status_code == 200, path
    return ET.fromstring(response.content)  # a character illegal in XML 1.0 fails this parse


def _check_served(world: FuzzWorld, drawn: list[tuple[int, bytes, bool]]) -> None:
    listed = {p["id"]: p for p in world.client.get("/api/posts?sort=new&limit=100").json()["posts"]}
    inbox = world.client.get(f"/api/authors/{world.author}/replies?limit=100").json()["replies"]
    inbox_ids = [reply["id"] for reply in inbox]
    for page in (
        "/",
        "/new",
        f"/inbox?address={world.author}",
        f"/authors/{world.author}",
        f"/authors/{world.replier}",
    ):
        assert world.client.get(page).status_code == 200, page
    feed = _strict_xml(world, "/feeds/posts.atom")
    assert feed.findall(f"{ATOM}entry")
    for path in (f"/feeds/authors/{world.author}/replies.atom", f"/feeds/authors/{world.replier}.atom"):
        _strict_xml(world, path)
    for post_id, data, reply in drawn:
        expected = _expected(data, reply)
        response = world.client.get(f"/api/posts/{post_id}")
        assert response.status_code == 200, (post_id, data)
        post = response.json()["post"]
        fields = {name: post[name] for name in expected}
        assert fields == expected, data
        if not reply:
            assert {name: listed[post_id][name] for name in expected} == expected
        else:  # in the parent's author's inbox, newest first, with the same fields
            assert post_id in inbox_ids, (post_id, data)
            assert {name: inbox[inbox_ids.index(post_id)][name] for name in expected} == expected
        assert world.client.get(f"/posts/{post_id}").status_code == 200, data
        _strict_xml(world, f"/feeds/posts/{post_id}.atom")
    _strict_xml(world, f"/feeds/posts/{world.parent}.atom")
    index = world.client.get("/api/status").json()["index"]
    assert (index["error"], index["content"]["missing"]) == (None, 0)


def _draw_batch(world: FuzzWorld) -> list[tuple[int, bytes, bool]]:
    """One hypothesis run: each drawn document uploaded, pinned and posted (one block each)."""
    drawn: list[tuple[int, bytes, bool]] = []

    @settings(max_examples=EXAMPLES_PER_BATCH, deadline=None, database=None)
    @given(data=DOCUMENTS, reply=st.booleans())
    def upload_pin_and_post(data: bytes, reply: bool) -> None:
        drawn.append((_upload_pin_and_post(world, data, reply), data, reply))

    upload_pin_and_post()
    return drawn


@settings(max_examples=2000, deadline=None, database=None)
@given(
    data=st.one_of(st.binary(max_size=70_000), st.binary(max_size=200), DOCUMENTS),
    reply=st.sampled_from([None, True, False]),
)
def test_parse_document_raises_only_invalid_document_whatever_the_bytes(data: bytes, reply: bool | None):
    try:
        document = parse_document(data, reply=reply)
    except InvalidDocument as exc:
        assert str(exc) and scrub_text(str(exc)) == str(exc)  # a reason, and one safe to store and show
    else:
        for text in (document.title or "", document.body):
            assert scrub_text(text) == text
            text.encode("utf-8")


def test_no_byte_string_breaks_upload_indexing_api_pages_or_feeds(fuzz_world: FuzzWorld):
    for batch in range(BATCHES):
        drawn = _draw_batch(fuzz_world)
        _canary_shows_within_two_seconds(fuzz_world, batch)
        _check_served(fuzz_world, drawn)
