"""Backfill progress: a tqdm bar on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("backend.indexer")

LOG_EVERY_SECONDS = 5.0
BAR_MIN_BLOCKS = 500  # smaller gaps are caught up too fast for a bar to help


class Progress:
    """Counts blocks and events of one catch-up run and reports rates and ETA."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._bar: Any = None
        self._start_block = 0
        self._target = 0
        self._events = 0
        self._started = 0.0
        self._last_log = 0.0

    def begin(self, indexed: int, target: int) -> None:
        """Start (or retarget) a run from ``indexed`` to ``target``."""
        if self._started and target >= self._target:
            self._target = target
            if self._bar is not None:
                self._bar.total = target - self._start_block
            return
        self._start_block, self._target, self._events = indexed, target, 0
        self._started = self._last_log = time.monotonic()
        if self.tty and target - indexed >= BAR_MIN_BLOCKS:
            from tqdm import tqdm

            self._bar = tqdm(total=target - indexed, unit="block", desc="indexing", dynamic_ncols=True)
        elif target - indexed >= BAR_MIN_BLOCKS:
            log.info("backfilling blocks %d..%d", indexed + 1, target)

    def advance(self, indexed: int, events: int) -> None:
        """The checkpoint moved to ``indexed`` with ``events`` more events."""
        if not self._started:
            return
        self._events += events
        elapsed = max(time.monotonic() - self._started, 1e-6)
        done = indexed - self._start_block
        blocks_rate, events_rate = done / elapsed, self._events / elapsed
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix(events=self._events, ev_s=f"{events_rate:.0f}", refresh=False)
            self._bar.refresh()
        elif time.monotonic() - self._last_log >= LOG_EVERY_SECONDS:
            self._last_log = time.monotonic()
            left = self._target - indexed
            eta = left / blocks_rate if blocks_rate > 0 else float("inf")
            log.info(
                "indexed to block %d of %d: %.0f blocks/s, %.0f events/s, ETA %.0f s",
                indexed, self._target, blocks_rate, events_rate, eta,
            )  # fmt: skip
        if indexed >= self._target:
            self.end(indexed)

    def end(self, indexed: int) -> None:
        """Caught up: close the bar, log the totals."""
        if not self._started:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if indexed - self._start_block >= BAR_MIN_BLOCKS or self._events >= 1000:
            log.info(
                "caught up at block %d: %d events in %.1f s (%.0f events/s)",
                indexed, self._events, elapsed, self._events / elapsed,
            )  # fmt: skip
        self._started = 0.0
