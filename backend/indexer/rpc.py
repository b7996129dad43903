"""A small JSON-RPC client for the indexer: raw answers (no web3 formatting), batches, clear errors."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error, or not at all."""

    def __init__(self, message: str, *, code: int | None = None, timeout: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.timeout = timeout


class Rpc:
    """JSON-RPC over HTTP to one node."""

    def __init__(self, url: str, timeout: float = 30.0, *, log_topics: Sequence[str] = ()) -> None:
        self.url = url
        # eth_getLogs asks only for logs whose first topic is one of these (all logs when empty)
        self.log_topics = list(log_topics)
        self._client = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _post(self, payload: Any) -> Any:
        try:
            response = self._client.post(self.url, json=payload)
        except httpx.TimeoutException as exc:
            raise RpcError(f"{self.url}: timed out", timeout=True) from exc
        except httpx.HTTPError as exc:
            raise RpcError(f"{self.url}: {exc}") from exc
        if response.status_code != 200:
            raise RpcError(f"{self.url}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    @staticmethod
    def _result(answer: dict[str, Any]) -> Any:
        if "error" in answer:
            error = answer["error"] or {}
            raise RpcError(str(error.get("message", error)), code=error.get("code"))
        return answer.get("result")

    def call(self, method: str, *params: Any) -> Any:
        """One call; RpcError on failure."""
        return self._result(self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}))

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in one HTTP request; results in the order of ``calls``."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
        answers = self._post(payload)
        if not isinstance(answers, list):
            return [self._result(answers)]
        by_id = {answer.get("id"): answer for answer in answers}
        return [self._result(by_id.get(i, {"error": {"message": "missing answer"}})) for i in ids]

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
