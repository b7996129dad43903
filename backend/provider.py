"""Talking to a JSON-RPC provider that has limits: retries, backoff, and the limits it taught us.

Hosted providers answer 429 with ``Retry-After`` when throttled, 502/503 when busy, reset
connections, answer slowly, cap or refuse JSON-RPC batches and refuse ``eth_getLogs`` past
a block span or a result count. ``Transport`` posts JSON through all of that: it waits out
``Retry-After`` (shared by every caller of the URL, so one throttled answer slows them all),
backs off with jitter on the rest, and splits a refused batch, halving the batch size it
learned. What it learned (``Limits``) is kept per URL for the life of the process.
``NodeProvider`` is the same transport under web3.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import requests
from eth_utils.crypto import keccak
from web3 import HTTPProvider
from web3.types import RPCEndpoint, RPCResponse

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}
BATCH_REFUSED_STATUSES = {400, 405, 413, 415, 422}
FIRST_BATCH_SIZE = 50
BASE_DELAY = 0.25  # seconds before the first retry; doubles per attempt, with jitter
MAX_DELAY = 8.0
CONNECT_RETRIES = 2  # a refused connection is tried this many times more (a restarting node), not for the budget
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is taken as this (a provider's own bug should not stall us an hour)
THROTTLED_SECONDS = 30.0  # /status calls the node throttled this long after the last 429
_BATCH_WORDS = re.compile(r"batch", re.IGNORECASE)


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error, or not at all (after the retries the transport allows)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        timeout: bool = False,
        throttled: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code  # the JSON-RPC error code: the node understood the call and refused it
        self.timeout = timeout
        self.throttled = throttled  # 429s, busy answers or resets until the retry budget ran out
        self.status = status  # the HTTP status of a non-200 answer


@dataclass
class Limits:
    """What one provider taught this process: batch size, eth_getLogs span, and how often it pushed back."""

    batch_size: int = FIRST_BATCH_SIZE  # calls per JSON-RPC batch; 1: batches are sent as single calls
    log_span: int | None = None  # the widest eth_getLogs block span it accepts; None until it refused one
    throttles: int = 0  # 429 answers since start
    retries: int = 0  # requests sent again (429, 5xx, resets, timeouts) since start
    split_batches: int = 0  # batches refused and sent again in smaller parts
    refused_ranges: int = 0  # eth_getLogs ranges refused and asked again smaller
    last_throttled_at: float = 0.0  # wall clock of the last 429
    wait_until: float = 0.0  # monotonic: no request before this (the last Retry-After)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def throttled(self) -> bool:
        """A 429 came within the last THROTTLED_SECONDS."""
        return self.last_throttled_at > 0 and time.time() - self.last_throttled_at < THROTTLED_SECONDS

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy for /api/status."""
        return {
            "throttled": self.throttled(),
            "throttles": self.throttles,
            "retries": self.retries,
            "batch_size": self.batch_size,
            "log_span": self.log_span,
            "split_batches": self.split_batches,
            "refused_ranges": self.refused_ranges,
        }


_LIMITS: dict[str, Limits] = {}
_LIMITS_LOCK = threading.Lock()


def limits_of(url: str) -> Limits:
    """The limits learned for ``url`` in this process (one object per URL, shared by every client of it)."""
    with _LIMITS_LOCK:
        return _LIMITS.setdefault(url, Limits())


def retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date), capped; None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))


def backoff(attempt: int) -> float:
    """Seconds before retry number ``attempt`` (0-based): exponential, capped, with full jitter in its upper half."""
    ceiling: float = min(MAX_DELAY, BASE_DELAY * 2.0**attempt)
    return ceiling * random.uniform(0.5, 1.0)


class BatchRefused(RpcError):
    """The provider refused a batch as a whole (too many calls, or batches at all)."""


class Transport:
    """JSON over HTTP to one provider, retried within ``budget`` seconds; batches split to what it accepts."""

    def __init__(self, url: str, timeout: float = 30.0, *, budget: float = 60.0) -> None:
        self.url = url
        self.budget = budget  # the most one request may spend retrying before RpcError(throttled=True)
        self.limits = limits_of(url)
        self._client = httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def post(self, payload: Any) -> Any:
        """The decoded JSON answer to ``payload``; retried on 429, 5xx, resets and timeouts."""
        deadline = time.monotonic() + self.budget
        attempt = 0
        while True:
            self._wait_turn(deadline)
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TimeoutException as exc:
                failure: RpcError = RpcError(f"{self.url}: timed out", timeout=True)
                failure.__cause__ = exc
                delay = backoff(attempt)
            except httpx.ConnectError as exc:  # nothing listens: a few quick tries, then the caller says so
                failure = RpcError(f"{self.url}: {exc}")
                failure.__cause__ = exc
                if attempt >= CONNECT_RETRIES:
                    raise failure from exc
                delay = backoff(attempt)
            except httpx.HTTPError as exc:  # reset, closed mid-answer
                failure = RpcError(f"{self.url}: {type(exc).__name__}: {exc}")
                failure.__cause__ = exc
                delay = backoff(attempt)
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        failure = RpcError(f"{self.url}: the answer is not JSON ({response.text[:80]!r})")
                        delay = backoff(attempt)
                elif response.status_code in RETRY_STATUSES:
                    failure = RpcError(
                        f"{self.url}: HTTP {response.status_code} {response.text[:200]}",
                        throttled=response.status_code == 429,
                        status=response.status_code,
                    )
                    delay = self._pushed_back(response, attempt)
                elif isinstance(payload, list) and response.status_code in BATCH_REFUSED_STATUSES:
                    raise BatchRefused(f"{self.url}: HTTP {response.status_code} {response.text[:200]}")
                else:
                    raise _http_refusal(self.url, response)
            if time.monotonic() + delay > deadline:  # the budget is spent: the caller reports it and tries later
                failure.throttled = failure.status in RETRY_STATUSES
                raise failure
            with self.limits.lock:
                self.limits.retries += 1
            log.debug("%s; retrying in %.2f s", failure, delay)
            time.sleep(delay)
            attempt += 1

    def _pushed_back(self, response: httpx.Response, attempt: int) -> float:
        """The delay a 429/5xx asks for; a Retry-After holds back every caller of this URL until then."""
        asked = retry_after(response.headers.get("retry-after"))
        delay = backoff(attempt) if asked is None else asked + random.uniform(0, 0.1 + asked / 10)
        with self.limits.lock:
            if response.status_code == 429:
                self.limits.throttles += 1
                self.limits.last_throttled_at = time.time()
            if asked is not None:
                self.limits.wait_until = max(self.limits.wait_until, time.monotonic() + delay)
        return delay

    def _wait_turn(self, deadline: float) -> None:
        """Sleep out a Retry-After another caller was given (at most until ``deadline``)."""
        wait = self.limits.wait_until - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))

    def batch(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answers to JSON-RPC ``requests`` (each with an id), in their order, in batches the provider accepts.

        A refused batch is sent again in halves, and the smaller size kept for later batches;
        at size 1 the calls go one by one, unbatched.
        """
        answers: list[dict[str, Any]] = []
        position = 0
        while position < len(requests):
            size = self.limits.batch_size
            part = requests[position : position + size]
            try:
                answers += self._send_part(part)
            except BatchRefused as exc:
                with self.limits.lock:
                    if self.limits.batch_size >= size and size > 1:
                        self.limits.batch_size = max(1, min(size, len(part)) // 2)
                        self.limits.split_batches += 1
                        log.info("%s: batch of %d refused (%s): sending %d at a time", self.url, len(part),
                                 exc, self.limits.batch_size)  # fmt: skip
                    elif size <= 1:
                        raise RpcError(f"{self.url}: a single call was refused as a batch: {exc}") from exc
                continue  # the same position again, smaller
            position += len(part)
        return answers

    def _send_part(self, part: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(part) == 1 and self.limits.batch_size == 1:
            return [self._single(self.post(part[0]), part[0])]
        answer = self.post(part)
        if not isinstance(answer, list):  # one error object for the whole batch
            raise BatchRefused(f"{self.url}: {_error_text(answer)}")
        if len(part) > 1 and answer and all(_refuses_batch(item) for item in answer):
            raise BatchRefused(f"{self.url}: {_error_text(answer[0])}")
        by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
        missing = {"jsonrpc": "2.0", "error": {"code": -32603, "message": "the provider left this call unanswered"}}
        return [by_id.get(request["id"], {**missing, "id": request["id"]}) for request in part]

    @staticmethod
    def _single(answer: Any, request: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(answer, dict):
            return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32603, "message": "malformed answer"}}
        return answer


def _http_refusal(url: str, response: httpx.Response) -> RpcError:
    """A non-200 answer as an error; a JSON-RPC error in its body keeps its code (some providers send 400 + error)."""
    text = f"{url}: HTTP {response.status_code} {response.text[:200]}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        message = str(body["error"].get("message", ""))[:300]
        return RpcError(message or text, code=code if isinstance(code, int) else None, status=response.status_code)
    return RpcError(text, status=response.status_code)


def _error_text(answer: Any) -> str:
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        error = answer["error"]
        return f"{error.get('message', '')} ({error.get('code')})"
    return str(answer)[:200]


def _refuses_batch(answer: Any) -> bool:
    """An answer that refuses the batch it came in, not the call: "batch size too large", "batch not allowed"."""
    if not isinstance(answer, dict) or not isinstance(answer.get("error"), dict):
        return False
    return bool(_BATCH_WORDS.search(str(answer["error"].get("message", ""))))


def _known_is_sent(transport: Transport, request: dict[str, Any], answer: Any) -> Any:
    """A raw transaction refused as known or stale after our own retry (the first answer was lost) was sent.

    The node is asked for it by hash: when it has it, the answer is its hash, as for a first send.
    """
    if not isinstance(answer, dict) or "error" not in answer:
        return answer
    raw = bytes.fromhex(str(request["params"][0]).removeprefix("0x"))
    tx_hash = "0x" + keccak(raw).hex()
    lookup = {"jsonrpc": "2.0", "id": request.get("id"), "method": "eth_getTransactionByHash", "params": [tx_hash]}
    found = transport.post(lookup)
    if isinstance(found, dict) and isinstance(found.get("result"), dict):
        return {"jsonrpc": "2.0", "id": request.get("id"), "result": tx_hash}
    return answer


class NodeProvider(HTTPProvider):
    """web3's HTTP provider on a ``Transport``: the relayer, join and the web process share its retries and limits."""

    def __init__(self, url: str, timeout: float = 30.0, *, budget: float = 20.0) -> None:
        super().__init__(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)
        self.transport = Transport(url, timeout, budget=budget)

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        request = json.loads(request_data)
        try:
            answer = self.transport.post(request)
            if method == "eth_sendRawTransaction":
                answer = _known_is_sent(self.transport, request, answer)
        except RpcError as exc:
            answer = {
                "jsonrpc": "2.0",
                "id": request.get("id"),
                "error": {"code": exc.code or -32603, "message": str(exc)},
            }
            if exc.code is None:  # web3's callers catch requests' errors for a node that stopped answering
                raise requests.ConnectionError(str(exc)) from exc
        return json.dumps(answer).encode()

    def make_batch_request(self, batch_requests: list[tuple[RPCEndpoint, Any]]) -> list[RPCResponse] | RPCResponse:
        calls = json.loads(self.encode_batch_rpc_request(batch_requests))
        try:
            answers = self.transport.batch(calls)
        except RpcError as exc:
            if exc.code is None:
                raise requests.ConnectionError(str(exc)) from exc
            return cast(RPCResponse, {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": str(exc)}})
        return cast(list[RPCResponse], answers)
