"""GET /api/status: which chain and contract this node indexes, how far, and what the index holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.schemas import StatusOut
from backend.http.deps import AppChainLink, AppSettings, IndexEngine, LocalIndexer, SharedLimits
from backend.http.errors import ApiRoute
from backend.views.service_info import status_document

router = APIRouter(prefix="/api", tags=["status"], route_class=ApiRoute)


@router.get("/status", response_model=StatusOut)
def get_status(
    settings: AppSettings, engine: IndexEngine, chain_link: AppChainLink, limits: SharedLimits, indexer: LocalIndexer
) -> dict[str, Any]:
    """Chain, contract, head block, and the index's progress and counts (as the indexer last published them)."""
    return status_document(settings, engine, chain_link, limits, indexer)
