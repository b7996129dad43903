"""Adaptive eth_getLogs ranges: halve when the node refuses, double (capped) while blocks are sparse."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RangeSizer:
    """How many blocks the next eth_getLogs asks for."""

    span: int = 100
    max_span: int = 5000
    min_span: int = 1
    # fewer logs than this in a range means blocks are sparse: ask for more next time
    sparse_logs: int = 2000

    def __post_init__(self) -> None:
        self.span = max(self.min_span, min(self.span, self.max_span))

    def shrink(self) -> bool:
        """Halve after a refusal, timeout or "too many results"; False when already at the minimum."""
        if self.span <= self.min_span:
            return False
        self.span = max(self.min_span, self.span // 2)
        return True

    def after(self, blocks: int, logs: int) -> None:
        """Grow after a full-size range that came back sparse."""
        if logs < self.sparse_logs and blocks >= self.span:
            self.span = min(self.max_span, self.span * 2)
        elif logs > 4 * self.sparse_logs:
            self.span = max(self.min_span, self.span // 2)
