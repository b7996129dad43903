"""GET /api/status: which chain and contract this node indexes, how far, and what the index holds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import AppSettings, Chain, IndexEngine, LocalIndexer, SharedLimits
from backend.api.schemas import ApiRoute, StatusOut
from backend.documents.service_info import status_document

router = APIRouter(prefix="/api", tags=["status"], route_class=ApiRoute)


@router.get("/status", response_model=StatusOut)
def get_status(
    settings: AppSettings, engine: IndexEngine, link: Chain, limits: SharedLimits, indexer: LocalIndexer
) -> dict[str, Any]:
    """Chain, contract, head block, and the index's progress and counts (as the indexer last published them)."""
    return status_document(settings, engine, link, limits, indexer)
