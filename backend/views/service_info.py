"""Documents about the service itself: /api/status, /api/contract and the relayer's state.

Status is served from what the indexer published (``backend.indexer.publish``):
one read of the index's meta rows per request, no call to the node, no table
counted. Before any indexer has published (a serving process without one,
say), counts are taken here at most every ``LOCAL_COUNT_SECONDS``. Errors are
sentences of ours ("index database unavailable", "node at ... unreachable");
the drivers' messages stay in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from backend.chain_link import ChainLink
from backend.config import Settings, public_url
from backend.db.stats import count_gap, index_meta, read_status, timed_counts
from backend.deployments.code import published_immutables
from backend.deployments.records import Deployment
from backend.eip712 import EIP712_TYPES, PRIMARY_TYPES, domain
from backend.indexer.publish import DATABASE_UNAVAILABLE
from backend.indexer.runner import Indexer
from backend.limits import Limits
from backend.relay.budget import Policy, gas_left

log = logging.getLogger(__name__)

LOCAL_COUNT_SECONDS = 10.0
FIRST_COUNT_WAIT = 1.0  # a serving process's first count is waited for this long, then answered as not counted yet
# just after startup the in-process indexer has not published yet (and the database may hold a snapshot of a
# process that is gone): a status request waits this long, once, for its first step
FIRST_SNAPSHOT_SECONDS = 3.0
_COUNT_KEYS = ("posts", "authors", "votes", "vote_events", "content")
# the fields of ``index`` in a status document (IndexStatusOut in /openapi.json)
INDEX_FIELDS = (*index_meta({}), *_COUNT_KEYS, "current", "lag", "error", "indexer", "counted_at", "published_at")
_local_counts: dict[int, tuple[float, dict[str, Any], float]] = {}  # by engine id: when counted, counts, cost (s)
_local_lock = threading.Lock()


def contract_document(deployment: Deployment) -> dict[str, Any]:
    """Where the Board lives, its ABI and EIP-712 domain and types."""
    return {
        "address": deployment.address,
        "chain_id": deployment.chain_id,
        "deployment_block": deployment.block_number,
        "abi": deployment.abi,
        "eip712": {
            "domain": domain(deployment.chain_id, deployment.address),
            "types": EIP712_TYPES,
            "primary_types": PRIMARY_TYPES,
        },
        # the rule join applies (deployments/code.py), for the browser and the one-file reader to apply too
        "immutables": published_immutables(deployment.chain_id, deployment.address),
    }


def relay_document(settings: Settings, chain_link: ChainLink, limits: Limits) -> dict[str, Any]:
    """The relayer's address, balance (as last read off the request path) and the gas budget left this hour."""
    policy = Policy.from_settings(settings)
    account = chain_link.account
    status: dict[str, Any] = {
        "address": account.address,
        "balance_wei": account.balance_wei,
        "gas_per_hour": policy.gas_per_hour,
        "gas_left_this_hour": None,
        "max_fee_gwei": settings.relay_max_fee_gwei,
        "error": account.error,
    }
    if account.address is not None and account.chain_id is not None:
        try:
            status["gas_left_this_hour"] = gas_left(limits, policy, account.chain_id, account.address)
        except SQLAlchemyError as exc:
            status["error"] = f"database unavailable: {exc.__class__.__name__}"
    return status


def _counts_here(engine: Engine) -> tuple[dict[str, Any], float | None]:
    """Counts taken by this process and when (no indexer has published any): ({}, None) until the first is in.

    Counting is a full scan of the index's tables (20 s at 10M posts on PostgreSQL), so it is never a
    request's time beyond FIRST_COUNT_WAIT: one thread counts in the background while requests answer with the
    last counts, or with none ("not counted yet") before the first. Counts are reused for
    ``LOCAL_COUNT_SECONDS``, or longer after a slow count (``count_gap``).
    """
    key = id(engine)
    cached = _local_counts.get(key)
    if cached is None or time.time() - cached[0] >= count_gap(LOCAL_COUNT_SECONDS, cached[2]):
        if _local_lock.acquire(blocking=False):
            counting = threading.Thread(target=_count_locally, args=(engine,), name="status-counts", daemon=True)
            counting.start()
            if cached is None:
                counting.join(FIRST_COUNT_WAIT)
                cached = _local_counts.get(key)
                if cached is None and not counting.is_alive():  # it failed: the database, as the route reports it
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
    if cached is None:
        return {}, None
    return cached[1], cached[0]


def _count_locally(engine: Engine) -> None:
    """Count the index now for ``_counts_here``, then release its lock (taken by the request that started this)."""
    try:
        with engine.connect() as conn:
            counts, cost = timed_counts(conn)
        _local_counts[id(engine)] = (time.time(), counts, cost)
    except SQLAlchemyError:
        log.warning("status: counting the index failed", exc_info=True)
    finally:
        _local_lock.release()


def _database_down(settings: Settings, chain_link: ChainLink, relay: dict[str, Any]) -> dict[str, Any]:
    unknown = dict.fromkeys(INDEX_FIELDS)  # same shape, every database field null
    index = {**unknown, "current": False, "error": DATABASE_UNAVAILABLE, "indexer": None}
    deployment = chain_link.deployment
    return {
        "rpc_url": public_url(settings.rpc_url),
        "chain_id": None,
        "head_block": None,
        "contract_address": deployment.address if deployment else None,
        "deployment_block": deployment.block_number if deployment else None,
        "error": DATABASE_UNAVAILABLE,
        "index": index,
        "relay": relay,
    }


def _with_progress(content: dict[str, Any] | None) -> dict[str, Any] | None:
    """The content counts with ``progress``, "content 1,234 of 1,240": posts whose file was found and verified."""
    if not content:
        return content
    found = int(content.get("pinned", 0)) + int(content.get("invalid", 0))
    total = found + int(content.get("missing", 0))
    return {**content, "progress": f"content {found:,} of {total:,}"}


def status_document(
    settings: Settings, engine: Engine, chain_link: ChainLink, limits: Limits, indexer: Indexer | None
) -> dict[str, Any]:
    """The status document shared by the JSON route and the status page."""
    relay = relay_document(settings, chain_link, limits)
    if indexer is not None and not indexer.status.first.is_set():
        indexer.status.first.wait(FIRST_SNAPSHOT_SECONDS)
        indexer.status.first.set()  # waited once: a publisher that cannot write must not slow every request
    try:
        meta, snapshot = read_status(engine)
        if snapshot and snapshot.get("counts"):
            counts, counted_at = snapshot["counts"], snapshot.get("counted_at")
        else:
            counts, counted_at = _counts_here(engine)
    except SQLAlchemyError as exc:
        log.warning("status: index database unavailable: %s", exc)
        return _database_down(settings, chain_link, relay)
    node = (snapshot or {}).get("node") or {}
    published_indexer = (snapshot or {}).get("indexer")
    deployment = (snapshot or {}).get("deployment")
    if snapshot is None and chain_link.deployment is not None:  # no indexer has published yet: what startup found
        deployment = {"address": chain_link.deployment.address, "block_number": chain_link.deployment.block_number}
    node_error = node.get("error")
    index_error = published_indexer["error"] if published_indexer else None
    if (
        snapshot is None and chain_link.deployment_error
    ):  # what startup found; a node failure without its driver's words
        failed = chain_link.deployment_error.startswith("node at ")
        index_error = f"node at {public_url(settings.rpc_url)} unreachable" if failed else chain_link.deployment_error
    current = (
        index_error is None
        and node_error is None
        and meta["contract_address"] is not None
        and deployment is not None
        and meta["contract_address"] == deployment["address"]
        and (published_indexer is None or published_indexer["current"])
    )
    head = node.get("head_block")
    indexed = meta["indexed_block"]
    lag = max(head - indexed, 0) if current and head is not None and indexed is not None else None
    index = {
        **meta,
        **{key: counts.get(key) for key in _COUNT_KEYS},
        "content": _with_progress(counts.get("content")),
        "current": current,
        "lag": lag,
        "error": index_error,
        # the rule, distance and throttling the indexer published, from this process or another
        "finality": (published_indexer or {}).get("finality") or None,
        "behind": (published_indexer or {}).get("behind"),
        "provider": (published_indexer or {}).get("provider"),
        "indexer": published_indexer if indexer is not None else None,  # its state, where this process runs one
        "counted_at": counted_at,
        "published_at": (snapshot or {}).get("published_at"),
    }
    return {
        "rpc_url": public_url(settings.rpc_url),
        "chain_id": node.get("chain_id"),
        "head_block": head,
        "contract_address": deployment["address"] if deployment else None,
        "deployment_block": deployment["block_number"] if deployment else None,
        "error": node_error or index_error,
        "index": index,
        "relay": relay,
    }
