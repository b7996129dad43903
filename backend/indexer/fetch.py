"""Fetch: a block range's raw logs and the headers that anchor them, sized to what the node accepts.

Everything here asks the node and returns its raw answers (no decoding, no database).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backend.indexer.decode import Event
from backend.indexer.rpc import Rpc, RpcError
from backend.provider import Limits

log = logging.getLogger(__name__)

Header = dict[str, Any]  # a raw block header: hash, parentHash, timestamp (hex)


class RangeChanged(RuntimeError):
    """The chain moved under a range while we read it: read the range again."""


# "[0x1, 0x2f]": the range Alchemy and Infura suggest in their refusal
_SUGGESTED = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_ABOUT_COUNT = re.compile(r"result|response size|more than|logs", re.IGNORECASE)
_ABOUT_SPAN = re.compile(r"range|span|block", re.IGNORECASE)
CALM_RANGES = 8  # after a refusal for too many results, this many ranges go by before the span grows again


def refuses_range(exc: RpcError) -> bool:
    """The node refused eth_getLogs for this range (too wide, too many results, too slow), not for being busy."""
    # 413: the answer would be too large for the provider to send
    return not exc.throttled and (exc.timeout or exc.code is not None or exc.status == 413)


def suggested_span(message: str) -> int | None:
    """The span of the range a refusal suggests ("this block range should work: [0x.., 0x..]"), if any."""
    match = _SUGGESTED.search(message)
    if match is None:
        return None
    first, last = int(match.group(1), 16), int(match.group(2), 16)
    return last - first + 1 if last >= first else None


@dataclass
class RangeSizer:
    """How many blocks the next eth_getLogs asks for: smaller when the node refuses, larger while blocks are sparse.

    A refusal that names the block span ("block range too wide") sets a ceiling kept in the
    provider's ``Limits`` for the process; one about the result count only shrinks this range
    and holds growth back for a while (a denser stretch of chain may follow).
    """

    span: int = 100
    max_span: int = 5000
    min_span: int = 1
    # fewer logs than this in a range means blocks are sparse: ask for more next time
    sparse_logs: int = 2000
    limits: Limits | None = None
    _calm: int = 0

    def __post_init__(self) -> None:
        self.span = max(self.min_span, min(self.span, self.ceiling))

    @property
    def ceiling(self) -> int:
        """The widest span worth asking for: ours, or the provider's as it taught us."""
        learned = self.limits.log_span if self.limits is not None else None
        return min(self.max_span, learned) if learned else self.max_span

    def shrink(self) -> bool:
        """Halve after a refusal, timeout or "too many results"; False when already at the minimum."""
        if self.span <= self.min_span:
            return False
        self.span = max(self.min_span, self.span // 2)
        return True

    def refused(self, exc: RpcError, asked: int) -> bool:
        """Shrink below ``asked`` blocks after ``exc``; False when the range cannot shrink any more."""
        if asked <= self.min_span:
            return False
        message = str(exc)
        hint = suggested_span(message)
        self.span = max(self.min_span, min(asked - 1, hint if hint else asked // 2))
        about_count = _ABOUT_COUNT.search(message) is not None
        about_span = not about_count and _ABOUT_SPAN.search(message) is not None
        if about_span and not hint:  # "exceed maximum block range: 2000": the number is the limit
            named = [int(n) for n in re.findall(r"\d+", message) if self.min_span <= int(n) < asked]
            self.span = max(named, default=self.span)
        if self.limits is not None:
            with self.limits.lock:
                self.limits.refused_ranges += 1
                if about_span:
                    self.limits.log_span = min(self.limits.log_span or asked - 1, self.span)
        self._calm = CALM_RANGES if about_count or exc.timeout else self._calm
        return True

    def after(self, blocks: int, logs: int) -> None:
        """Grow after a full-size range that came back sparse."""
        if self._calm > 0:
            self._calm -= 1
        elif logs < self.sparse_logs and blocks >= self.span:
            self.span = min(self.ceiling, self.span * 2)
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
    end = min(target, start + sizer.span - 1)
    first, last = rpc.blocks([start, end]) if end > start else [rpc.block(start)] * 2
    while True:
        if first is None or last is None:
            raise RangeChanged(f"blocks {start}..{end} vanished while reading them")
        if parent_hash and first["parentHash"] != parent_hash:
            return None
        try:
            logs = rpc.get_logs(address, start, end)
        except RpcError as exc:
            if not refuses_range(exc) or not sizer.refused(exc, end - start + 1):
                raise
            # the same start, fewer blocks: what was read stays read, only the last header is new
            end = min(target, start + sizer.span - 1)
            log.info("eth_getLogs %d..%d refused (%s): asking for %d..%d", start, end, exc, start, end)
            last = first if end == start else rpc.block(end)
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
