"""The indexer publishes what /api/status shows: its health, the node's chain and head, the index's counts.

Requests then read one meta row instead of counting whole tables and asking
the node three questions each. Counts are refreshed at most every
``COUNT_SECONDS`` (at once when a caught-up step stored new blocks); the
snapshot is written when it changes, and at least every ``PUBLISH_SECONDS``.
Errors are published as sentences of ours (``public_error``), never a driver's
message: those stay in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from backend.config import public_url
from backend.db.stats import ensure_status_table, index_counts, publish
from backend.deployments.records import DeploymentError
from backend.indexer.rpc import RpcError

if TYPE_CHECKING:
    from backend.indexer.runner import Indexer

log = logging.getLogger(__name__)

COUNT_SECONDS = 5.0
PUBLISH_SECONDS = 10.0
PROBE_SECONDS = 2.0  # while steps fail, the node is asked for its chain and head at most this often
DATABASE_UNAVAILABLE = "index database unavailable"


def public_error(exc: BaseException, rpc_url: str) -> str:
    """A failed step's error as /api/status may show it: our own sentence, no driver's message, no secrets."""
    node = public_url(rpc_url)
    if isinstance(exc, DeploymentError):
        return str(exc)  # our own sentence about the deployment record
    if isinstance(exc, RpcError):
        if exc.timeout:
            return f"node at {node} timed out"
        if exc.code is not None:
            return f"node at {node} refused a request (JSON-RPC error {exc.code})"
        return f"node at {node} unreachable"
    if isinstance(exc, SQLAlchemyError):
        return DATABASE_UNAVAILABLE
    return f"indexer step failed ({type(exc).__name__}): the operator's log says why"


class StatusPublisher:
    """Owned and called by the indexer thread after each step."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer
        self.error: str | None = None  # public_error of the last failed step; None after a good one
        self._counts: dict[str, Any] | None = None
        self._counted_at = 0.0
        self._counted_block: int | None = None
        self._published: dict[str, Any] | None = None
        self._published_at = 0.0
        self._probe: dict[str, Any] = {"chain_id": None, "head_block": None, "error": None}
        self._probed_at = 0.0
        self._table_ready = False
        self.first = threading.Event()  # set once the first snapshot of this process is written

    def failed(self, exc: BaseException) -> None:
        """Remember how to show the step that just failed."""
        self.error = public_error(exc, self.indexer.settings.rpc_url)

    def maybe_publish(self) -> None:
        """Write the snapshot when it changed or is old; recount when due. Never raises (logged instead)."""
        try:
            self._publish()
        except Exception:  # the index database may be down: the step's own handling reports that
            self._table_ready = False  # or the table was dropped: make it again next time
            log.debug("status snapshot not published", exc_info=True)

    def _publish(self) -> None:
        health = self.indexer.health
        now = time.time()
        new_blocks = health.caught_up and health.indexed_block != self._counted_block
        recount = self._counts is None or new_blocks or now - self._counted_at >= COUNT_SECONDS
        engine = self.indexer.engine
        if not self._table_ready:
            ensure_status_table(engine)
            self._table_ready = True
        if recount:
            with engine.connect() as conn:
                self._counts = index_counts(conn)
            self._counted_at, self._counted_block = now, health.indexed_block
        indexer = {**health.as_dict(), "error": self.error if health.error else None}
        snapshot = {
            "indexer": indexer,
            "node": self._node(),
            "deployment": self._deployment(),
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

    def _node(self) -> dict[str, Any]:
        """The node's chain id and head as last seen; asked directly only when the step could not tell."""
        indexer = self.indexer
        deployment, health = indexer.deployment, indexer.health
        if deployment is not None and health.error is None and health.head_block is not None:
            return {"chain_id": deployment.chain_id, "head_block": health.head_block, "error": None}
        if time.monotonic() - self._probed_at < PROBE_SECONDS:
            return self._probe
        self._probed_at = time.monotonic()
        try:
            chain_id, head = indexer.rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
            self._probe = {"chain_id": int(chain_id, 16), "head_block": int(head, 16), "error": None}
        except (RpcError, TypeError, ValueError) as exc:
            error = public_error(exc, indexer.settings.rpc_url) if isinstance(exc, RpcError) else None
            self._probe = {"chain_id": None, "head_block": None, "error": error or "node gave a malformed answer"}
        return self._probe

    def _deployment(self) -> dict[str, Any] | None:
        deployment = self.indexer.deployment
        if deployment is None:
            return None
        return {"address": deployment.address, "block_number": deployment.block_number, "chain_id": deployment.chain_id}


def _without_times(snapshot: dict[str, Any]) -> dict[str, Any]:
    indexer = {k: v for k, v in snapshot["indexer"].items() if k != "updated_at"}
    return {**snapshot, "indexer": indexer, "counted_at": None}
