"""A small JSON-RPC client for the indexer: raw answers (no web3 formatting), batches, clear errors.

Retries, backoff and the provider's batch limit are the transport's (``backend.provider``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from backend.provider import Limits, RpcError, Transport

__all__ = ["Rpc", "RpcError"]


class Rpc:
    """JSON-RPC over HTTP to one node."""

    def __init__(
        self, url: str, timeout: float = 30.0, *, log_topics: Sequence[str] = (), budget: float = 60.0
    ) -> None:
        self.url = url
        # eth_getLogs asks only for logs whose first topic is one of these (all logs when empty)
        self.log_topics = list(log_topics)
        self._transport = Transport(url, timeout, budget=budget)
        self._ids = itertools.count(1)

    @property
    def limits(self) -> Limits:
        """What the provider taught this process (shared by every client of its URL)."""
        return self._transport.limits

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._transport.close()

    @staticmethod
    def _result(answer: Any) -> Any:
        if not isinstance(answer, dict):
            raise RpcError(f"malformed answer: {str(answer)[:200]}")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {"message": answer["error"]}
            code = error.get("code")
            raise RpcError(str(error.get("message", error)), code=code if isinstance(code, int) else None)
        return answer.get("result")

    def call(self, method: str, *params: Any) -> Any:
        """One call; RpcError on failure."""
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return self._result(self._transport.post(request))

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in as few HTTP requests as the provider takes; results in the order of ``calls``."""
        if not calls:
            return []
        requests = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls]
        return [self._result(answer) for answer in self._transport.batch(requests)]

    def block_number(self) -> int:
        """The head block number."""
        return int(self.call("eth_blockNumber"), 16)

    def block(self, number: int) -> dict[str, Any] | None:
        """The header of block ``number`` (None when the chain is shorter)."""
        result: dict[str, Any] | None = self.call("eth_getBlockByNumber", hex(number), False)
        return result

    def blocks(self, numbers: list[int]) -> list[dict[str, Any] | None]:
        """Headers of several blocks in one request."""
        return self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])

    def get_logs(self, address: str, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Raw logs of ``address`` in [from_block, to_block], of the ``log_topics`` when set."""
        query: dict[str, Any] = {"address": address, "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        if self.log_topics:
            query["topics"] = [self.log_topics]
        result: list[dict[str, Any]] = self.call("eth_getLogs", query)
        return result
