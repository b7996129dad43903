"""GET /api/contract: where the Board lives, its ABI and EIP-712 domain, so clients need not trust us."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import Chain
from backend.api.schemas import ApiRoute, ContractOut, error_responses
from backend.documents.service_info import contract_document

router = APIRouter(prefix="/api", tags=["contract"], route_class=ApiRoute)


@router.get("/contract", response_model=ContractOut, responses=error_responses(503))
def get_contract(link: Chain) -> dict[str, Any]:
    """The Board's address, chain id, ABI, deployment block and EIP-712 domain and types."""
    return contract_document(link.require_deployment())
