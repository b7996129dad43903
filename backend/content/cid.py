"""CIDv1 (raw codec, sha2-256, base32 lower) <-> the sha256 digest stored on chain.

A CID is ``b`` + base32(01 55 12 20 + digest): version 1, codec raw (0x55),
multihash sha2-256 (0x12) of 32 bytes (0x20). Such a CID always starts
``bafkrei``, and it is what ``ipfs add --cid-version=1 --raw-leaves`` gives for
content of one block, so the digest on chain is the content's IPFS address.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from functools import lru_cache

CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])


class InvalidCid(ValueError):
    """A string that is not a CIDv1 raw sha2-256 in base32."""


def sha256(data: bytes) -> bytes:
    """The 32-byte digest of ``data``."""
    return hashlib.sha256(data).digest()


def digest_to_cid(digest: bytes) -> str:
    """The CID of content whose sha256 is ``digest``."""
    if len(digest) != 32:
        raise ValueError(f"a sha256 digest has 32 bytes, not {len(digest)}")
    return "b" + base64.b32encode(CID_PREFIX + digest).decode("ascii").lower().rstrip("=")


@lru_cache(maxsize=16_384)
def cid_to_digest(cid: str) -> bytes:
    """The sha256 digest inside ``cid``; raises InvalidCid saying what is wrong.

    Cached (a refusal raises again, it is not cached): the content poll looks up the same queued CIDs at
    every scan, and base64's base32 decoder is pure Python.
    """
    if not cid.startswith("b"):
        raise InvalidCid("only base32 CIDv1 (starting with 'b') is supported")
    text = cid[1:]
    if text != text.lower():
        raise InvalidCid("base32 CIDs are lower case")
    try:
        raw = base64.b32decode(text.upper() + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCid("not valid base32") from exc
    if len(raw) != len(CID_PREFIX) + 32 or not raw.startswith(CID_PREFIX):
        raise InvalidCid("only CIDv1 with the raw codec and a sha2-256 multihash is supported")
    return raw[len(CID_PREFIX) :]


def cid_of(data: bytes) -> str:
    """The CID of ``data``."""
    return digest_to_cid(sha256(data))


def digest_hex(digest: bytes) -> str:
    """``0x`` + 64 lower-case hex digits, as the chain and the index spell a digest."""
    return "0x" + digest.hex()


def hex_to_digest(value: str) -> bytes:
    """The 32 bytes of a ``0x``-prefixed hex digest."""
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError(f"a sha256 digest has 32 bytes, not {len(raw)}")
    return raw


def matches(cid: str, data: bytes) -> bool:
    """True when ``data`` hashes to the digest in ``cid``."""
    return sha256(data) == cid_to_digest(cid)
