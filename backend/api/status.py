"""GET /api/status: which chain and contract this node indexes, how far, and what the index holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.exc import SQLAlchemyError

from backend.api.schemas import ApiRoute, IndexStatusOut, StatusOut
from backend.chain import genesis_hash
from backend.config import node_unreachable, public_url
from backend.db.stats import index_summary

router = APIRouter(prefix="/api", tags=["status"], route_class=ApiRoute)


def _index_status(state: Any, chain_id: int | None, genesis: str | None, head: int | None) -> dict[str, Any]:
    """The index's checkpoint and counts, and whether it is of the node's chain and deployment."""
    indexer = state.indexer.state.as_dict() if state.indexer is not None else None
    try:
        summary = index_summary(state.engine)
    except SQLAlchemyError as exc:
        error = f"database unavailable: {exc.__class__.__name__}"
        unknown = dict.fromkeys(IndexStatusOut.model_fields)  # same shape, every database field null
        return {**unknown, "current": False, "error": error, "indexer": indexer}
    deployment = state.deployment
    error = None
    if summary["genesis_hash"] is not None and genesis is not None and summary["genesis_hash"] != genesis:
        error = "the index is of another chain (the node was replaced); it is being rebuilt"
    elif deployment is not None and summary["contract_address"] not in (None, deployment.address):
        error = "the index is of another deployment; it is being rebuilt"
    if error is None and indexer is not None and indexer["error"]:
        error = indexer["error"]
    current = error is None and summary["contract_address"] is not None and deployment is not None
    indexed = summary["indexed_block"]
    lag = head - indexed if head is not None and indexed is not None and current else None
    return {**summary, "current": current, "lag": lag, "error": error, "indexer": indexer}


def build_status(request: Request) -> dict[str, Any]:
    """The status document shared by the JSON route and the status page."""
    state = request.app.state.indelible
    w3 = state.w3
    try:
        chain_id: int | None = w3.eth.chain_id
        head_block: int | None = w3.eth.block_number
        genesis: str | None = genesis_hash(w3)
        node_error = None
    except Exception as exc:  # node down: say so instead of failing
        chain_id, head_block, genesis = None, None, None
        node_error = node_unreachable(state.settings.rpc_url, exc)
    known = state.deployment
    if known is None or (chain_id is not None and known.chain_id != chain_id) or known.genesis_hash != genesis:
        state.refresh_deployment()
    deployment = state.deployment
    index = _index_status(state, chain_id, genesis, head_block)
    return {
        "rpc_url": public_url(state.settings.rpc_url),
        "chain_id": chain_id,
        "head_block": head_block,
        "contract_address": deployment.address if deployment else None,
        "deployment_block": deployment.block_number if deployment else None,
        "error": node_error or state.deployment_error or index["error"],
        "index": index,
    }


@router.get("/status", response_model=StatusOut)
def get_status(request: Request) -> dict[str, Any]:
    """Chain, contract, head block, and the index's progress and counts."""
    return build_status(request)
