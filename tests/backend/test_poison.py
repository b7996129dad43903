"""Hostile content documents on a real chain: quarantined as invalid with a reason, never blocking the index."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from backend.config import Settings
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.store import PinStore
from tests.backend.conftest import BoardHandle, wait_for

SURROGATE = b'{"title":"x\\ud800","body":"y"}'  # json.loads accepts the lone surrogate escape


def _post_json(client: TestClient, post_id: int) -> dict | None:
    response = client.get(f"/api/posts/{post_id}")
    return response.json()["post"] if response.status_code == 200 else None


def _listed(client: TestClient, post_id: int) -> bool:
    return any(p["id"] == post_id for p in client.get("/api/posts?sort=new&limit=100").json()["posts"])


def test_lone_surrogate_document_is_quarantined_and_indexing_continues(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    PinStore(settings.content_dir).put(SURROGATE)  # as if fetched from a peer: the upload refuses it
    before = board.post(sha256(encode_document("Before", "in the same range")))
    poisoned = board.post(sha256(SURROGATE))
    client = make_client(settings)
    wait_for(lambda: _listed(client, poisoned), timeout=10)
    after = board.post(sha256(encode_document("After", "posted once the poison is indexed")))
    posted = time.monotonic()
    wait_for(lambda: _listed(client, after), timeout=2)
    assert time.monotonic() - posted < 2
    assert _listed(client, before)
    post = _post_json(client, poisoned)
    assert (post["content_status"], post["title"], post["body"]) == ("invalid", None, None)
    status = client.get("/api/status").json()
    assert status["index"]["error"] is None
