"""POST /api/relay: send a wallet's signed post, vote or batch, paying its gas."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from requests import RequestException
from starlette.concurrency import run_in_threadpool

from backend import chain
from backend.api.authors import AddressPath, checksum
from backend.api.contract import current_deployment
from backend.api.schemas import ApiRoute, NonceOut, RelayIn, RelayOut, error_responses
from backend.config import node_unreachable
from backend.content.store import PinStore
from backend.ratelimit import TokenBucket
from backend.relay import Relayer, RelayError

router = APIRouter(prefix="/api", tags=["relay"], route_class=ApiRoute)


def _limiter(request: Request) -> TokenBucket:
    extras = request.app.state.indelible.extras
    if "relay_limiter" not in extras:
        settings = request.app.state.indelible.settings
        extras["relay_limiter"] = TokenBucket(settings.relay_rate, settings.relay_burst)
    return extras["relay_limiter"]


def _relayer(request: Request) -> Relayer:
    state = request.app.state.indelible
    deployment = current_deployment(request)
    relayer = state.extras.get("relayer")
    if relayer is None or relayer.board.address != deployment.address:
        pins = PinStore(state.settings.content_dir)
        relayer = state.extras["relayer"] = Relayer(
            state.w3, chain.board(state.w3, deployment), pins, key=state.settings.relayer_key or None
        )
    return relayer


def _node_unreachable(request: Request, exc: RequestException) -> HTTPException:
    """A 503 for a node that stopped answering after its deployment was found (web3 raises requests' errors)."""
    return HTTPException(status_code=503, detail=node_unreachable(request.app.state.indelible.settings.rpc_url, exc))


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/relay", response_model=RelayOut, responses=error_responses(400, 429, 502, 503))
async def relay(action: RelayIn, request: Request) -> dict[str, Any]:
    """Check a signed post, vote or batch (signature, deadline, nonce, pinned content) and send it."""
    wait = _limiter(request).take(_client(request))
    if wait > 0:
        raise HTTPException(status_code=429, detail=f"too many relay requests: try again in {math.ceil(wait)} s")
    body = action.model_dump()
    try:
        relayer = _relayer(request)
        tx_hash = await run_in_threadpool(relayer.relay, action.kind, body)
    except RelayError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    except RequestException as exc:
        raise _node_unreachable(request, exc) from exc
    return {"tx_hash": tx_hash, "kind": action.kind}


@router.get("/nonces/{address}", response_model=NonceOut, responses=error_responses(422, 503))
def get_nonce(address: AddressPath, request: Request) -> dict[str, Any]:
    """The nonce the signer's next EIP-712 post or vote must carry, read from the contract."""
    signer = checksum(address)
    board = chain.board(request.app.state.indelible.w3, current_deployment(request))
    try:
        nonce = int(board.functions.nonces(signer).call())
    except RequestException as exc:
        raise _node_unreachable(request, exc) from exc
    return {"address": signer, "nonce": nonce}
