"""Resolve posts whose content is missing: look locally, fetch remotely in the background, update posts.

Fetching (network) runs in worker threads and never blocks indexing; only the
indexer thread writes the results to the database. Failures are retried with
exponential backoff (1 s, 2 s, 4 s ... capped at MAX_BACKOFF).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from backend.content.document import InvalidDocument, parse_document
from backend.content.remote import FetchError
from backend.content.service import ContentService
from backend.db.models import ContentQueue, Post

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
LOCAL_SCAN_SECONDS = 2.0  # how often every queued CID is looked for in the pin store (uploads)


def content_fields(data: bytes | None, is_reply: bool) -> dict[str, Any]:
    """content_status, title and body of a post from its verified bytes (None: missing)."""
    if data is None:
        return {"content_status": "missing", "title": None, "body": None}
    try:
        document = parse_document(data, reply=is_reply)
    except InvalidDocument:
        return {"content_status": "invalid", "title": None, "body": None}
    return {"content_status": "pinned", "title": document.title, "body": document.body}


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failures."""
    return float(min(MAX_BACKOFF, 2 ** max(0, attempts - 1)))


class ContentSync:
    """The content retry queue's worker: owned and polled by the indexer thread."""

    def __init__(self, engine: Engine, service: ContentService, workers: int = 4) -> None:
        self.engine = engine
        self.service = service
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="content-fetch")
        self._client = httpx.Client(timeout=10.0, follow_redirects=True)
        self._inflight: dict[str, Future[bytes]] = {}
        self._hints: set[str] = set()
        self._hint_lock = threading.Lock()
        self._last_scan = time.time()  # new posts were just looked up: the first scan can wait

    def close(self) -> None:
        """Stop the workers (running fetches finish in the background)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def hint(self, cid: str) -> None:
        """Someone pinned ``cid`` here: resolve its posts at the next poll (thread-safe)."""
        with self._hint_lock:
            self._hints.add(cid)

    def lookup(self, cid: str, is_reply: bool) -> dict[str, Any]:
        """Content fields of a new post from the pin store only (never the network, rarely the disk)."""
        return content_fields(self.service.store.get_known(cid), is_reply)

    def poll(self) -> None:
        """Finish completed fetches, resolve locally available CIDs, start due fetches."""
        now = time.time()
        with self._hint_lock:
            hints, self._hints = self._hints, set()
        with self.engine.begin() as conn:
            for cid, future in list(self._inflight.items()):
                if future.done():
                    del self._inflight[cid]
                    self._finish(conn, cid, future)
            scan = now - self._last_scan >= LOCAL_SCAN_SECONDS
            query = select(ContentQueue.cid, ContentQueue.attempts, ContentQueue.next_attempt_at)
            if not scan:
                query = query.where(ContentQueue.next_attempt_at <= now)
            queued = conn.execute(query.order_by(ContentQueue.next_attempt_at).limit(5000)).all()
            if scan:
                self._last_scan = now
            hinted = (
                conn.execute(
                    select(ContentQueue.cid, ContentQueue.attempts, ContentQueue.next_attempt_at).where(
                        ContentQueue.cid.in_(sorted(hints))
                    )
                ).all()
                if hints
                else []
            )
            for cid, _attempts, due in [*hinted, *queued]:
                if cid in self._inflight:
                    continue
                look = scan or cid in hints or (due <= now and self.service.has_remote)
                data = self.service.store.get(cid) if look and self.service.store.has(cid) else None
                if data is not None:
                    resolve_cid(conn, cid, data)
                elif due <= now and self.service.has_remote:
                    self._inflight[cid] = self._executor.submit(self.service.fetch, cid, self._client)

    def _finish(self, conn: Connection, cid: str, future: Future[bytes]) -> None:
        try:
            data = future.result()
        except (FetchError, OSError, httpx.HTTPError) as exc:
            attempts = conn.execute(select(ContentQueue.attempts).where(ContentQueue.cid == cid)).scalar() or 0
            log.info("content %s not fetched (attempt %d): %s", cid, attempts + 1, exc)
            _retry_later(conn, cid, attempts, str(exc))
            return
        log.info("content %s fetched and pinned", cid)
        resolve_cid(conn, cid, data)


def _retry_later(conn: Connection, cid: str, attempts: int, error: str) -> None:
    conn.execute(
        update(ContentQueue)
        .where(ContentQueue.cid == cid)
        .values(attempts=attempts + 1, next_attempt_at=time.time() + backoff(attempts + 1), last_error=error[:1000])
    )


def resolve_cid(conn: Connection, cid: str, data: bytes) -> None:
    """Set content of every post with ``cid`` (each by its own kind) and drop it from the queue."""
    for post_id, parent_id in conn.execute(select(Post.id, Post.parent_id).where(Post.cid == cid)).all():
        conn.execute(update(Post).where(Post.id == post_id).values(**content_fields(data, parent_id is not None)))
    conn.execute(delete(ContentQueue).where(ContentQueue.cid == cid))
