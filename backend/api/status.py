"""GET /api/status: which chain and contract this node indexes, how far, and what the index holds.

Served from what the indexer published (``backend.indexer.status``): one read
of the index's meta rows per request, no call to the node, no table counted.
Before any indexer has published (a serving process without one, say), counts
are taken here at most every ``LOCAL_COUNT_SECONDS``. Errors are sentences of
ours ("index database unavailable", "node at ... unreachable"); the drivers'
messages stay in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from backend.api.relay import relay_status
from backend.api.schemas import ApiRoute, IndexStatusOut, StatusOut
from backend.config import public_url
from backend.db.stats import index_counts, read_status
from backend.indexer.status import DATABASE_UNAVAILABLE

router = APIRouter(prefix="/api", tags=["status"], route_class=ApiRoute)
log = logging.getLogger(__name__)

LOCAL_COUNT_SECONDS = 10.0
# just after startup the in-process indexer has not published yet (and the database may hold a snapshot of a
# process that is gone): a status request waits this long, once, for its first step
FIRST_SNAPSHOT_SECONDS = 3.0
_COUNT_KEYS = ("posts", "authors", "votes", "vote_events", "content")
_local_counts: dict[int, tuple[float, dict[str, Any]]] = {}  # by engine id: when counted, the counts
_local_lock = threading.Lock()


def _counts_here(engine: Any) -> tuple[dict[str, Any], float]:
    """Counts taken by this process and when, reused for LOCAL_COUNT_SECONDS (no indexer has published any)."""
    with _local_lock:
        cached = _local_counts.get(id(engine))
        if cached is not None and time.time() - cached[0] < LOCAL_COUNT_SECONDS:
            return cached[1], cached[0]
        with engine.connect() as conn:
            counts = index_counts(conn)
        _local_counts[id(engine)] = (time.time(), counts)
        return counts, _local_counts[id(engine)][0]


def _database_down(state: Any) -> dict[str, Any]:
    unknown = dict.fromkeys(IndexStatusOut.model_fields)  # same shape, every database field null
    index = {**unknown, "current": False, "error": DATABASE_UNAVAILABLE, "indexer": None}
    return {
        "rpc_url": public_url(state.settings.rpc_url),
        "chain_id": None,
        "head_block": None,
        "contract_address": state.deployment.address if state.deployment else None,
        "deployment_block": state.deployment.block_number if state.deployment else None,
        "error": DATABASE_UNAVAILABLE,
        "index": index,
        "relay": relay_status(state),
    }


def build_status(request: Request) -> dict[str, Any]:
    """The status document shared by the JSON route and the status page."""
    state = request.app.state.indelible
    if state.indexer is not None and not state.indexer.status.first.is_set():
        state.indexer.status.first.wait(FIRST_SNAPSHOT_SECONDS)
        state.indexer.status.first.set()  # waited once: a publisher that cannot write must not slow every request
    try:
        meta, snapshot = read_status(state.engine)
        if snapshot and snapshot.get("counts"):
            counts, counted_at = snapshot["counts"], snapshot.get("counted_at")
        else:
            counts, counted_at = _counts_here(state.engine)
    except SQLAlchemyError as exc:
        log.warning("status: index database unavailable: %s", exc)
        return _database_down(state)
    node = (snapshot or {}).get("node") or {}
    indexer = (snapshot or {}).get("indexer")
    deployment = (snapshot or {}).get("deployment")
    if snapshot is None and state.deployment is not None:  # no indexer has published yet: what startup found
        deployment = {"address": state.deployment.address, "block_number": state.deployment.block_number}
    node_error = node.get("error")
    index_error = indexer["error"] if indexer else None
    if snapshot is None and state.deployment_error:  # what startup found; a node failure without its driver's words
        failed = state.deployment_error.startswith("node at ")
        index_error = f"node at {public_url(state.settings.rpc_url)} unreachable" if failed else state.deployment_error
    current = (
        index_error is None
        and node_error is None
        and meta["contract_address"] is not None
        and deployment is not None
        and meta["contract_address"] == deployment["address"]
        and (indexer is None or indexer["current"])
    )
    head = node.get("head_block")
    indexed = meta["indexed_block"]
    lag = max(head - indexed, 0) if current and head is not None and indexed is not None else None
    index = {
        **meta,
        **{key: counts.get(key) for key in _COUNT_KEYS},
        "current": current,
        "lag": lag,
        "error": index_error,
        "indexer": indexer if state.indexer is not None else None,  # its state, where this process runs one
        "counted_at": counted_at,
        "published_at": (snapshot or {}).get("published_at"),
    }
    return {
        "rpc_url": public_url(state.settings.rpc_url),
        "chain_id": node.get("chain_id"),
        "head_block": head,
        "contract_address": deployment["address"] if deployment else None,
        "deployment_block": deployment["block_number"] if deployment else None,
        "error": node_error or index_error,
        "index": index,
        "relay": relay_status(state),
    }


@router.get("/status", response_model=StatusOut)
def get_status(request: Request) -> dict[str, Any]:
    """Chain, contract, head block, and the index's progress and counts (as the indexer last published them)."""
    return build_status(request)
