"""The local pin store: one file per CID under ``<data dir>/content/ab/cd/<cid>``.

Files are written atomically and durably (temporary file, fsync, rename, fsync
of the directory) and are checked against their CID whenever read, so a
corrupted file is never served: it is moved aside and treated as missing.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path

from backend.content.cid import cid_of, cid_to_digest, matches

log = logging.getLogger(__name__)


class PinStore:
    """Content-addressed files: the same bytes give the same CID and are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: set[str] | None = None
        self._lock = threading.Lock()

    def path_for(self, cid: str) -> Path:
        """Where ``cid`` lives: two fan-out levels from its digest, so no directory grows huge."""
        return Path(self._path(cid_to_digest(cid).hex(), cid))

    def _path(self, digest_hex: str, cid: str) -> str:
        # plain strings: the indexer asks for thousands of CIDs per second during a backfill
        return os.path.join(self._root, digest_hex[:2], digest_hex[2:4], cid)

    @property
    def _root(self) -> str:
        return str(self.root)

    def has(self, cid: str) -> bool:
        """True when a file for ``cid`` exists (not verified: ``get`` verifies).

        A plain string path (no ``Path``): the content poll asks this of every queued CID at each local scan.
        """
        return os.path.isfile(self._path(cid_to_digest(cid).hex(), cid))

    def get(self, cid: str) -> bytes | None:
        """The verified bytes of ``cid``, or None when absent or corrupt.

        A plain string path and ``open`` (no ``Path``): a CAR asks for up to 100 CIDs, most of a stranger's absent,
        and a ``Path`` per CID cost more than the failed open itself (bench/attack.py's "car" kind).
        """
        return self._read(self._path(cid_to_digest(cid).hex(), cid), cid)

    def get_known(self, cid: str) -> bytes | None:
        """``get`` without touching the disk for CIDs not pinned as far as this process knows.

        The first call lists the store once; later pins by this process are added. A CID pinned
        since by another process reads as absent here: callers must tolerate such a miss (the
        indexer does: the post stays 'missing' until its content queue finds the file).
        """
        with self._lock:
            if self._known is None:
                self._known = self.cids()
            known = cid in self._known
        return self.get(cid) if known else None

    def cids(self) -> set[str]:
        """Every CID with a file in the store (read from the disk, not verified)."""
        found: set[str] = set()
        for _dirpath, _dirs, files in os.walk(self.root):
            found.update(name for name in files if name.startswith("b") and "." not in name)
        return found

    def _read(self, path: str, cid: str) -> bytes | None:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        if matches(cid, data):
            return data
        corrupt = os.path.join(os.path.dirname(path), f"{cid}.corrupt-{secrets.token_hex(4)}")
        log.error("pinned file %s does not hash to its CID: moved to %s", path, os.path.basename(corrupt))
        os.replace(path, corrupt)
        with self._lock:
            if self._known is not None:
                self._known.discard(cid)
        return None

    def put(self, data: bytes) -> tuple[str, bool]:
        """Pin ``data``; returns its CID and True when it was not stored before."""
        cid = cid_of(data)
        if self.get(cid) is not None:
            try:  # uploaded again: the garbage collector's grace period starts over (backend.content.gc)
                os.utime(self.path_for(cid))
            except FileNotFoundError:
                return self.put(data)
            return cid, False
        path = self.path_for(cid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{cid}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        with self._lock:
            if self._known is not None:
                self._known.add(cid)
        return cid, True

    def remove_if_older(self, cid: str, cutoff: float) -> bool:
        """Delete ``cid``'s file if it was last written before ``cutoff`` (unix time); True when deleted."""
        path = self.path_for(cid)
        try:
            if path.stat().st_mtime >= cutoff:
                return False  # uploaded again since it was listed
            path.unlink()
        except FileNotFoundError:
            return False
        with self._lock:
            if self._known is not None:
                self._known.discard(cid)
        return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
