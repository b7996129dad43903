"""GET /api/contract: where the Board lives, its ABI and EIP-712 domain, so clients need not trust us."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from backend.api.schemas import ApiRoute, ContractOut, error_responses
from backend.chain import Deployment
from backend.eip712 import EIP712_TYPES, PRIMARY_TYPES, domain

router = APIRouter(prefix="/api", tags=["contract"], route_class=ApiRoute)


def current_deployment(request: Request) -> Deployment:
    """The deployment this node follows; 503 when there is none (yet)."""
    state = request.app.state.indelible
    if state.deployment is None:
        state.refresh_deployment()
    if state.deployment is None:
        raise HTTPException(status_code=503, detail=f"no Board deployment available: {state.deployment_error}")
    return state.deployment


def build_contract(deployment: Deployment) -> dict[str, Any]:
    """The contract document shared by the JSON route and any page."""
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
    }


@router.get("/contract", response_model=ContractOut, responses=error_responses(503))
def get_contract(request: Request) -> dict[str, Any]:
    """The Board's address, chain id, ABI, deployment block and EIP-712 domain and types."""
    return build_contract(current_deployment(request))
