"""The indexing loop: check which chain we are on, find reorgs, fetch -> decode -> store, resolve content.

One step indexes one block range and moves the checkpoint in the same database
transaction, so a killed indexer resumes exactly where its last commit left off.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, select

from backend import chain
from backend.config import Settings, redact_url
from backend.content.gc import PinCollector
from backend.content.service import ContentService
from backend.db.models import Block
from backend.db.session import ensure_schema, make_engine
from backend.db.write import get_meta, set_meta
from backend.indexer import store
from backend.indexer.content_sync import ContentSync
from backend.indexer.decode import NONCE_USED, Event, MalformedLog, PostCreated, decode_log
from backend.indexer.fetch import RangeSizer
from backend.indexer.progress import Progress
from backend.indexer.rpc import Rpc, RpcError
from backend.indexer.status import StatusPublisher

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
DEPLOYMENT_RECHECK_SECONDS = 5.0
CONTENT_POLL_SECONDS = 2.0
IDENTITY_KEYS = ("chain_id", "genesis_hash", "contract_address", "deployment_block", "deployment_block_hash")


class RangeChanged(RuntimeError):
    """The chain moved under a range while we read it: read the range again."""


@dataclass
class IndexerState:
    """What /api/status shows of the indexer (written by its thread, read by requests)."""

    running: bool = False
    current: bool = False  # the index is of the node's chain and deployment
    head_block: int | None = None
    indexed_block: int | None = None
    caught_up: bool = False
    error: str | None = None
    reorgs: int = 0
    rebuilds: int = 0
    malformed_logs: int = 0
    quarantined: int = 0  # items whose mapping raised: posts stored invalid, votes skipped (since start)
    updated_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


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
        self.rpc = Rpc(settings.rpc_url)
        self.w3 = chain.connect(settings)
        self.sizer = RangeSizer(span=min(10, max_span), max_span=max_span)
        # the next range is read (fetched and decoded) by this thread while the current one is stored
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer-prefetch")
        self._reader_rpc = Rpc(settings.rpc_url)
        self._prefetch: tuple[int, str, Future[store.RangeBatch | None]] | None = None
        self.progress = progress or Progress()
        self.state = IndexerState()
        self.status = StatusPublisher(self)  # what /api/status shows, published in the index's meta
        self.deployment: chain.Deployment | None = None
        self._genesis: str | None = None
        self._checked_at = 0.0
        self._genesis_checked_at = 0.0

    # -- loop -------------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, once: bool = False) -> None:
        """Index until ``stop`` is set (or, with ``once``, until caught up with the head)."""
        stop = stop or threading.Event()
        self.state.running = True
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
                    self.state.error = self.status.error = None
                except (RpcError, chain.DeploymentError, OSError) as exc:
                    self._fail(str(exc))
                    self.status.failed(exc)
                    self.status.maybe_publish()
                    if once and isinstance(exc, chain.DeploymentError):
                        break  # nothing to index: a one-shot run reports it instead of waiting
                    caught_up = False
                    stop.wait(POLL_SECONDS * 2)
                except Exception as exc:  # never let one bad step kill the loop
                    log.exception("indexer step failed")
                    self._fail(f"{type(exc).__name__}: {exc}")
                    self.status.failed(exc)
                    self.status.maybe_publish()
                    caught_up = False
                    stop.wait(POLL_SECONDS * 2)
                self.status.maybe_publish()
                if once and caught_up:
                    break
                if caught_up:
                    stop.wait(POLL_SECONDS)
        finally:
            self.state.running = False
            self.status.maybe_publish()

    def _still_caught_up(self) -> bool:
        """Asked right before pins are collected: the index holds every block the node has (less confirmations)."""
        indexed = self.state.indexed_block
        return indexed is not None and self.rpc.block_number() - self.settings.confirmations <= indexed

    def close(self) -> None:
        """Release the node connection and the content workers."""
        self._discard_prefetch()
        self._reader.shutdown(wait=True)
        self.content.close()
        self.rpc.close()
        self._reader_rpc.close()

    def _fail(self, message: str) -> None:
        message = redact_url(message, self.settings.rpc_url)  # the state is shown in /api/status
        if message != self.state.error:
            log.warning("indexer: %s", message)
        self.state.error = message
        self.state.updated_at = time.time()

    def step(self) -> bool:
        """Index one range (or handle one reorg); True when the index has reached the target block."""
        self._check_chain()
        known_head = self.state.head_block
        caught_up_before = self.state.caught_up or known_head is None or self.state.indexed_block is None
        # mid-backfill the head we know is far enough ahead; ask again once we reach it
        head = self.rpc.block_number() if caught_up_before or self.state.indexed_block >= known_head else known_head
        target = head - self.settings.confirmations
        with self.engine.connect() as conn:
            meta = get_meta(conn)
        tip, tip_hash = int(meta["indexed_block"]), meta.get("indexed_block_hash", "")
        self.state.head_block, self.state.indexed_block = head, tip
        self.state.updated_at = time.time()
        if tip >= target:
            if tip_hash and tip >= self.deployment.block_number:  # type: ignore[union-attr]
                header = self.rpc.block(tip)
                if header is None or header["hash"] != tip_hash:
                    self._handle_reorg(tip)
                    return False
            self.state.caught_up = tip == target
            self.progress.end(tip)
            return True
        self.state.caught_up = False
        self.progress.begin(tip, target)
        try:
            batch = self._next_range(tip + 1, target, tip_hash)
        except RangeChanged as exc:
            log.info("%s", exc)
            self.state.head_block = None  # the chain moved: ask for the head again
            return False
        if batch is None:
            self._handle_reorg(tip)
            return False
        if batch.end < target:
            future = self._reader.submit(self._read_range, batch.end + 1, target, batch.end_hash, self._reader_rpc)
            self._prefetch = (batch.end + 1, batch.end_hash, future)
        with self.engine.begin() as conn:
            quarantined = store.store_range(conn, batch, self.content.lookup)
        self.state.quarantined += quarantined
        self.state.indexed_block = batch.end
        self.state.caught_up = batch.end >= target
        self.progress.advance(batch.end, len(batch.events))
        return self.state.caught_up

    # -- chain identity ---------------------------------------------------------------------------

    def _check_chain(self) -> None:
        """Make sure the index is of the node's chain and newest deployment; wipe and rebuild when not."""
        now = time.monotonic()
        if self.deployment is not None and now - self._genesis_checked_at < POLL_SECONDS:
            return  # mid-backfill: a replaced chain also breaks the parent-hash links we check
        genesis = self.rpc.block(0)
        genesis_hash = genesis["hash"] if genesis else ""
        self._genesis_checked_at = now
        fresh = now - self._checked_at < DEPLOYMENT_RECHECK_SECONDS
        if self.deployment is not None and genesis_hash == self._genesis and fresh:
            return
        try:
            deployment = chain.find_deployment(self.w3, self.settings)
        except chain.DeploymentError:
            self.state.current, self.deployment = False, None
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
                store.wipe(conn)
                self.state.rebuilds += 1
                meta = {}
            if known != identity:
                for key, value in identity.items():
                    set_meta(conn, key, value)
            if "indexed_block" not in meta:
                store.set_checkpoint(conn, deployment.block_number - 1, "")
        self.deployment = deployment
        self.state.current = True

    # -- fetch -> decode ---------------------------------------------------------------------------

    def _next_range(self, start: int, target: int, parent_hash: str) -> store.RangeBatch | None:
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

    def _read_range(self, start: int, target: int, parent_hash: str, rpc: Rpc) -> store.RangeBatch | None:
        """Headers, logs and events of the next range; None when ``start`` no longer follows our tip."""
        assert self.deployment is not None
        while True:
            end = min(target, start + self.sizer.span - 1)
            first, last = rpc.blocks([start, end])
            if first is None or last is None:
                raise RangeChanged(f"blocks {start}..{end} vanished while reading them")
            if parent_hash and first["parentHash"] != parent_hash:
                return None
            try:
                logs = rpc.get_logs(self.deployment.address, start, end)
            except RpcError as exc:
                if not self.sizer.shrink():
                    raise
                log.info("eth_getLogs %d..%d refused (%s): asking for %d blocks", start, end, exc, self.sizer.span)
                continue
            break
        self.sizer.after(end - start + 1, len(logs))
        headers = {start: first, end: last}
        events = self._decode(logs)
        wanted = sorted({e.at.block_number for e in events if isinstance(e, PostCreated)} - set(headers))
        for number, header in zip(wanted, rpc.blocks(wanted), strict=True):
            if header is None:
                raise RangeChanged(f"block {number} vanished while reading it")
            headers[number] = header
        for event in events:
            header = headers.get(event.at.block_number)
            if header is not None and header["hash"] != event.at.block_hash:
                raise RangeChanged(f"block {event.at.block_number} changed while reading {start}..{end}")
        return store.RangeBatch(start=start, end=end, end_hash=last["hash"], headers=headers, events=events)

    def _decode(self, logs: list[dict[str, Any]]) -> list[Event]:
        events = []
        for raw in logs:
            if raw.get("removed"):
                continue
            topics = raw.get("topics")
            if isinstance(topics, list) and len(topics) == 2 and str(topics[0]).lower() == NONCE_USED:
                continue  # NonceUsed is not stored (the relay asks the contract): no need to decode it
            try:
                events.append(decode_log(raw))
            except MalformedLog as exc:
                self.state.malformed_logs += 1
                log.warning("skipping malformed log in tx %s: %s", raw.get("transactionHash"), exc)
        return events

    # -- reorganisations --------------------------------------------------------------------------

    def _handle_reorg(self, tip: int) -> None:
        """Roll back to the newest stored block the chain still has; rebuild when none is left."""
        with self.engine.connect() as conn:
            stored = conn.execute(select(Block.number, Block.hash).order_by(Block.number.desc())).all()
        fork: tuple[int, str] | None = None
        for start in range(0, len(stored), 16):
            part = stored[start : start + 16]
            for (number, known), header in zip(part, self.rpc.blocks([n for n, _ in part]), strict=True):
                if header is not None and header["hash"] == known:
                    fork = (number, known)
                    break
            if fork:
                break
        self.state.reorgs += 1
        self.state.head_block = None
        self._discard_prefetch()
        with self.engine.begin() as conn:
            if fork is None:
                log.warning("reorg below every stored block (tip was %d): re-indexing from the deployment", tip)
                identity = {k: v for k, v in get_meta(conn).items() if k in IDENTITY_KEYS}
                store.wipe(conn)
                for key, value in identity.items():
                    set_meta(conn, key, value)
                store.set_checkpoint(conn, self.deployment.block_number - 1, "")  # type: ignore[union-attr]
                return
            removed = store.rollback_above(conn, *fork)
        log.warning(
            "reorg: block %d onwards replaced; rolled back to block %d (%d rows removed)", fork[0] + 1, fork[0], removed
        )
