"""The indexer publishes what /api/status shows: its health, the node's chain and head, the index's counts.

Requests then read one meta row instead of counting whole tables and asking
the node three questions each. Counts are refreshed at most every
``COUNT_SECONDS`` (at once when a caught-up step stored new blocks), and never
sooner than ``backend.db.stats.count_gap`` allows after a slow count (a large
index: counting takes at most ``COUNT_DUTY`` of the time); the snapshot is
written when it changes, and at least every ``PUBLISH_SECONDS``.
Errors are published as sentences of ours (``public_error``), never a driver's
message: those stay in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from backend.config import public_url
from backend.db.stats import count_gap, ensure_status_table, publish, timed_counts
from backend.deployments.records import Deployment, DeploymentError
from backend.indexer.rpc import Rpc, RpcError

log = logging.getLogger(__name__)

COUNT_SECONDS = 5.0
PUBLISH_SECONDS = 10.0
PROBE_SECONDS = 2.0  # while steps fail, the node is asked for its chain and head at most this often
DATABASE_UNAVAILABLE = "index database unavailable"


@dataclass
class IndexerHealth:
    """The indexer's progress and counters as /api/status shows them (written by its thread, read by requests)."""

    running: bool = False
    current: bool = False  # the index is of the node's chain and deployment
    head_block: int | None = None
    indexed_block: int | None = None
    target_block: int | None = None  # the block the finality rule lets us index up to
    finality: str = ""  # which rule sets target_block (backend.indexer.finality)
    caught_up: bool = False
    error: str | None = None
    reorgs: int = 0
    rebuilds: int = 0
    malformed_logs: int = 0
    quarantined: int = 0  # items whose mapping raised: posts stored invalid, votes skipped (since start)
    updated_at: float = 0.0
    provider: dict[str, Any] | None = None  # the provider's limits as learned (backend.provider)

    @property
    def behind(self) -> int | None:
        """Blocks between the checkpoint and the target; None until both are known."""
        if self.target_block is None or self.indexed_block is None:
            return None
        return max(0, self.target_block - self.indexed_block)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {**asdict(self), "behind": self.behind}


def public_error(exc: BaseException, rpc_url: str) -> str:
    """A failed step's error as /api/status may show it: our own sentence, no driver's message, no secrets."""
    node = public_url(rpc_url)
    if isinstance(exc, DeploymentError):
        return str(exc)  # our own sentence about the deployment record
    if isinstance(exc, RpcError):
        if exc.timeout:
            return f"node at {node} timed out"
        if exc.throttled:
            return f"node at {node} is throttling us (HTTP {exc.status}): retrying with backoff"
        if exc.code is not None:
            return f"node at {node} refused a request (JSON-RPC error {exc.code})"
        return f"node at {node} unreachable"
    if isinstance(exc, SQLAlchemyError):
        return DATABASE_UNAVAILABLE
    return f"indexer step failed ({type(exc).__name__}): the operator's log says why"


class StatusPublisher:
    """Publishes the indexer's health, the node's chain and head and the index's counts; called after each step.

    Built from what it needs (the index's engine, the node's client and URL); the indexer
    tells it its health and deployment on each call.
    """

    def __init__(self, engine: Engine, rpc: Rpc, rpc_url: str) -> None:
        self.engine = engine
        self.rpc = rpc
        self.rpc_url = rpc_url
        self.error: str | None = None  # public_error of the last failed step; None after a good one
        self._counts: dict[str, Any] | None = None
        self._counted_at = 0.0
        self._counted_block: int | None = None
        self._count_cost = 0.0  # seconds the last count took
        self._published: dict[str, Any] | None = None
        self._published_at = 0.0
        self._probe: dict[str, Any] = {"chain_id": None, "head_block": None, "error": None}
        self._probed_at = 0.0
        self._table_ready = False
        self.first = threading.Event()  # set once the first snapshot of this process is written

    def failed(self, exc: BaseException) -> None:
        """Remember how to show the step that just failed."""
        self.error = public_error(exc, self.rpc_url)

    def maybe_publish(self, health: IndexerHealth, deployment: Deployment | None) -> None:
        """Write the snapshot when it changed or is old; recount when due. Never raises (logged instead)."""
        try:
            self._publish(health, deployment)
        except Exception:  # the index database may be down: the step's own handling reports that
            self._table_ready = False  # or the table was dropped: make it again next time
            log.debug("status snapshot not published", exc_info=True)

    def _publish(self, health: IndexerHealth, deployment: Deployment | None) -> None:
        now = time.time()
        new_blocks = health.caught_up and health.indexed_block != self._counted_block
        since = now - self._counted_at
        recount = self._counts is None or (
            (new_blocks or since >= COUNT_SECONDS) and since >= count_gap(0.0, self._count_cost)
        )
        engine = self.engine
        if not self._table_ready:
            ensure_status_table(engine)
            self._table_ready = True
        if recount:
            with engine.connect() as conn:
                self._counts, self._count_cost = timed_counts(conn)
            self._counted_at, self._counted_block = now, health.indexed_block
        health.provider = self.rpc.limits.as_dict()
        indexer = {**health.as_dict(), "error": self.error if health.error else None}
        snapshot = {
            "indexer": indexer,
            "node": self._node(health, deployment),
            "deployment": _deployment(deployment),
            "counts": self._counts,
            "counted_at": self._counted_at,
        }
        unchanged = self._published is not None and _without_times(snapshot) == _without_times(self._published)
        if unchanged and now - self._published_at < PUBLISH_SECONDS:
            return
        with engine.begin() as conn:
            publish(conn, {**snapshot, "published_at": now})
        self._published, self._published_at = snapshot, now
        self.first.set()

    def _node(self, health: IndexerHealth, deployment: Deployment | None) -> dict[str, Any]:
        """The node's chain id and head as last seen; asked directly only when the step could not tell."""
        if deployment is not None and health.error is None and health.head_block is not None:
            return {"chain_id": deployment.chain_id, "head_block": health.head_block, "error": None}
        if time.monotonic() - self._probed_at < PROBE_SECONDS:
            return self._probe
        self._probed_at = time.monotonic()
        try:
            chain_id, head = self.rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
            self._probe = {"chain_id": int(chain_id, 16), "head_block": int(head, 16), "error": None}
        except (RpcError, TypeError, ValueError) as exc:
            error = public_error(exc, self.rpc_url) if isinstance(exc, RpcError) else None
            self._probe = {"chain_id": None, "head_block": None, "error": error or "node gave a malformed answer"}
        return self._probe


def _deployment(deployment: Deployment | None) -> dict[str, Any] | None:
    if deployment is None:
        return None
    return {"address": deployment.address, "block_number": deployment.block_number, "chain_id": deployment.chain_id}


def _without_times(snapshot: dict[str, Any]) -> dict[str, Any]:
    indexer = {k: v for k, v in snapshot["indexer"].items() if k not in ("updated_at", "provider")}
    provider = {k: v for k, v in (snapshot["indexer"].get("provider") or {}).items() if k != "retries"}
    indexer["provider"] = provider
    return {**snapshot, "indexer": indexer, "counted_at": None}
