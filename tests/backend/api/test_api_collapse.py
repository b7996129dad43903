"""Done-when for issue 5: a post downvoted to the threshold by several accounts reads collapsed: true,
sinks below the others, and is still listed everywhere and served at its permalink. The voters are fresh test
accounts, so these read through the "all votes" lens (the default lens is tested in test_lens.py)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from backend.content.cid import sha256
from backend.db.stats import index_summary
from tests.support.board import BoardHandle
from tests.support.wait import wait_for


def _indexed(client: TestClient, board: BoardHandle) -> None:
    engine = client.app.state.indelible.engine
    head = board.w3.eth.block_number
    wait_for(lambda: (index_summary(engine)["indexed_block"] or -1) >= head, timeout=30)


def test_downvoted_post_collapses_but_stays_reachable(client: TestClient, board: BoardHandle):
    accounts = board.w3.eth.accounts
    buried = board.post(sha256(b"buried"), sender=accounts[2])
    others = [board.post(sha256(f"other {i}".encode())) for i in range(3)]
    reply = board.post(sha256(b"a reply"), buried)
    threshold = client.app.state.indelible.settings.collapse_score
    for voter in accounts[1 : 1 - threshold]:
        board.vote(buried, -1, voter)
    _indexed(client, board)

    listed = client.get("/api/posts?sort=new&lens=all").json()["posts"]
    post = next(p for p in listed if p["id"] == buried)
    assert post["score"] == threshold == -5
    assert post["collapsed"] is True
    for sort in ("hot", "top", "controversial"):
        ranked = [p["id"] for p in client.get(f"/api/posts?sort={sort}&lens=all").json()["posts"]]
        assert ranked[-1] == buried, sort
        assert sorted(ranked) == sorted([buried, *others])

    thread = client.get(f"/api/posts/{buried}?lens=all").json()["post"]
    assert thread["collapsed"] is True
    assert [r["id"] for r in thread["replies"]] == [reply]

    own_page = client.get(f"/api/authors/{accounts[2]}").json()["posts"]
    assert [(p["id"], p["collapsed"]) for p in own_page] == [(buried, False)]


def test_post_one_vote_above_threshold_is_not_collapsed(client: TestClient, board: BoardHandle):
    accounts = board.w3.eth.accounts
    post_id = board.post(sha256(b"nearly"))
    for voter in accounts[1:5]:
        board.vote(post_id, -1, voter)
    _indexed(client, board)
    post = client.get(f"/api/posts/{post_id}?lens=all").json()["post"]
    assert (post["score"], post["collapsed"]) == (-4, False)
