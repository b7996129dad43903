"""Unreferenced pins are garbage-collected after a grace period, by the indexer, only when it is caught up.

Real Ganache and a real index: pins old and fresh, referenced by indexed posts
or by a post the index has not reached yet.
"""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from backend.config import Settings
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.gc import PinCollector
from backend.content.kubo import KuboClient
from backend.content.pins import PinStore
from backend.indexer.runner import Indexer
from tests.support.board import BoardHandle
from tests.support.index import make_settings

HOUR = 3600.0


def _pin(store: PinStore, title: str, age: float) -> tuple[str, bytes]:
    data = encode_document(title, "body")
    cid, _ = store.put(data)
    when = time.time() - age
    os.utime(store.path_for(cid), (when, when))
    return cid, data


def _indexer(settings: Settings) -> Indexer:
    indexer = Indexer(make_settings(settings.data_dir, settings.rpc_url, settings.database_url, pin_grace=HOUR))
    indexer.pins.interval = 0  # every caught-up step may collect
    return indexer


def test_indexer_deletes_old_unreferenced_pins_and_keeps_the_rest(settings: Settings, board: BoardHandle):
    store = PinStore(settings.content_dir)
    old_unreferenced, _ = _pin(store, "old, never posted", 2 * HOUR)
    old_referenced, referenced_data = _pin(store, "old, posted", 2 * HOUR)
    fresh_unreferenced, _ = _pin(store, "fresh, not posted yet", 60)
    board.post(sha256(referenced_data))
    indexer = _indexer(settings)
    try:
        indexer.run(once=True)
    finally:
        indexer.close()
    assert not store.has(old_unreferenced)
    assert store.has(old_referenced) and store.has(fresh_unreferenced)
    assert indexer.pins.deleted == 1


def test_pin_of_a_post_the_index_has_not_reached_stays(settings: Settings, board: BoardHandle):
    store = PinStore(settings.content_dir)
    indexer = _indexer(settings)
    try:
        indexer.run(once=True)  # caught up, nothing to collect yet
        late, late_data = _pin(store, "old, posted after the last step", 2 * HOUR)
        board.post(sha256(late_data))  # on chain, not in the index: the index lags by this block
        assert indexer.pins.maybe_collect(indexer._still_caught_up) == 0
        assert store.has(late)
        indexer.run(once=True)  # indexes the post, then collects: the pin is referenced now
        assert store.has(late)
    finally:
        indexer.close()


def test_gc_without_a_caught_up_index_deletes_nothing(settings: Settings, board: BoardHandle):
    store = PinStore(settings.content_dir)
    orphan, _ = _pin(store, "old orphan", 2 * HOUR)
    collector = PinCollector(store, None, HOUR, interval=0)  # type: ignore[arg-type]  # never reaches the index
    assert collector.maybe_collect(lambda: False) == 0
    assert store.has(orphan)


def test_uploading_again_restarts_the_grace_period(tmp_path: Path):
    store = PinStore(tmp_path)
    cid, data = _pin(store, "uploaded twice", 2 * HOUR)
    assert store.put(data) == (cid, False)
    assert store.path_for(cid).stat().st_mtime > time.time() - 60
    assert not store.remove_if_older(cid, time.time() - HOUR)
    assert store.has(cid)


def test_each_run_examines_a_bounded_slice_and_resumes(settings: Settings, board: BoardHandle):
    store = PinStore(settings.content_dir)
    orphans = [_pin(store, f"orphan {i}", 2 * HOUR)[0] for i in range(30)]
    indexer = _indexer(settings)
    indexer.pins.batch = 5
    try:
        indexer.run(once=True)
        first = indexer.pins.deleted
        assert 5 <= first < 30  # whole fan-out directories up to the batch, not the whole store
        for _ in range(30):
            if not any(store.has(cid) for cid in orphans):
                break
            indexer.pins.collect()
    finally:
        indexer.close()
    assert not any(store.has(cid) for cid in orphans)


def test_deleted_pins_are_unpinned_in_kubo_too(settings: Settings, board: BoardHandle):
    calls: list[str] = []

    class Kubo(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            calls.append(self.path)
            body = b'{"Pins":[]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Kubo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = PinStore(settings.content_dir)
        orphan, _ = _pin(store, "old orphan pinned in Kubo", 2 * HOUR)
        kubo = KuboClient(f"http://127.0.0.1:{server.server_address[1]}")
        indexer = _indexer(settings)
        indexer.pins.kubo = kubo
        try:
            indexer.run(once=True)
        finally:
            indexer.close()
    finally:
        server.shutdown()
        server.server_close()
    assert not store.has(orphan)
    assert calls == [f"/api/v0/pin/rm?arg={orphan}"]
