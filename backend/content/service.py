"""The content service: local pin store first, then Kubo, then gateways; pins what it finds."""

from __future__ import annotations

import logging

import httpx

from backend.config import Settings
from backend.content.kubo import KuboClient, KuboError
from backend.content.remote import FetchError, fetch_from_gateways
from backend.content.store import PinStore

log = logging.getLogger(__name__)


class ContentService:
    """What the API and the indexer use to pin, read and fetch content by CID."""

    def __init__(self, store: PinStore, *, kubo: KuboClient | None = None, gateways: list[str] | None = None) -> None:
        self.store = store
        self.kubo = kubo
        self.gateways = list(gateways or [])

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
        """Pin locally (and in Kubo when configured); returns the CID and whether it is new here."""
        cid, created = self.store.put(data)
        if self.kubo is not None:
            try:
                self.kubo.add(data)
            except KuboError as exc:  # the local pin is what counts; Kubo is a mirror
                log.warning("%s", exc)
        return cid, created

    def local(self, cid: str) -> bytes | None:
        """Verified bytes from the pin store, else from Kubo (then pinned here), else None."""
        data = self.store.get(cid)
        if data is not None or self.kubo is None:
            return data
        try:
            data = self.kubo.block_get(cid)
        except KuboError:
            return None
        self.store.put(data)
        return data

    def fetch(self, cid: str, client: httpx.Client) -> bytes:
        """Verified bytes from anywhere we know (pinned here on success); FetchError otherwise."""
        data = self.local(cid)
        if data is not None:
            return data
        data = fetch_from_gateways(client, self.gateways, cid)
        self.pin(data)
        return data


__all__ = ["ContentService", "FetchError"]
