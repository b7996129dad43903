"""GET /api/status: which chain and contract this node indexes, and how far."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(prefix="/api", tags=["status"])


def build_status(request: Request) -> dict[str, Any]:
    """The status document shared by the JSON route and the status page."""
    state = request.app.state.indelible
    w3 = state.w3
    try:
        chain_id: int | None = w3.eth.chain_id
        head_block: int | None = w3.eth.block_number
        node_error = None
    except Exception as exc:  # node down: say so instead of failing
        chain_id, head_block, node_error = None, None, str(exc)
    if state.deployment is None or (chain_id is not None and state.deployment.chain_id != chain_id):
        state.refresh_deployment()
    deployment = state.deployment
    return {
        "rpc_url": state.settings.rpc_url,
        "chain_id": chain_id,
        "head_block": head_block,
        "contract_address": deployment.address if deployment else None,
        "deployment_block": deployment.block_number if deployment else None,
        "error": node_error or state.deployment_error,
    }


@router.get("/status")
def get_status(request: Request) -> dict[str, Any]:
    """Chain id, contract address and head block of the node this index follows."""
    return build_status(request)
