"""JSON-RPC batches to the node: one round trip for many reads."""

from __future__ import annotations

from typing import Any, cast

from web3 import Web3
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint

from backend.relay.errors import RelayError


def batch(w3: Web3, requests: list[tuple[str, list[Any]]]) -> list[Any]:
    """Results of one JSON-RPC batch, in order; None for a call the node answered with an error."""
    if not requests:
        return []
    # the relayer's Web3 is made on an HTTP provider (chain.connect), which batches
    provider = cast(JSONBaseProvider, w3.provider)
    answers = provider.make_batch_request([(RPCEndpoint(method), params) for method, params in requests])
    if not isinstance(answers, list):  # the node refused the whole batch
        raise RelayError(f"the node refused a batch request: {answers}", status_code=502)
    return [answer.get("result") if isinstance(answer, dict) else None for answer in answers]


def receipts(w3: Web3, txs: list[str]) -> list[Any]:
    """The receipts of ``txs`` in one batch (None for one not mined or unknown)."""
    return batch(w3, [("eth_getTransactionReceipt", [tx]) for tx in txs])


def knows(w3: Web3, tx_hash: str) -> bool:
    """Whether the node knows ``tx_hash`` (pending or mined)."""
    answer = w3.provider.make_request(RPCEndpoint("eth_getTransactionByHash"), [tx_hash])
    return answer.get("result") is not None
