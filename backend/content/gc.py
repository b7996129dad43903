"""Garbage collection of pins no post references: uploads that never made it on chain are not kept forever.

A pin file is deleted when it is older than the grace period (its mtime;
``INDELIBLE_PIN_GRACE``, 24 h by default: an upload waits that long for its
post) and no indexed post has its CID. It runs in the indexer thread, the only
writer of the index, and only while the index is caught up with the chain: the
node is asked for its head right before, so a pin is never deleted because the
index lags behind a post that uses it. Each run is bounded: at most
``BATCH`` files are examined, walking the store's fan-out directories from where
the last run stopped, and runs are ``INTERVAL`` seconds apart.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, select

from backend.content.kubo import KuboClient, KuboError
from backend.content.pins import PinStore
from backend.db.models import Post

log = logging.getLogger(__name__)

INTERVAL = 300.0  # seconds between runs
BATCH = 1000  # pin files examined per run at most (whole fan-out directories, so a little more)
_QUERY_CHUNK = 500  # CIDs per look-up in the posts table


class PinCollector:
    """Deletes old unreferenced pins from ``store``, a bounded slice per run."""

    def __init__(
        self,
        store: PinStore,
        engine: Engine,
        grace: float,
        *,
        kubo: KuboClient | None = None,
        interval: float = INTERVAL,
        batch: int = BATCH,
    ) -> None:
        self.store = store
        self.kubo = kubo  # pins deleted here are unpinned there too (uploads were pinned in both)
        self.engine = engine
        self.grace = grace
        self.interval = interval
        self.batch = batch
        self._cursor: tuple[str, str] | None = None  # the last fan-out directory examined
        self._last_run = 0.0
        self.deleted = 0  # since start

    def maybe_collect(self, still_caught_up: Callable[[], bool]) -> int:
        """Run one bounded slice when due and ``still_caught_up()`` says the index has every block; deleted count."""
        if time.monotonic() - self._last_run < self.interval:
            return 0
        self._last_run = time.monotonic()
        if not still_caught_up():
            return 0
        try:
            return self.collect()
        except OSError as exc:  # the store's disk, not the index: indexing goes on, the next run tries again
            log.warning("pin GC failed: %s", exc)
            return 0

    def collect(self) -> int:
        """Examine the next slice of the store and delete what is old and unreferenced; the number deleted."""
        cutoff = time.time() - self.grace
        old = self._old_pins(cutoff)
        if not old:
            return 0
        referenced: set[str] = set()
        cids = sorted(old)
        with self.engine.connect() as conn:
            for start in range(0, len(cids), _QUERY_CHUNK):
                part = cids[start : start + _QUERY_CHUNK]
                referenced.update(conn.execute(select(Post.cid).where(Post.cid.in_(part)).distinct()).scalars())
        deleted = 0
        for cid in cids:
            if cid not in referenced and self.store.remove_if_older(cid, cutoff):
                deleted += 1
                self._unpin_in_kubo(cid)
        if deleted:
            log.info("pin GC: deleted %d unreferenced pins older than %.0f s", deleted, self.grace)
        self.deleted += deleted
        return deleted

    def _unpin_in_kubo(self, cid: str) -> None:
        if self.kubo is None:
            return
        try:
            self.kubo.unpin(cid)
        except KuboError as exc:  # not pinned there (Kubo was added later) or Kubo is down: the local delete stands
            log.info("pin GC: %s", exc)

    def _old_pins(self, cutoff: float) -> dict[str, Path]:
        """Pins in the next directories of the walk last written (or re-uploaded) before ``cutoff``: CID -> path."""
        found: dict[str, Path] = {}
        examined = 0
        for ab, cd in self._next_directories():
            directory = self.store.root / ab / cd
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith("b") or "." in entry.name:
                    continue  # temporary and corrupt files are not pins
                examined += 1
                try:
                    if entry.stat().st_mtime < cutoff:
                        found[entry.name] = Path(entry.path)
                except FileNotFoundError:
                    continue
            self._cursor = (ab, cd)
            if examined >= self.batch:
                break
        else:
            self._cursor = None  # the walk reached the end: start over next time
        return found

    def _next_directories(self) -> list[tuple[str, str]]:
        """Fan-out directories after the cursor, in order (the walk resumes where it stopped)."""
        root = self.store.root
        try:
            tops = sorted(name for name in os.listdir(root) if len(name) == 2)
        except FileNotFoundError:
            return []
        after_ab, after_cd = self._cursor or ("", "")
        found: list[tuple[str, str]] = []
        for ab in tops:
            if ab < after_ab:
                continue
            try:
                subs = sorted(name for name in os.listdir(root / ab) if len(name) == 2)
            except (FileNotFoundError, NotADirectoryError):
                continue
            found.extend((ab, cd) for cd in subs if ab > after_ab or cd > after_cd)
        return found
