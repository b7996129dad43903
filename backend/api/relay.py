"""POST /api/relay: send a wallet's signed post, vote or batch, paying its gas, within the relay's policy.

Cheapest checks first, before anything holds a lock: the client's request rate
(before the body is read), the body size (read with a cap), the refused-body
cache, then the schema, and the relayer's own checks (``backend.relay``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from requests import RequestException
from starlette.concurrency import run_in_threadpool

from backend.api.schemas import NonceOut, RelayIn, RelayOut
from backend.config import node_unreachable
from backend.http.deps import (
    AppChainLink,
    AppSettings,
    ClientAddress,
    IndexEngine,
    RefusedBodies,
    SharedLimits,
    app_state,
    client_address,
)
from backend.http.errors import ApiRoute, error_responses
from backend.http.params import AddressPath, checksum
from backend.http.responses import read_json
from backend.relay.budget import REFUSED_BRIEFLY_TTL, REFUSED_TTL, client_rate_key, refused_body_key
from backend.relay.errors import RelayError
from backend.relay.nonces import pending_nonce
from backend.views.nonces import IndexNotReady, nonce_document


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    """A ``Retry-After`` header in whole seconds; none when no wait would help (unknown or never)."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _refusal(status_code: int, detail: str, retry_after: float | None = None) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"detail": detail}, headers=_retry_after(retry_after))


async def _read_capped(request: Request, cap: int) -> bytes | None:
    """The raw body, or None once it passes ``cap`` bytes (the rest is not read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class RelayRoute(ApiRoute):
    """The relay route: rate limit, body cap and refused-body cache run before FastAPI parses the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the checks that must not cost a parse."""
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            state = app_state(request)  # runs before FastAPI resolves dependencies: the body is not parsed yet
            settings, shared = state.settings, state.limits
            burst = max(settings.relay_burst, 1)
            window = burst * 60.0 / settings.relay_rate if settings.relay_rate > 0 else math.inf
            wait = await run_in_threadpool(shared.take, client_rate_key(client_address(request)), 1, burst, window)
            if wait > 0:
                rate = f"{settings.relay_rate:g} a minute"
                return _refusal(429, f"too many relay requests: at most {rate}; try again in {math.ceil(wait)} s", wait)
            raw = await _read_capped(request, settings.relay_max_body)
            if raw is None:
                return _refusal(413, f"relay body is over {settings.relay_max_body} bytes: send fewer items per batch")
            request._body = raw  # FastAPI parses these bytes; the stream is spent
            key = refused_body_key(raw)
            refused = state.refused.get(key) or (await run_in_threadpool(shared.get, [key])).get(key)
            if refused is not None:
                return _refusal(refused["status"], refused["detail"])
            request.state.refused_key = key
            return await handler(request)

        return route_handler


router = APIRouter(prefix="/api", tags=["relay"], route_class=ApiRoute)
_relay_router = APIRouter(route_class=RelayRoute)


@_relay_router.post("/relay", response_model=RelayOut, responses=error_responses(400, 409, 413, 429, 502, 503))
async def relay(
    action: RelayIn,
    request: Request,
    settings: AppSettings,
    chain_link: AppChainLink,
    shared: SharedLimits,
    refused: RefusedBodies,
    client: ClientAddress,
) -> dict[str, Any]:
    """Check a signed post, vote or batch (policy, signature, deadline, nonce, content, simulation) and send it."""
    body = action.model_dump()
    try:
        relayer = chain_link.require_relayer()
        tx_hash = await run_in_threadpool(relayer.relay, action.kind, body, client)
    except RelayError as exc:
        if exc.status_code == 400:  # about these bytes, not about limits or the node: answer replays from memory
            refusal = {"status": exc.status_code, "detail": exc.detail}
            ttl = REFUSED_TTL if exc.permanent else REFUSED_BRIEFLY_TTL
            refused.put(request.state.refused_key, refusal, ttl)
            await run_in_threadpool(shared.put, {request.state.refused_key: refusal}, ttl)
        raise HTTPException(exc.status_code, exc.detail, headers=_retry_after(exc.retry_after)) from exc
    except RequestException as exc:  # web3 raises requests' errors for a node that stopped answering
        raise HTTPException(status_code=503, detail=node_unreachable(settings.rpc_url, exc)) from exc
    return {"tx_hash": tx_hash, "kind": action.kind}


router.include_router(_relay_router)


@router.get("/nonces/{address}", response_model=NonceOut, responses=error_responses(422, 503))
async def get_nonce(
    address: AddressPath, engine: IndexEngine, limits: SharedLimits, chain_link: AppChainLink
) -> Response:
    """The nonce the signer's next EIP-712 post or vote must carry: the index's, or after our pending relay.

    Read from the index (every NonceUsed) and the relayer's record of what it sent; the node is not asked.
    """
    signer = checksum(address)
    board = chain_link.require_deployment().address
    try:
        return await read_json(
            engine, lambda session: nonce_document(session, signer, board, pending_nonce(limits, board, signer))
        )
    except IndexNotReady as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers=_retry_after(2)) from exc
