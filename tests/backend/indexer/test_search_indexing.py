"""Derived columns keep in step with the posts: search after a reorganisation's rollback and late content; topics
(each post's, and the per-topic table: equal to GROUP BY topic after a rollback, late content, invalid content)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.indexer.content_sync import quarantine_cid
from backend.indexer.runner import Indexer
from backend.views.search_results import build_search
from tests.support.board import connect, deploy_board
from tests.support.index import make_settings, wait_indexed
from tests.support.topics import assert_topics_kept, old_topics
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
    kept_doc, orphan_doc, new_doc, sibling_doc = (encode_document(t, b, topic) for t, b, topic in [
        ("Kept", "walrus stays", "seals"), ("Orphan", "walrus narwhal goes", "whales"),
        ("Replacement", "walrus beluga arrives", "seals"), ("Sibling", "walrus orca goes too", "seals"),
    ])  # fmt: skip
    for data in (kept_doc, orphan_doc, new_doc, sibling_doc):
        pins.put(data)
    kept = board.post(sha256(kept_doc))
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    orphan = board.post(sha256(orphan_doc))
    sibling = board.post(sha256(sibling_doc))  # the newest post of "seals" until the reorg
    indexer = Indexer(settings)
    indexer.run(once=True)
    assert _search_ids(indexer.engine, "narwhal") == [orphan]
    seals, whales = assert_topics_kept(indexer.engine)
    assert (seals[0], seals[1], seals[3], whales[:2]) == ("seals", 2, sibling, ("whales", 1))
    assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    replacement = board.post(sha256(new_doc))  # takes the orphan's id on the new branch
    for _ in range(3):
        w3.provider.make_request("evm_mine", [])
    indexer.run(once=True)
    assert indexer.health.reorgs >= 1 and replacement == orphan
    assert _search_ids(indexer.engine, "narwhal") == []
    assert _search_ids(indexer.engine, "walrus") == [replacement, kept]
    assert _search_ids(indexer.engine, "beluga") == [replacement]
    # "whales" lost its only post, "seals" its newest (sibling) and gained the replacement
    assert [row[:2] + row[3:] for row in assert_topics_kept(indexer.engine)] == [("seals", 2, replacement)]


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


def test_the_topics_table_counts_a_root_when_its_content_arrives(make_client, board, settings, engine):
    client = make_client(settings)
    early = encode_document("Early", "pinned before the post", "late-topic")
    assert client.post("/api/content", content=early, headers=JSON).status_code == 201
    first = board.post(sha256(early))
    late = encode_document("Late root", "bytes after the post", "late-topic")
    root = board.post(sha256(late))
    again = board.post(sha256(late))  # the same bytes twice: two roots wait for one CID
    other = encode_document("Other", "another topic, late too", "other-topic")
    other_root = board.post(sha256(other))
    wait_indexed(client, board.w3)
    assert [row[:2] for row in assert_topics_kept(engine)] == [("late-topic", 1)]
    assert [t["posts"] for t in client.get("/api/topics").json()["topics"]] == [1]
    assert client.post("/api/content", content=late, headers=JSON).status_code == 201
    wait_for(lambda: client.get(f"/api/posts/{again}").json()["post"]["topic"] == "late-topic", timeout=5)
    assert [row[:2] + row[3:] for row in assert_topics_kept(engine)] == [("late-topic", 3, again)]
    assert client.post("/api/content", content=other, headers=JSON).status_code == 201
    wait_for(lambda: client.get(f"/api/posts/{other_root}").json()["post"]["topic"] == "other-topic", timeout=5)
    assert [row[:2] for row in assert_topics_kept(engine)] == [("late-topic", 3), ("other-topic", 1)]
    topics = client.get("/api/topics").json()["topics"]
    assert topics == [row | {"url": f"/api/posts?topic={row['topic']}"} for row in old_topics(engine)]
    assert {first, root, again} < set(range(1, other_root + 1))


def test_a_root_whose_late_bytes_are_invalid_counts_in_no_topic(make_client, board, settings, engine):
    client = make_client(settings)
    kept = encode_document("Kept", "in the topic", "tide")
    assert client.post("/api/content", content=kept, headers=JSON).status_code == 201
    board.post(sha256(kept))
    invalid = b'{"title": "T", "body": "b", "topic": "Not A Slug"}'  # hashes right, no valid document
    bad = board.post(sha256(invalid))
    wait_indexed(client, board.w3)
    PinStore(settings.content_dir).put(invalid)  # found by the queue's scan of the pin store
    wait_for(lambda: client.get(f"/api/posts/{bad}").json()["post"]["content_status"] == "invalid", timeout=10)
    assert [row[:2] for row in assert_topics_kept(engine)] == [("tide", 1)]


def test_a_quarantined_root_leaves_its_topic(make_client, board, settings, engine):
    client = make_client(settings)
    documents = [encode_document(f"Post {i}", "text", "tide") for i in range(3)]
    for data in documents:
        assert client.post("/api/content", content=data, headers=JSON).status_code == 201
    ids = [board.post(sha256(data)) for data in documents]
    wait_indexed(client, board.w3)
    assert [row[:2] + row[3:] for row in assert_topics_kept(engine)] == [("tide", 3, ids[2])]
    newest = client.get(f"/api/posts/{ids[2]}").json()["post"]["cid"]
    with engine.begin() as conn:  # what the content queue does to a CID whose write fails
        quarantine_cid(conn, newest, "a test's reason")
    assert [row[:2] + row[3:] for row in assert_topics_kept(engine)] == [("tide", 2, ids[1])]
    for cid in [client.get(f"/api/posts/{pid}").json()["post"]["cid"] for pid in ids[:2]]:
        with engine.begin() as conn:
            quarantine_cid(conn, cid, "a test's reason")
    assert assert_topics_kept(engine) == []
