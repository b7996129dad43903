"""The local pin store: one file per CID under ``<data dir>/content/ab/cd/<cid>``.

Files are written atomically and durably (temporary file, fsync, rename, fsync
of the directory) and are checked against their CID whenever read, so a
corrupted file is never served: it is moved aside and treated as missing.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from backend.content.cid import cid_of, cid_to_digest, matches

log = logging.getLogger(__name__)


class PinStore:
    """Content-addressed files: the same bytes give the same CID and are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, cid: str) -> Path:
        """Where ``cid`` lives: two fan-out levels from its digest, so no directory grows huge."""
        digest = cid_to_digest(cid).hex()
        return self.root / digest[:2] / digest[2:4] / cid

    def has(self, cid: str) -> bool:
        """True when a file for ``cid`` exists (not verified: ``get`` verifies)."""
        return self.path_for(cid).is_file()

    def get(self, cid: str) -> bytes | None:
        """The verified bytes of ``cid``, or None when absent or corrupt."""
        path = self.path_for(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if matches(cid, data):
            return data
        corrupt = path.with_name(f"{cid}.corrupt-{secrets.token_hex(4)}")
        log.error("pinned file %s does not hash to its CID: moved to %s", path, corrupt.name)
        os.replace(path, corrupt)
        return None

    def put(self, data: bytes) -> tuple[str, bool]:
        """Pin ``data``; returns its CID and True when it was not stored before."""
        cid = cid_of(data)
        if self.get(cid) is not None:
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
        return cid, True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
