"""The indexing engine's loop: check which chain we are on, find reorgs, fetch -> decode -> map -> store.

One step indexes one block range and moves the checkpoint in the same database
transaction, so a killed indexer resumes exactly where its last commit left off.
The next range is fetched and decoded on a second connection while the current one is
stored. Board's own handling (which events, what rows) is in ``decode``, ``map`` and ``store``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from backend import chain
from backend.config import Settings, redact_url
from backend.content.gc import PinCollector
from backend.content.service import ContentService
from backend.db.session import ensure_schema, make_engine
from backend.db.write import get_meta, set_meta
from backend.deployments.records import Deployment, DeploymentError
from backend.deployments.resolve import find_deployment
from backend.indexer import checkpoint, store
from backend.indexer.content_sync import ContentSync
from backend.indexer.decode import TOPICS, Event, PostCreated, decode_logs
from backend.indexer.fetch import (
    RangeBatch,
    RangeChanged,
    RangeSizer,
    check_same_chain,
    fetch_headers,
    fetch_logs,
)
from backend.indexer.finality import Finality
from backend.indexer.progress import Progress
from backend.indexer.publish import IndexerHealth, StatusPublisher
from backend.indexer.rpc import Rpc, RpcError

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
DEPLOYMENT_RECHECK_SECONDS = 5.0
CONTENT_POLL_SECONDS = 2.0
IDENTITY_KEYS = ("chain_id", "genesis_hash", "contract_address", "deployment_block", "deployment_block_hash")


_heap_frozen = threading.Event()  # once per process: see _freeze_startup_heap


def _freeze_startup_heap() -> None:
    """Move every object alive at the first indexer's start out of the garbage collector's generations.

    A range's logs, events and rows outlive the young generations, so a backfill sets off full collections,
    and each rescanned the whole startup heap (modules, web3 and the ABI, SQLAlchemy's tables): 0.2-0.45 s of
    the 1.1-1.3 CPU seconds of bench/index.py's backfill, all of it holding the GIL (docs/benchmarks.md,
    "Indexer"). Garbage is collected first, so only live objects are frozen; reference counting still frees
    them. Once per process, like ``backend.app.freeze_startup_heap`` for a serving process.
    """
    if not _heap_frozen.is_set():
        _heap_frozen.set()
        gc.collect()
        gc.freeze()


def wipe(conn: Connection) -> None:
    """Empty the index, keeping only the schema version (the chain identity is set again by the caller)."""
    store.wipe(conn)
    checkpoint.wipe(conn)


class Indexer:
    """Follows one node and one Board deployment into one database."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        content: ContentService | None = None,
        max_span: int = 5000,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.effective_database_url)
        ensure_schema(self.engine)
        self.content = ContentSync(self.engine, content or ContentService.from_settings(settings))
        service = self.content.service
        self.pins = PinCollector(service.store, self.engine, settings.pin_grace, kubo=service.kubo)
        self.rpc = Rpc(settings.rpc_url, log_topics=TOPICS)
        self.w3 = chain.connect(settings)
        # the span it learns (and the provider's limits under it) are kept for the process
        self.sizer = RangeSizer(span=min(10, max_span), max_span=max_span, limits=self.rpc.limits)
        self.finality = Finality(settings.finality, settings.confirmations)
        # the next range is read (fetched and decoded) by this thread while the current one is stored
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer-prefetch")
        self._reader_rpc = Rpc(settings.rpc_url, log_topics=TOPICS)
        self._prefetch: tuple[int, str, Future[RangeBatch | None]] | None = None
        self.progress = progress or Progress()
        self.health = IndexerHealth(finality=self.finality.in_force)
        # what /api/status shows, published in the index's meta
        self.status = StatusPublisher(self.engine, self.rpc, settings.rpc_url)
        self.deployment: Deployment | None = None
        self._genesis: str | None = None
        self._checked_at = 0.0
        self._genesis_checked_at = 0.0
        _freeze_startup_heap()

    # -- loop -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, once: bool = False) -> None:
        """Index until ``stop`` is set (or, with ``once``, until caught up with the head)."""
        stop = stop or threading.Event()
        self.health.running = True
        last_poll = 0.0
        try:
            while not stop.is_set():
                try:
                    caught_up = self.step()
                    if caught_up or time.monotonic() - last_poll >= CONTENT_POLL_SECONDS:
                        last_poll = time.monotonic()  # during a backfill, content waits its turn
                        self.content.poll()
                    if caught_up:
                        self.pins.maybe_collect(self._still_caught_up)
                    self.health.error = self.status.error = None
                except (RpcError, DeploymentError, OSError) as exc:
                    self._fail(str(exc))
                    self.status.failed(exc)
                    self._publish()
                    if isinstance(exc, RpcError):
                        last_poll = self._poll_content(last_poll)
                    if once and isinstance(exc, DeploymentError):
                        break  # nothing to index: a one-shot run reports it instead of waiting
                    caught_up = False
                    stop.wait(POLL_SECONDS * 2)
                except Exception as exc:  # never let one bad step kill the loop
                    log.exception("indexer step failed")
                    self._fail(f"{type(exc).__name__}: {exc}")
                    self.status.failed(exc)
                    self._publish()
                    caught_up = False
                    stop.wait(POLL_SECONDS * 2)
                self._publish()
                if once and caught_up:
                    break
                if caught_up:
                    stop.wait(POLL_SECONDS)
        finally:
            self.health.running = False
            self._publish()

    def _publish(self) -> None:
        self.status.maybe_publish(self.health, self.deployment)

    def _poll_content(self, last_poll: float) -> float:
        """Content comes from the pin store and gateways, not the node: a throttled node does not hold it back."""
        if time.monotonic() - last_poll < CONTENT_POLL_SECONDS:
            return last_poll
        try:
            self.content.poll()
        except Exception:  # the step's own error is the one reported
            log.exception("content poll failed while the node did not answer")
        return time.monotonic()

    def _still_caught_up(self) -> bool:
        """Asked right before pins are collected: the index holds every block the finality rule lets it."""
        indexed = self.health.indexed_block
        return indexed is not None and self.finality.target(self.rpc, self.rpc.block_number()) <= indexed

    def close(self) -> None:
        """Release the node connection and the content workers."""
        self._discard_prefetch()
        self._reader.shutdown(wait=True)
        self.content.close()
        self.rpc.close()
        self._reader_rpc.close()

    def _fail(self, message: str) -> None:
        message = redact_url(message, self.settings.rpc_url)  # the error is shown in /api/status
        if message != self.health.error:
            log.warning("indexer: %s", message)
        self.health.error = message
        self.health.updated_at = time.time()

    def step(self) -> bool:
        """Index one range (or handle one reorg); True when the index has reached the target block."""
        deployment = self._check_chain()
        known_head, indexed = self.health.head_block, self.health.indexed_block
        # mid-backfill the head we know is far enough ahead; ask again once we reach it
        known_target = self.health.target_block
        if (
            self.health.caught_up
            or known_head is None
            or known_target is None
            or indexed is None
            or indexed >= known_target
        ):
            head = self.rpc.block_number()
            target = self.finality.target(self.rpc, head)
            asked = True
        else:
            head, target = known_head, known_target
            asked = False  # reaching this target is caught up only once the node confirms it is still the head
        with self.engine.connect() as conn:
            tip, tip_hash = checkpoint.read(conn)
        self.health.head_block, self.health.indexed_block, self.health.target_block = head, tip, target
        self.health.finality = self.finality.in_force
        self.health.updated_at = time.time()
        if tip >= target:
            if tip_hash and tip >= deployment.block_number:
                header = self.rpc.block(tip)
                if header is None or header["hash"] != tip_hash:
                    self._handle_reorg(tip)
                    return False
            self.health.caught_up = True  # at the target, or above it when the rule moved it back (finality)
            self.progress.end(tip)
            return True
        self.health.caught_up = False
        self.progress.begin(tip, target)
        try:
            batch = self._next_range(tip + 1, target, tip_hash)
        except RangeChanged as exc:
            log.info("%s", exc)
            self.health.head_block = None  # the chain moved: ask for the head again
            return False
        if batch is None:
            self._handle_reorg(tip)
            return False
        if batch.end < target:
            future = self._reader.submit(self._read_range, batch.end + 1, target, batch.end_hash, self._reader_rpc)
            self._prefetch = (batch.end + 1, batch.end_hash, future)
        with self.engine.begin() as conn:
            quarantined = store.store_range(conn, batch, self.content.lookup)
            checkpoint.advance(conn, batch.headers, batch.end, batch.end_hash)
        self.health.quarantined += quarantined
        self.health.indexed_block = batch.end
        self.health.caught_up = batch.end >= target and asked
        self.progress.advance(batch.end, len(batch.events))
        return self.health.caught_up

    # -- chain identity ---------------------------------------------------------------------------

    def _check_chain(self) -> Deployment:
        """Make sure the index is of the node's chain and newest deployment (returned); wipe and rebuild when not."""
        now = time.monotonic()
        if self.deployment is not None and now - self._genesis_checked_at < POLL_SECONDS:
            return self.deployment  # mid-backfill: a replaced chain also breaks the parent-hash links we check
        genesis = self.rpc.block(0)
        genesis_hash = genesis["hash"] if genesis else ""
        self._genesis_checked_at = now
        fresh = now - self._checked_at < DEPLOYMENT_RECHECK_SECONDS
        if self.deployment is not None and genesis_hash == self._genesis and fresh:
            return self.deployment
        try:
            deployment = find_deployment(self.w3, self.settings)
        except DeploymentError:
            self.health.current, self.deployment = False, None
            raise
        self._genesis, self._checked_at = genesis_hash, time.monotonic()
        identity = {
            "chain_id": str(deployment.chain_id),
            "genesis_hash": genesis_hash,
            "contract_address": deployment.address,
            "deployment_block": str(deployment.block_number),
            "deployment_block_hash": deployment.block_hash,
        }
        with self.engine.begin() as conn:
            meta = get_meta(conn)
            known = {key: meta[key] for key in IDENTITY_KEYS if key in meta}
            if known and known != identity:
                log.warning(
                    "the index was built for chain %s (genesis %s), Board %s from block %s; the node now has "
                    "chain %s (genesis %s), Board %s from block %s: wiping the index and rebuilding it",
                    known.get("chain_id"), known.get("genesis_hash"), known.get("contract_address"),
                    known.get("deployment_block"), identity["chain_id"], identity["genesis_hash"],
                    identity["contract_address"], identity["deployment_block"],
                )  # fmt: skip
                wipe(conn)
                self.health.rebuilds += 1
                meta = {}
            if known != identity:
                for key, value in identity.items():
                    set_meta(conn, key, value)
            if "indexed_block" not in meta:
                checkpoint.set_checkpoint(conn, deployment.block_number - 1, "")
        self.deployment = deployment
        self.health.current = True
        return deployment

    # -- fetch -> decode (read ahead) ----------------------------------------------------------------

    def _next_range(self, start: int, target: int, parent_hash: str) -> RangeBatch | None:
        """The range read ahead for this very checkpoint, else one read now."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            prefetched_start, prefetched_parent, future = prefetch
            if (prefetched_start, prefetched_parent) == (start, parent_hash):
                batch = future.result()
                if batch is None or batch.end <= target:
                    return batch
            else:
                future.cancel()
        return self._read_range(start, target, parent_hash, self.rpc)

    def _discard_prefetch(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None and not prefetch[2].cancel():
            try:
                prefetch[2].result()
            except Exception:  # a read nobody waits for any more
                log.debug("discarded read-ahead failed", exc_info=True)

    def _read_range(self, start: int, target: int, parent_hash: str, rpc: Rpc) -> RangeBatch | None:
        """Fetch and decode the next range; None when ``start`` no longer follows our tip."""
        assert self.deployment is not None
        raw = fetch_logs(rpc, self.deployment.address, start, target, parent_hash, self.sizer)
        if raw is None:
            return None
        events = self._decode(raw.logs)
        # a post's row holds its block's time: only blocks with posts need their header
        stamped = {e.at.block_number for e in events if isinstance(e, PostCreated)}
        headers = fetch_headers(rpc, {raw.start: raw.first, raw.end: raw.last}, stamped)
        check_same_chain(raw, headers, events)
        return RangeBatch(start=raw.start, end=raw.end, end_hash=raw.last["hash"], headers=headers, events=events)

    def _decode(self, logs: list[dict[str, Any]]) -> list[Event]:
        events, malformed = decode_logs(logs)
        self.health.malformed_logs += malformed
        return events

    # -- reorganisations --------------------------------------------------------------------------

    def _handle_reorg(self, tip: int) -> None:
        """Roll back to the newest stored block the chain still has; rebuild when none is left."""
        deployment = self.deployment
        assert deployment is not None  # a step checks the chain before it looks for a reorg
        with self.engine.connect() as conn:
            stored = checkpoint.recent_blocks(conn)
        fork: tuple[int, str] | None = None
        for start in range(0, len(stored), 16):
            part = stored[start : start + 16]
            for (number, known), header in zip(part, self.rpc.blocks([n for n, _ in part]), strict=True):
                if header is not None and header["hash"] == known:
                    fork = (number, known)
                    break
            if fork:
                break
        self.health.reorgs += 1
        self.health.head_block = None
        self._discard_prefetch()
        with self.engine.begin() as conn:
            if fork is None:
                log.warning("reorg below every stored block (tip was %d): re-indexing from the deployment", tip)
                identity = {k: v for k, v in get_meta(conn).items() if k in IDENTITY_KEYS}
                wipe(conn)
                for key, value in identity.items():
                    set_meta(conn, key, value)
                checkpoint.set_checkpoint(conn, deployment.block_number - 1, "")
                return
            removed = store.rollback_above(conn, fork[0])
            checkpoint.rewind(conn, *fork)
        log.warning(
            "reorg: block %d onwards replaced; rolled back to block %d (%d rows removed)", fork[0] + 1, fork[0], removed
        )
