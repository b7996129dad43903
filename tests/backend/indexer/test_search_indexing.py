"""Derived columns keep in step with the posts: search after a reorganisation's rollback and late content; topics."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.indexer.runner import Indexer
from backend.views.search_results import build_search
from tests.support.board import connect, deploy_board
from tests.support.index import make_settings, wait_indexed
from tests.support.wait import wait_for

JSON = {"Content-Type": "application/json"}


def _search_ids(engine, q: str) -> list[int]:
    with Session(engine) as session:
        return [r["id"] for r in build_search(session, q, "new")["results"]]


def test_search_forgets_posts_a_reorganisation_removed(fresh_ganache, data_dir, database_url):
    w3 = connect(fresh_ganache)
    board = deploy_board(w3, data_dir)
    settings = make_settings(data_dir, fresh_ganache.url, database_url)
    pins = PinStore(settings.content_dir)
    kept_doc, orphan_doc, new_doc = (encode_document(t, b) for t, b in [
        ("Kept", "walrus stays"), ("Orphan", "walrus narwhal goes"), ("Replacement", "walrus beluga arrives")
    ])  # fmt: skip
    for data in (kept_doc, orphan_doc, new_doc):
        pins.put(data)
    kept = board.post(sha256(kept_doc))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    orphan = board.post(sha256(orphan_doc))
    indexer = Indexer(settings)
    indexer.run(once=True)
    assert _search_ids(indexer.engine, "narwhal") == [orphan]
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    replacement = board.post(sha256(new_doc))  # takes the orphan's id on the new branch
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run(once=True)
    assert indexer.health.reorgs >= 1 and replacement == orphan
    assert _search_ids(indexer.engine, "narwhal") == []
    assert _search_ids(indexer.engine, "walrus") == [replacement, kept]
    assert _search_ids(indexer.engine, "beluga") == [replacement]


def test_content_that_arrives_later_becomes_searchable(make_client, board, settings):
    client = make_client(settings)
    document = encode_document("Late arrival", "an ocelot appears")
    post_id = board.post(sha256(document))
    wait_indexed(client, board.w3)
    assert client.get("/api/search", params={"q": "ocelot"}).json()["results"] == []
    assert client.post("/api/content", content=document, headers=JSON).status_code == 201
    wait_for(lambda: client.get("/api/search", params={"q": "ocelot"}).json()["results"], timeout=5)
    assert [r["id"] for r in client.get("/api/search", params={"q": "ocelot"}).json()["results"]] == [post_id]


def test_replies_take_the_topic_when_the_roots_content_arrives_later(make_client, board, settings):
    client = make_client(settings)
    root_doc = encode_document("Late root", "text", "late-topic")
    root = board.post(sha256(root_doc))
    reply_doc = encode_document(None, "an early reply")
    assert client.post("/api/content", content=reply_doc, headers=JSON).status_code == 201
    reply = board.post(sha256(reply_doc), root)
    wait_indexed(client, board.w3)
    assert client.get(f"/api/posts/{reply}").json()["post"]["topic"] is None
    assert client.post("/api/content", content=root_doc, headers=JSON).status_code == 201
    wait_for(lambda: client.get(f"/api/posts/{reply}").json()["post"]["topic"] == "late-topic", timeout=5)
    assert client.get(f"/api/posts/{root}").json()["post"]["topic"] == "late-topic"
