"""Resolve posts whose content is missing: look locally, fetch remotely in the background, update posts.

Fetching (network) runs in worker threads and never blocks indexing; only the
indexer thread writes the results to the database. Failures are retried with
exponential backoff (1 s, 2 s, 4 s ... capped at MAX_BACKOFF). One bad CID never stops
the queue: the results of a poll are written in one transaction, and when that fails,
CID by CID, a CID whose own write fails leaving its posts invalid with the reason.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from backend.content.document import InvalidDocument, parse_document, scrub_text
from backend.content.remote import FETCH_SECONDS
from backend.content.service import ContentService
from backend.db.models import ContentQueue, Post
from backend.indexer import topics
from backend.indexer.map import check_storable, quarantine_reason

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
LOCAL_SCAN_SECONDS = 2.0  # how often every queued CID is looked for in the pin store (uploads)


def content_fields(data: bytes | None, is_reply: bool) -> dict[str, Any]:
    """content_status, title, body, topic and content_error of a post from its verified bytes (None: missing).

    ``topic`` is the document's own: None for a reply, whose topic is its root's (the caller copies it).
    """
    if data is None:
        return {"content_status": "missing", "title": None, "body": None, "topic": None, "content_error": None}
    try:
        document = parse_document(data, reply=is_reply)
    except InvalidDocument as exc:
        return invalid_fields(str(exc))
    fields = {"content_status": "pinned", "title": document.title, "body": document.body}
    return fields | {"topic": document.topic, "content_error": None}


def invalid_fields(reason: str) -> dict[str, Any]:
    """The content fields of a post quarantined as invalid for ``reason``."""
    reason = scrub_text(reason)[:500]
    return {"content_status": "invalid", "title": None, "body": None, "topic": None, "content_error": reason}


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failures."""
    return float(min(MAX_BACKOFF, 2 ** max(0, attempts - 1)))


class ContentSync:
    """The content retry queue's worker: owned and polled by the indexer thread."""

    def __init__(self, engine: Engine, service: ContentService, workers: int = 4) -> None:
        self.engine = engine
        self.service = service
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="content-fetch")
        # each fetch has its own total deadline (backend.content.remote); redirects are never followed (SSRF)
        self._client = httpx.Client(timeout=FETCH_SECONDS, follow_redirects=False)
        self._inflight: dict[str, Future[bytes]] = {}
        self._last_scan = time.time()  # new posts were just looked up: the first scan can wait

    def close(self) -> None:
        """Stop the workers (running fetches finish in the background)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def lookup(self, cid: str, is_reply: bool) -> dict[str, Any]:
        """Content fields of a new post from the pin store only (never the network, rarely the disk)."""
        try:
            data = self.service.store.get_known(cid)
        except OSError as exc:  # the disk, not the content: leave it missing, the queue looks again
            log.warning("pin store read of %s failed: %s", cid, exc)
            data = None
        return content_fields(data, is_reply)

    def poll(self) -> None:
        """Finish completed fetches, resolve locally available CIDs, start due fetches."""
        now = time.time()
        hints = self.service.take_new_pins()  # uploads since the last poll: looked for now, not at the next scan
        found: dict[str, bytes] = {}
        failed: dict[str, str] = {}
        for cid, future in list(self._inflight.items()):
            if future.done():
                del self._inflight[cid]
                try:
                    found[cid] = future.result()
                except Exception as exc:  # FetchError, the network, or a bug: this CID waits its turn again
                    failed[cid] = str(exc) or type(exc).__name__
                else:
                    log.info("content %s fetched and pinned", cid)
        scan = now - self._last_scan >= LOCAL_SCAN_SECONDS
        with self.engine.connect() as conn:
            query = select(ContentQueue.cid, ContentQueue.attempts, ContentQueue.next_attempt_at)
            if not scan:
                query = query.where(ContentQueue.next_attempt_at <= now)
            queued = conn.execute(query.order_by(ContentQueue.next_attempt_at).limit(5000)).all()
            hinted = (
                conn.execute(
                    select(ContentQueue.cid, ContentQueue.attempts, ContentQueue.next_attempt_at).where(
                        ContentQueue.cid.in_(sorted(hints))
                    )
                ).all()
                if hints
                else []
            )
        if scan:
            self._last_scan = now
        for cid, _attempts, due in [*hinted, *queued]:
            if cid in self._inflight or cid in found:
                continue
            look = scan or cid in hints or (due <= now and self.service.has_remote)
            data = self._local(cid) if look else None
            if data is not None:
                found[cid] = data
            elif due <= now and self.service.has_remote:
                self._inflight[cid] = self._executor.submit(self.service.fetch, cid, self._client)
        self._write(found, failed)

    def _local(self, cid: str) -> bytes | None:
        try:
            return self.service.store.get(cid) if self.service.store.has(cid) else None
        except OSError as exc:  # the disk, not the content: looked for again at the next scan
            log.warning("pin store read of %s failed: %s", cid, exc)
            return None

    def _write(self, found: dict[str, bytes], failed: dict[str, str]) -> None:
        """Store a poll's results in one transaction; when that fails, CID by CID, quarantining the bad ones."""
        if not found and not failed:
            return
        try:
            with self.engine.begin() as conn:
                for cid, data in found.items():
                    resolve_cid(conn, cid, data)
                for cid, error in failed.items():
                    _retry_later(conn, cid, error)
            return
        except OperationalError:
            raise  # the database is down or busy, not one CID: the indexer reports it and polls again
        except Exception:
            log.exception("writing %d resolved CIDs failed: writing them one at a time", len(found))
        for cid, data in found.items():
            try:
                with self.engine.begin() as conn:
                    resolve_cid(conn, cid, data)
            except OperationalError:
                raise
            except Exception as exc:  # this CID's write fails: its posts go invalid, the queue moves on
                log.exception("content %s could not be indexed: its posts are stored as invalid", cid)
                with self.engine.begin() as conn:
                    quarantine_cid(conn, cid, quarantine_reason(exc))
        with self.engine.begin() as conn:
            for cid, error in failed.items():
                _retry_later(conn, cid, error)


def _retry_later(conn: Connection, cid: str, error: str) -> None:
    attempts = conn.execute(select(ContentQueue.attempts).where(ContentQueue.cid == cid)).scalar() or 0
    log.info("content %s not fetched (attempt %d): %s", cid, attempts + 1, error)
    conn.execute(
        update(ContentQueue)
        .where(ContentQueue.cid == cid)
        .values(attempts=attempts + 1, next_attempt_at=time.time() + backoff(attempts + 1), last_error=error[:1000])
    )


def resolve_cid(conn: Connection, cid: str, data: bytes) -> None:
    """Set content of every post with ``cid`` (each by its own kind) and drop it from the queue.

    A post whose fields cannot be made (a bug: content_fields never raises on bad bytes) goes invalid with the reason.
    """
    added: list[topics.TopicPost] = []  # roots that had no topic and now have one: counted up
    rewritten: set[str | None] = set()  # topics a root leaves or joins from another: recounted
    rows = conn.execute(select(Post.id, Post.parent_id, Post.topic, Post.created_at).where(Post.cid == cid)).all()
    for post_id, parent_id, old_topic, created_at in rows:
        try:
            fields = content_fields(data, parent_id is not None)
            check_storable(fields)  # parse_document refuses such text; should it ever miss, quarantine here
        except Exception as exc:
            log.exception("post %s (content %s) could not be indexed: stored as invalid", post_id, cid)
            fields = invalid_fields(quarantine_reason(exc))
        if parent_id is not None:
            del fields["topic"]  # a reply keeps the topic its root gave it
        conn.execute(update(Post).where(Post.id == post_id).values(**fields))
        if parent_id is None:  # the thread's replies are in the root's topic, whenever its content arrives
            conn.execute(update(Post).where(Post.root_id == post_id, Post.depth > 0).values(topic=fields["topic"]))
            new_topic = fields["topic"]
            if old_topic is None and new_topic is not None:
                added.append((new_topic, post_id, created_at))
            elif old_topic != new_topic:
                rewritten.update((old_topic, new_topic))
    topics.add(conn, added)
    topics.recount(conn, rewritten)
    conn.execute(delete(ContentQueue).where(ContentQueue.cid == cid))


def quarantine_cid(conn: Connection, cid: str, reason: str) -> None:
    """Every post with ``cid`` invalid for ``reason``, and the CID out of the queue."""
    had = conn.execute(select(Post.topic).where(Post.cid == cid, Post.parent_id.is_(None)).distinct()).scalars()
    left = list(had)  # the topics its roots leave (invalid: no topic)
    conn.execute(update(Post).where(Post.cid == cid).values(**invalid_fields(reason)))
    topics.recount(conn, left)
    conn.execute(delete(ContentQueue).where(ContentQueue.cid == cid))
