"""A JSON-RPC proxy that behaves like a hosted provider with ordinary limits, in front of a real chain.

Each behaviour is a field of ``Behaviour`` (off by default), using the providers' own
error texts and codes: eth_getLogs refused past a block span or past a result count
(Infura's "query returned more than 10000 results" -32005 and Alchemy's "Log response size
exceeded" -32602, each with the range they suggest), batches refused over N calls or at all,
429 with ``Retry-After``, 502/503, connections reset mid-request and slow answers. Chance
decides with a seeded ``random.Random``: the same seed gives the same run of fates.
``ProviderProxy.seen`` records every call forwarded and ``fates`` every behaviour applied.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

import httpx

from backend.devchain import free_port

LogStyle = Literal["infura", "alchemy"]


@dataclass
class Behaviour:
    """What the proxy does to requests; every field off by default."""

    seed: int = 21
    log_span: int | None = None  # eth_getLogs over this many blocks: "exceed maximum block range"
    log_results: int | None = None  # eth_getLogs answers with more logs than this are refused
    log_style: LogStyle = "infura"  # whose error text and code the result refusal uses
    batch_max: int | None = None  # batches of more calls are refused (one error object, not a list)
    batches: bool = True  # False: every batch is refused
    rate_429: float = 0.0  # share of HTTP requests answered 429 with Retry-After
    retry_after: str = "1"
    rate_503: float = 0.0
    rate_502: float = 0.0
    rate_reset: float = 0.0  # share of connections closed without an answer
    rate_slow: float = 0.0
    slow_seconds: float = 1.5
    # requests before the chance behaviours start (lets a test set its chain up through the proxy)
    grace_requests: int = 0
    # block tags the node does not know (an older client: no "safe"/"finalized")
    unknown_tags: tuple[str, ...] = ()
    # methods whose first call reaches the node but whose answer is lost (the connection is reset after it)
    lose_answers: tuple[str, ...] = ()
    # the fates of the first requests, in order ("429", "503", "502", "reset", "slow"), before chance decides
    first_fates: tuple[str, ...] = ()


@dataclass
class _Record:
    seen: list[tuple[str, Any]] = field(default_factory=list)  # (method, params) forwarded or refused
    fates: Counter[str] = field(default_factory=Counter)
    requests: int = 0


class ProviderProxy:
    """A threaded HTTP server on its own port forwarding to ``upstream`` through ``behaviour``."""

    def __init__(self, upstream: str, behaviour: Behaviour | None = None, port: int | None = None) -> None:
        self.upstream = upstream
        self.behaviour = behaviour or Behaviour()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._random = random.Random(self.behaviour.seed)
        self._lock = threading.Lock()
        self._record = _Record()
        self._client = httpx.Client(timeout=60)
        self._server = _Server(("127.0.0.1", self.port), _handler(self))
        self._server.proxy = self
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"proxy-{self.port}", daemon=True)

    # -- what happened ------------------------------------------------------------------------------

    @property
    def seen(self) -> list[tuple[str, Any]]:
        """Every JSON-RPC call that reached the proxy's rules, in order."""
        with self._lock:
            return list(self._record.seen)

    @property
    def fates(self) -> Counter[str]:
        """How often each behaviour was applied ("429", "503", "reset", "log_span", "batch_max", ...)."""
        with self._lock:
            return Counter(self._record.fates)

    @property
    def requests(self) -> int:
        """HTTP requests received (a batch is one)."""
        with self._lock:
            return self._record.requests

    def methods(self) -> set[str]:
        """Names of the methods called through the proxy."""
        return {method for method, _ in self.seen}

    # -- life ---------------------------------------------------------------------------------------

    def start(self) -> ProviderProxy:
        """Serve on a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the upstream client."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._client.close()

    def __enter__(self) -> ProviderProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- rules --------------------------------------------------------------------------------------

    def _chance(self) -> str | None:
        """The fate of one HTTP request, drawn from the seeded generator."""
        b = self.behaviour
        with self._lock:
            self._record.requests += 1
            if self._record.requests <= len(b.first_fates):
                return b.first_fates[self._record.requests - 1] or None
            if self._record.requests <= b.grace_requests:
                return None
            roll = self._random.random()
            slow = self._random.random() < b.rate_slow
        for fate, rate in (("429", b.rate_429), ("503", b.rate_503), ("502", b.rate_502), ("reset", b.rate_reset)):
            if roll < rate:
                return fate
            roll -= rate
        return "slow" if slow else None

    def lose_answer(self, body: Any) -> bool:
        """True once per method named in ``lose_answers``: the node acted on the call, the client hears nothing."""
        method = body.get("method") if isinstance(body, dict) else None
        with self._lock:
            if method not in self.behaviour.lose_answers or self._record.fates[f"lost {method}"]:
                return False
            self._record.fates[f"lost {method}"] += 1
            return True

    def _note(self, fate: str) -> None:
        with self._lock:
            self._record.fates[fate] += 1

    def handle(self, body: Any) -> tuple[int, dict[str, str], Any]:
        """Status, headers and JSON answer for one request body (after the chance behaviours)."""
        if isinstance(body, list):
            with self._lock:
                self._record.seen += [(str(c.get("method")), c.get("params")) for c in body if isinstance(c, dict)]
            if not self.behaviour.batches or (self.behaviour.batch_max and len(body) > self.behaviour.batch_max):
                self._note("batch_refused")
                limit = self.behaviour.batch_max if self.behaviour.batches else 0
                message = f"batch size too large: at most {limit} calls" if limit else "batch requests are not allowed"
                return 200, {}, {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
            refused = {i: self._refuse_before(call) for i, call in enumerate(body)}
            forward = [call for i, call in enumerate(body) if refused[i] is None]
            answers = self._forward(forward) if forward else []
            by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
            out = []
            for i, call in enumerate(body):
                answer = refused[i] or by_id.get(call.get("id"))
                out.append(self._refuse_after(call, answer) if refused[i] is None else answer)
            return 200, {}, out
        if not isinstance(body, dict):
            return 400, {}, {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
        with self._lock:
            self._record.seen.append((str(body.get("method")), body.get("params")))
        answer = self._refuse_before(body)
        if answer is None:
            answer = self._refuse_after(body, self._forward(body))
        return 200, {}, answer

    def _forward(self, payload: Any) -> Any:
        return self._client.post(self.upstream, json=payload).json()

    def _refuse_before(self, call: dict[str, Any]) -> dict[str, Any] | None:
        """A block-span refusal of eth_getLogs, or an unknown block tag, decided from the call alone."""
        params = call.get("params") or []
        if call.get("method") == "eth_getBlockByNumber" and params and params[0] in self.behaviour.unknown_tags:
            self._note("unknown_tag")
            error = {"code": -32602, "message": f"invalid argument 0: unknown block tag {params[0]!r}"}
            return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
        span = self.behaviour.log_span
        if call.get("method") != "eth_getLogs" or span is None:
            return None
        first, last = _log_range(call, self._head)
        if last - first + 1 <= span:
            return None
        self._note("log_span")
        error = {"code": -32600, "message": f"exceed maximum block range: {span}"}
        return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}

    def _refuse_after(self, call: dict[str, Any], answer: Any) -> Any:
        """A result-count refusal of eth_getLogs, in Infura's or Alchemy's words, with the range they suggest."""
        cap = self.behaviour.log_results
        if call.get("method") != "eth_getLogs" or cap is None or not isinstance(answer, dict):
            return answer
        logs = answer.get("result")
        if not isinstance(logs, list) or len(logs) <= cap:
            return answer
        self._note("log_results")
        first, _ = _log_range(call, self._head)
        # the widest range from ``first`` whose logs fit, as the providers compute it for their hint
        fits = int(logs[cap]["blockNumber"], 16) - 1
        suggestion = f"[{hex(first)}, {hex(max(first, fits))}]"
        if self.behaviour.log_style == "alchemy":
            message = (
                "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no "
                "limit on the response size, or you can request any block range with a cap of 10K logs in the "
                f"response. Based on your parameters, this block range should work: {suggestion}"
            )
            error = {"code": -32602, "message": message}
        else:
            error = {"code": -32005, "message": f"query returned more than {cap} results. Try with this block range "
                     f"{suggestion}."}  # fmt: skip
        return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}

    def _head(self) -> int:
        return int(self._forward({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []})["result"], 16)


class _Server(ThreadingHTTPServer):
    """Counts a request its handler could not finish (a client gone, a reset of ours) instead of printing it."""

    proxy: ProviderProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.proxy._note("handler_error")


def _log_range(call: dict[str, Any], head: Any) -> tuple[int, int]:
    query = (call.get("params") or [{}])[0]

    def number(tag: Any) -> int:
        if isinstance(tag, str) and tag.startswith("0x"):
            return int(tag, 16)
        return 0 if tag == "earliest" else int(head())

    return number(query.get("fromBlock", "latest")), number(query.get("toBlock", "latest"))


def _handler(proxy: ProviderProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``fates`` and ``seen`` instead."""

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            fate = proxy._chance()
            if fate is not None:
                proxy._note(fate)
            if fate == "reset":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fate in ("429", "503", "502"):
                headers = {"retry-after": proxy.behaviour.retry_after} if fate == "429" else {}
                self._send(int(fate), headers, {"error": "too many requests" if fate == "429" else "unavailable"})
                return
            if fate == "slow":
                time.sleep(proxy.behaviour.slow_seconds)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            status, headers, answer = proxy.handle(body)
            if proxy.lose_answer(body):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(status, headers, answer)

        def _send(self, status: int, headers: dict[str, str], answer: Any) -> None:
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
