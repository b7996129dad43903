"""The head block's time and the node's fees, and the fee fields a relayed transaction carries."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from web3 import Web3

from backend.relay.errors import RelayError, gwei
from backend.relay.node import batch

HEAD_CACHE = 1.0  # seconds a head block, gas price and tip are reused across requests


@dataclass(frozen=True)
class Head:
    """The node's head block time and fees, read in one batch."""

    timestamp: int
    base_fee: int | None
    gas_price: int
    tip: int

    @property
    def fee(self) -> int:
        """What one unit of gas costs now: base fee plus tip, or the legacy gas price."""
        return self.base_fee + self.tip if self.base_fee is not None else self.gas_price


class HeadCache:
    """The head, read at most once a second for every request of this process."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._head: tuple[float, Head] | None = None
        self._lock = threading.Lock()

    def head(self) -> Head:
        """The head block's time and the node's fees, cached for a second."""
        with self._lock:
            now = time.monotonic()
            if self._head is not None and now - self._head[0] < HEAD_CACHE:
                return self._head[1]
            block, price, tip = batch(
                self.w3,
                [("eth_getBlockByNumber", ["latest", False]), ("eth_gasPrice", []), ("eth_maxPriorityFeePerGas", [])],
            )
            if not isinstance(block, dict) or price is None:
                raise RelayError("the node did not give its head block and gas price", status_code=502)
            base_fee = int(block["baseFeePerGas"], 16) if block.get("baseFeePerGas") else None
            gas_price = int(price, 16)
            tip_wei = int(tip, 16) if tip is not None else max(gas_price - (base_fee or 0), 0)
            head = Head(int(block["timestamp"], 16), base_fee, gas_price, tip_wei)
            self._head = (now, head)
            return head


def fee_fields(head: Head, cap: int) -> dict[str, int]:
    """Fee fields that never pay more than ``cap`` wei per gas."""
    if head.base_fee is None:
        return {"gasPrice": min(head.gas_price, cap)}
    max_fee = min(cap, 2 * head.base_fee + head.tip)  # room for the base fee to rise, as web3 does
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(head.tip, max_fee)}


def check_fee(head: Head, cap: int) -> None:
    """503 while gas costs more than ``cap`` wei: the relay pauses rather than overpay."""
    if head.fee > cap:
        detail = f"relay paused: gas price above policy ({gwei(head.fee)} > {gwei(cap)})"
        raise RelayError(detail, status_code=503, retry_after=60)
