"""Checks of one signed item that need no chain state: deadline, signature, signer, pinned content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.content.cid import digest_to_cid, hex_to_digest
from backend.content.pins import PinStore
from backend.eip712 import (
    InvalidSignature,
    post_message,
    recover_digest_signer,
    signing_digest,
    split_signature,
    vote_message,
)
from backend.relay.errors import RelayError


@dataclass(frozen=True)
class Item:
    """One post or vote of a request as sent; ``prefix`` names its place in a batch ("batch item 3: ").

    ``message`` is the EIP-712 message it claims, ``digest`` what a wallet signs for it (computed once, here):
    refusals are remembered under the digest and the signature, so a tampered copy of a signature cannot
    have the genuine item refused.
    """

    kind: str
    prefix: str
    body: dict[str, Any]
    message: dict[str, Any]
    digest: bytes

    @property
    def signature(self) -> str:
        """The signature as sent."""
        return str(self.body.get("signature", ""))


@dataclass(frozen=True)
class SignedAction:
    """One checked post or vote, ready to pass to the contract as its struct."""

    kind: str
    signer: str
    nonce: int
    struct: tuple[Any, ...]
    signature: str = ""
    prefix: str = ""
    digest: bytes = b""


def items(kind: str, body: dict[str, Any], chain_id: int, board: str) -> list[Item]:
    """The items of a request body: itself, or a batch's posts then votes, each named by its index."""
    if kind != "batch":
        return [_item(kind, "", body, chain_id, board)]
    posts = [("post", item) for item in body["posts"]]
    votes = [("vote", item) for item in body["votes"]]
    if not posts and not votes:
        raise RelayError("batch is empty: give at least one post or vote", status_code=422)
    return [_item(k, f"batch item {i}: ", item, chain_id, board) for i, (k, item) in enumerate([*posts, *votes])]


def _item(kind: str, prefix: str, body: dict[str, Any], chain_id: int, board: str) -> Item:
    message = post_message(body) if kind == "post" else vote_message(body)
    return Item(kind, prefix, body, message, signing_digest(kind, message, chain_id, board))


def check_item(item: Item, now: int, pins: PinStore) -> SignedAction:
    """The signed action of ``item``, or RelayError: expired at ``now``, not signed by its signer, not pinned."""
    kind, prefix, body, message = item.kind, item.prefix, item.body, item.message
    claimed = message["author" if kind == "post" else "voter"]
    if message["deadline"] < now:
        raise RelayError(f"{prefix}signature expired: deadline {message['deadline']} has passed", permanent=True)
    try:
        signer = recover_digest_signer(item.digest, body["signature"])
    except InvalidSignature as exc:
        raise RelayError(prefix + str(exc), permanent=True) from exc
    if signer != claimed:
        raise RelayError(f"{prefix}invalid signature: not signed by {claimed}", permanent=True)
    v, r, s = split_signature(body["signature"])
    if kind == "post":
        _require_pinned(pins, message["digest"], prefix)
        parent = hex_to_digest(message["parentDigest"])
        fields = (claimed, hex_to_digest(message["digest"]), message["parentId"], parent)
    else:
        fields = (claimed, message["postId"], hex_to_digest(message["postDigest"]), message["direction"])
    struct = (*fields, message["nonce"], message["deadline"], v, r, s)
    return SignedAction(kind, claimed, message["nonce"], struct, body["signature"], prefix, item.digest)


def _require_pinned(pins: PinStore, digest: str, prefix: str) -> None:
    raw = hex_to_digest(digest)
    if raw == bytes(32):
        raise RelayError(f"{prefix}digest must not be zero", permanent=True)
    cid = digest_to_cid(raw)
    if pins.get(cid) is None:
        raise RelayError(f"{prefix}content {cid} is not pinned here: upload it first (POST /api/content)")
