"""GET /api/contract: where the Board lives, its ABI and EIP-712 domain, so clients need not trust us."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.schemas import ContractOut
from backend.http.deps import AppChainLink
from backend.http.errors import ApiRoute, error_responses
from backend.views.service_info import contract_document

router = APIRouter(prefix="/api", tags=["contract"], route_class=ApiRoute)


@router.get("/contract", response_model=ContractOut, responses=error_responses(503))
def get_contract(chain_link: AppChainLink) -> dict[str, Any]:
    """The Board's address, chain id, ABI, deployment block and EIP-712 domain and types."""
    return contract_document(chain_link.require_deployment())
