"""Fetch: a block range's raw logs and the headers that anchor them, sized to what the node accepts.

Everything here asks the node and returns its raw answers (no decoding, no database).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backend.indexer.decode import Event
from backend.indexer.rpc import Rpc, RpcError

log = logging.getLogger(__name__)

Header = dict[str, Any]  # a raw block header: hash, parentHash, timestamp (hex)


class RangeChanged(RuntimeError):
    """The chain moved under a range while we read it: read the range again."""


@dataclass
class RangeSizer:
    """How many blocks the next eth_getLogs asks for: halve when the node refuses, double while blocks are sparse."""

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


@dataclass
class RawRange:
    """One block range as the node gave it: the logs and the headers of its first and last blocks."""

    start: int
    end: int
    first: Header
    last: Header
    logs: list[dict[str, Any]]


@dataclass
class RangeBatch:
    """One block range, decoded: what goes into the database in one transaction with its checkpoint."""

    start: int
    end: int
    end_hash: str
    headers: dict[int, Header]  # block number -> raw header (hash, parentHash, timestamp)
    events: list[Event] = field(default_factory=list)


def fetch_logs(rpc: Rpc, address: str, start: int, target: int, parent_hash: str, sizer: RangeSizer) -> RawRange | None:
    """The logs of the next range from ``start`` (at most ``target``); None when ``start`` no longer follows our tip.

    ``parent_hash`` is the hash of the block before ``start`` as stored ("" when nothing is).
    """
    while True:
        end = min(target, start + sizer.span - 1)
        first, last = rpc.blocks([start, end])
        if first is None or last is None:
            raise RangeChanged(f"blocks {start}..{end} vanished while reading them")
        if parent_hash and first["parentHash"] != parent_hash:
            return None
        try:
            logs = rpc.get_logs(address, start, end)
        except RpcError as exc:
            if not sizer.shrink():
                raise
            log.info("eth_getLogs %d..%d refused (%s): asking for %d blocks", start, end, exc, sizer.span)
            continue
        sizer.after(end - start + 1, len(logs))
        return RawRange(start, end, first, last, logs)


def fetch_headers(rpc: Rpc, known: dict[int, Header], numbers: Iterable[int]) -> dict[int, Header]:
    """``known`` plus the headers of ``numbers`` (one batch for those not known yet)."""
    headers = dict(known)
    wanted = sorted(set(numbers) - set(headers))
    for number, header in zip(wanted, rpc.blocks(wanted), strict=True):
        if header is None:
            raise RangeChanged(f"block {number} vanished while reading it")
        headers[number] = header
    return headers


def check_same_chain(raw: RawRange, headers: dict[int, Header], events: list[Event]) -> None:
    """RangeChanged when an event's block hash is not the one of the header read for its block (a reorg mid-read)."""
    for event in events:
        header = headers.get(event.at.block_number)
        if header is not None and header["hash"] != event.at.block_hash:
            raise RangeChanged(f"block {event.at.block_number} changed while reading {raw.start}..{raw.end}")
