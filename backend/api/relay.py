"""POST /api/relay: send a wallet's signed post, vote or batch, paying its gas, within the relay's policy.

Cheapest checks first, before anything holds a lock: the client's request rate
(before the body is read), the body size (read with a cap), the refused-body
cache, then the schema, and the relayer's own checks (``backend.relayer``).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from eth_account import Account
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from requests import RequestException
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from backend import chain, limits
from backend.api.authors import AddressPath, checksum
from backend.api.contract import current_deployment
from backend.api.schemas import ApiRoute, NonceOut, RelayIn, RelayOut, error_responses
from backend.config import node_unreachable
from backend.content.pins import PinStore
from backend.relayer import REFUSED_BRIEFLY_TTL, REFUSED_TTL, RELAYER_KEY_ENV, Policy, Relayer, RelayError

BALANCE_CACHE = 5.0  # seconds the relayer's balance is reused by /api/status and the key page


def _client(request: Request) -> str:
    return limits.client_key(request.client.host if request.client else None)


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


class _RefusedMemo:
    """This process's copy of recent refusals (the shared store has them all): a replay here skips the database."""

    MAX = 10_000

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        """The refusal remembered under ``key``, unless expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, refusal: dict[str, Any], ttl: float) -> None:
        """Remember ``refusal`` for ``ttl`` seconds."""
        if len(self._entries) >= self.MAX:  # drop the oldest half: dicts keep insertion order
            for old in list(self._entries)[: self.MAX // 2]:
                del self._entries[old]
        self._entries[key] = (time.monotonic() + ttl, refusal)


def _memo(state: Any) -> _RefusedMemo:
    memo = state.extras.get("relay_refused_memo")
    if memo is None:
        memo = state.extras["relay_refused_memo"] = _RefusedMemo()
    return memo  # type: ignore[no-any-return]


class RelayRoute(ApiRoute):
    """The relay route: rate limit, body cap and refused-body cache run before FastAPI parses the body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler with the checks that must not cost a parse."""
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            state = request.app.state.indelible
            settings = state.settings
            shared = limits.of(state)
            burst = max(settings.relay_burst, 1)
            window = burst * 60.0 / settings.relay_rate if settings.relay_rate > 0 else math.inf
            wait = await run_in_threadpool(shared.take, f"relay:client:{_client(request)}", 1, burst, window)
            if wait > 0:
                rate = f"{settings.relay_rate:g} a minute"
                return _refusal(429, f"too many relay requests: at most {rate}; try again in {math.ceil(wait)} s", wait)
            raw = await _read_capped(request, settings.relay_max_body)
            if raw is None:
                return _refusal(413, f"relay body is over {settings.relay_max_body} bytes: send fewer items per batch")
            request._body = raw  # FastAPI parses these bytes; the stream is spent
            key = f"relay:refused:body:{hashlib.sha256(raw).hexdigest()}"
            refused = _memo(state).get(key) or (await run_in_threadpool(shared.get, [key])).get(key)
            if refused is not None:
                return _refusal(refused["status"], refused["detail"])
            request.state.refused_key = key
            return await handler(request)

        return route_handler


router = APIRouter(prefix="/api", tags=["relay"], route_class=ApiRoute)
_relay_router = APIRouter(route_class=RelayRoute)


def _relayer(request: Request) -> Relayer:
    state = request.app.state.indelible
    deployment = current_deployment(request)
    relayer = state.extras.get("relayer")
    if relayer is None or relayer.board.address != deployment.address:
        pins = PinStore(state.settings.content_dir)
        relayer = state.extras["relayer"] = Relayer(
            state.w3,
            chain.board(state.w3, deployment),
            pins,
            limits.of(state),
            Policy.from_settings(state.settings),
            key=state.settings.relayer_key or None,
        )
    return relayer


def _node_unreachable(request: Request, exc: RequestException) -> HTTPException:
    """A 503 for a node that stopped answering after its deployment was found (web3 raises requests' errors)."""
    return HTTPException(status_code=503, detail=node_unreachable(request.app.state.indelible.settings.rpc_url, exc))


@_relay_router.post("/relay", response_model=RelayOut, responses=error_responses(400, 409, 413, 429, 502, 503))
async def relay(action: RelayIn, request: Request) -> dict[str, Any]:
    """Check a signed post, vote or batch (policy, signature, deadline, nonce, content, simulation) and send it."""
    body = action.model_dump()
    try:
        relayer = _relayer(request)
        tx_hash = await run_in_threadpool(relayer.relay, action.kind, body, _client(request))
    except RelayError as exc:
        if exc.status_code == 400:  # about these bytes, not about limits or the node: answer replays from memory
            refusal = {"status": exc.status_code, "detail": exc.detail}
            ttl = REFUSED_TTL if exc.permanent else REFUSED_BRIEFLY_TTL
            state = request.app.state.indelible
            _memo(state).put(request.state.refused_key, refusal, ttl)
            await run_in_threadpool(limits.of(state).put, {request.state.refused_key: refusal}, ttl)
        raise HTTPException(exc.status_code, exc.detail, headers=_retry_after(exc.retry_after)) from exc
    except RequestException as exc:
        raise _node_unreachable(request, exc) from exc
    return {"tx_hash": tx_hash, "kind": action.kind}


router.include_router(_relay_router)


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


def relay_status(state: Any) -> dict[str, Any]:
    """The relayer's address, balance and the gas budget left this hour, for /api/status and the key page.

    No JSON-RPC call on the request path once warm: the address and balance are refreshed on a thread when
    older than a few seconds (the first call reads them inline); the budget is one query of the shared store.
    """
    settings = state.settings
    policy = Policy.from_settings(settings)
    info = state.extras.get("relay_info")
    if info is None:
        info = _refresh_relay_info(state)
    elif time.monotonic() - info["at"] > BALANCE_CACHE and not state.extras.get("relay_info_refreshing"):
        state.extras["relay_info_refreshing"] = True
        threading.Thread(target=_refresh_relay_info, args=(state,), name="relay-balance", daemon=True).start()
    status: dict[str, Any] = {
        "address": info["address"],
        "balance_wei": info["balance_wei"],
        "gas_per_hour": policy.gas_per_hour,
        "gas_left_this_hour": None,
        "max_fee_gwei": settings.relay_max_fee_gwei,
        "error": info["error"],
    }
    if info["address"] is not None and info["chain_id"] is not None:
        key = f"relay:gas:{info['chain_id']}:{info['address']}"
        try:
            status["gas_left_this_hour"] = int(limits.of(state).left(key, policy.gas_per_hour, 3600.0))
        except SQLAlchemyError as exc:
            status["error"] = f"database unavailable: {exc.__class__.__name__}"
    return status


def _refresh_relay_info(state: Any) -> dict[str, Any]:
    """Read the relayer's address, chain and balance from the node into ``extras["relay_info"]``."""
    known = state.extras.get("relay_info") or {}
    info: dict[str, Any] = {"address": None, "balance_wei": None, "chain_id": None, "error": None}
    try:  # the address and chain do not change under a running app: only the balance is read again
        info["address"] = known.get("address") or _relayer_address(state)
        deployment = state.deployment
        info["chain_id"] = known.get("chain_id") or (deployment.chain_id if deployment else int(state.w3.eth.chain_id))
        info["balance_wei"] = int(state.w3.eth.get_balance(info["address"]))
    except RelayError as exc:
        info["error"] = exc.detail
    except Exception as exc:  # the node is down: the status page still answers
        info["error"] = node_unreachable(state.settings.rpc_url, exc)
    info["at"] = time.monotonic()
    state.extras["relay_info"] = info
    state.extras["relay_info_refreshing"] = False
    return info


def _relayer_address(state: Any) -> str:
    relayer = state.extras.get("relayer")
    if relayer is not None:
        return str(relayer.sender)
    if state.settings.relayer_key:
        return str(Account.from_key(state.settings.relayer_key).address)
    accounts = state.w3.eth.accounts
    if len(accounts) < 2:
        raise RelayError(f"no relayer account: set {RELAYER_KEY_ENV}", status_code=503)
    return str(accounts[1])
