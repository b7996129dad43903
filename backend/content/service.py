"""The content service: local pin store first, then Kubo, then gateways; pins what it finds.

It keeps the CIDs pinned since the indexer last asked (``take_new_pins``), so
the in-process indexer resolves a post whose content arrives after it was
indexed at its next step, without the upload route telling it (another
process's indexer finds the file at its periodic scan of the pin store).

Kubo look-ups are bounded: at most ``KUBO_SLOTS`` at once (a request over that
is told ``Busy`` at once, and the gateway answers 503, instead of queueing
behind slow look-ups), and a CID Kubo did not have is not asked for again for
``ABSENT_SECONDS`` (a flood of random CIDs costs one round trip each, once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import httpx

from backend.config import Settings
from backend.content.kubo import KuboClient, KuboError
from backend.content.pins import PinStore
from backend.content.remote import FetchError, fetch_from_gateways

log = logging.getLogger(__name__)

KUBO_SLOTS = 8  # Kubo look-ups in flight at once, per process
ABSENT_SECONDS = 60.0  # how long "Kubo does not have it" is believed
ABSENT_MAX = 10_000  # CIDs remembered as absent (oldest forgotten first)
NEW_PINS_MAX = 10_000  # new pins remembered for the indexer; past that it finds them at its scan


class Busy(RuntimeError):
    """Every Kubo slot is taken: try again shortly."""


class ContentService:
    """What the API and the indexer use to pin, read and fetch content by CID."""

    def __init__(self, store: PinStore, *, kubo: KuboClient | None = None, gateways: list[str] | None = None) -> None:
        self.store = store
        self.kubo = kubo
        self.gateways = list(gateways or [])
        self._slots = threading.BoundedSemaphore(KUBO_SLOTS)
        self._absent: OrderedDict[str, float] = OrderedDict()  # cid -> when to believe it absent no more
        self._absent_lock = threading.Lock()
        self._new_pins: set[str] = set()
        self._new_pins_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentService:
        """Pin store under the data dir, Kubo and gateways as configured."""
        kubo = KuboClient(settings.ipfs_api_url) if settings.ipfs_api_url else None
        return cls(PinStore(settings.content_dir), kubo=kubo, gateways=settings.ipfs_gateways)

    @property
    def has_remote(self) -> bool:
        """True when missing content can be looked for elsewhere."""
        return bool(self.kubo or self.gateways)

    def pin(self, data: bytes) -> tuple[str, bool]:
        """Pin locally (and in Kubo when configured); returns the CID and whether it is new here (blocking I/O)."""
        cid, created = self.store.put(data)
        with self._absent_lock:
            self._absent.pop(cid, None)
        with self._new_pins_lock:
            if len(self._new_pins) < NEW_PINS_MAX:
                self._new_pins.add(cid)
        if self.kubo is not None:
            try:
                self.kubo.add(data)
            except KuboError as exc:  # the local pin is what counts; Kubo is a mirror
                log.warning("%s", exc)
        return cid, created

    def local(self, cid: str, *, wait: float = 0.0, offline: bool = True) -> bytes | None:
        """Verified bytes from the pin store, else from Kubo (then pinned here), else None.

        Busy when every Kubo slot stays taken for ``wait`` seconds. ``offline``: ask Kubo only for what it
        holds (the gateway route); the indexer's background fetch lets Kubo search the network.
        """
        data = self.store.get(cid)
        if data is not None or self.kubo is None or (offline and self._believed_absent(cid)):
            return data
        acquired = self._slots.acquire(timeout=wait) if wait > 0 else self._slots.acquire(blocking=False)
        if not acquired:
            raise Busy("too many IPFS look-ups in flight")
        try:
            data = self.kubo.block_get(cid, offline=offline)
        except KuboError:
            if offline:  # an online miss is retried by the content queue's own backoff
                self._remember_absent(cid)
            return None
        finally:
            self._slots.release()
        self.store.put(data)
        return data

    def take_new_pins(self) -> set[str]:
        """The CIDs pinned since the last call (the indexer's content queue looks for them first)."""
        with self._new_pins_lock:
            pins, self._new_pins = self._new_pins, set()
        return pins

    def gateway_bytes(self, cid: str) -> bytes | None:
        """Verified bytes of ``cid`` for the gateway: pinned here, or Kubo's offline copy (then pinned here).

        Busy when every Kubo slot is taken: the gateway answers at once rather than queue.
        """
        return self.local(cid, offline=True)

    def fetch(self, cid: str, client: httpx.Client) -> bytes:
        """Verified bytes from anywhere we know (pinned here on success); FetchError otherwise."""
        try:
            data = self.local(cid, wait=30.0, offline=False)
        except Busy as exc:
            raise FetchError(f"{cid}: {exc}") from exc
        if data is not None:
            return data
        data = fetch_from_gateways(client, self.gateways, cid)
        self.pin(data)
        return data

    def _believed_absent(self, cid: str) -> bool:
        with self._absent_lock:
            until = self._absent.get(cid)
            if until is None:
                return False
            if until > time.monotonic():
                return True
            del self._absent[cid]
            return False

    def _remember_absent(self, cid: str) -> None:
        with self._absent_lock:
            self._absent[cid] = time.monotonic() + ABSENT_SECONDS
            self._absent.move_to_end(cid)
            while len(self._absent) > ABSENT_MAX:
                self._absent.popitem(last=False)


__all__ = ["Busy", "ContentService", "FetchError"]
