"""The head block's time and the node's fees, and the fee fields a relayed transaction carries.

Fees come from ``eth_feeHistory`` where the node has it (EIP-1559): the base fee of the next block
(the last entry of ``baseFeePerGas``) and the median tip paid in the last blocks that held transactions,
never less than the node's ``eth_maxPriorityFeePerGas`` (dev chains' blocks pay no tip); the gas price on a
legacy chain.
A transaction may pay up to twice the next base fee plus the tip, never more than the policy's cap.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from backend.relay.errors import RelayError, gwei
from backend.relay.node import batch

HEAD_CACHE = 1.0  # seconds a head block, gas price and tip are reused across requests
FEE_HISTORY_BLOCKS = 5  # blocks whose median tip (50th percentile) sets ours
BUMP = 1.125  # a replacement pays at least this much more per gas (nodes ask 10 % more to replace)


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

    def head(self, fresh: bool = False) -> Head:
        """The head block's time and the node's fees, cached for a second (unless ``fresh``), in one batch."""
        with self._lock:
            now = time.monotonic()
            if not fresh and self._head is not None and now - self._head[0] < HEAD_CACHE:
                return self._head[1]
            block, price, tip, history = batch(
                self.w3,
                [
                    ("eth_getBlockByNumber", ["latest", False]),
                    ("eth_gasPrice", []),
                    ("eth_maxPriorityFeePerGas", []),
                    ("eth_feeHistory", [hex(FEE_HISTORY_BLOCKS), "latest", [50]]),
                ],
            )
            if not isinstance(block, dict) or price is None:
                raise RelayError("the node did not give its head block and gas price", status_code=502)
            base_fee = int(block["baseFeePerGas"], 16) if block.get("baseFeePerGas") else None
            gas_price = int(price, 16)
            tip_wei = int(tip, 16) if tip is not None else max(gas_price - (base_fee or 0), 0)
            if base_fee is not None and isinstance(history, dict) and history.get("baseFeePerGas"):
                base_fee = int(history["baseFeePerGas"][-1], 16)  # the next block's
                tip_wei = _median_tip(history, tip_wei)
            head = Head(int(block["timestamp"], 16), base_fee, gas_price, tip_wei)
            self._head = (now, head)
            return head


def _median_tip(history: dict[str, Any], node_tip: int) -> int:
    """The median of the blocks' median tips (blocks that held transactions), at least the node's suggested tip."""
    rewards = history.get("reward") or []
    ratios = history.get("gasUsedRatio") or []
    tips = sorted(int(reward[0], 16) for reward, ratio in zip(rewards, ratios, strict=False) if reward and ratio > 0)
    return max(tips[len(tips) // 2], node_tip) if tips else node_tip


def fee_fields(head: Head, cap: int) -> dict[str, int]:
    """Fee fields that never pay more than ``cap`` wei per gas."""
    if head.base_fee is None:
        return {"gasPrice": min(head.gas_price, cap)}
    max_fee = min(cap, 2 * head.base_fee + head.tip)  # room for the base fee to rise, as web3 does
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(head.tip, max_fee)}


def bumped(fields: dict[str, int], head: Head, cap: int) -> dict[str, int] | None:
    """Fees to replace a transaction that paid ``fields``: now's, and at least ``BUMP`` times those; None if capped."""
    now = fee_fields(head, cap)
    if "gasPrice" in fields:
        price = min(cap, max(now.get("gasPrice", 0), math.ceil(fields["gasPrice"] * BUMP)))
        return {"gasPrice": price} if price >= fields["gasPrice"] * BUMP else None
    max_fee = min(cap, max(now.get("maxFeePerGas", 0), math.ceil(fields["maxFeePerGas"] * BUMP)))
    tip = min(max_fee, max(now.get("maxPriorityFeePerGas", 0), math.ceil(fields["maxPriorityFeePerGas"] * BUMP)))
    if max_fee < fields["maxFeePerGas"] * BUMP or tip < fields["maxPriorityFeePerGas"] * BUMP:
        return None  # the cap leaves no room for a replacement the node would take
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}


def check_fee(head: Head, cap: int) -> None:
    """503 while gas costs more than ``cap`` wei: the relay pauses rather than overpay."""
    if head.fee > cap:
        detail = f"relay paused: gas price above policy ({gwei(head.fee)} > {gwei(cap)})"
        raise RelayError(detail, status_code=503, retry_after=60)
