"""EIP-712 as Board defines it: the domain, the Post and Vote types, signing, signature splitting and recovery.

One definition for everything that signs or checks a signature: the relayer, ``/api/contract`` (which hands
the domain and types to the browser), tests and benchmarks. The contract's ``DOMAIN_SEPARATOR`` and type
hashes must match these; ``tests/contracts`` checks the contract against a separate encoding.
"""

from __future__ import annotations

from typing import Any

import coincurve
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3

DOMAIN_NAME = "Indelible"
DOMAIN_VERSION = "2"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
POST_TYPE = [
    {"name": "author", "type": "address"},
    {"name": "digest", "type": "bytes32"},
    {"name": "parentId", "type": "uint256"},
    {"name": "parentDigest", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
VOTE_TYPE = [
    {"name": "voter", "type": "address"},
    {"name": "postId", "type": "uint256"},
    {"name": "postDigest", "type": "bytes32"},
    {"name": "direction", "type": "int8"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
EIP712_TYPES = {"EIP712Domain": EIP712_DOMAIN_TYPE, "Post": POST_TYPE, "Vote": VOTE_TYPE}
PRIMARY_TYPES = {"post": "Post", "vote": "Vote"}
# secp256k1 order / 2: a larger s is the malleable twin the contract refuses
HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
ZERO_DIGEST = "0x" + "00" * 32  # a top-level post's parentDigest


class InvalidSignature(ValueError):
    """A signature that is malformed, malleable, or from which no signer can be recovered."""


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The Board's EIP-712 domain on this chain."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": Web3.to_checksum_address(verifying_contract),
    }


def domain_separator(chain_id: int, verifying_contract: str) -> bytes:
    """The Board's EIP-712 domain separator on this chain (what ``DOMAIN_SEPARATOR()`` must return)."""
    type_hash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    return keccak(
        type_hash
        + keccak(DOMAIN_NAME.encode())
        + keccak(DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(verifying_contract.removeprefix("0x"))
    )


def typed_data(kind: str, message: dict[str, Any], chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 document a wallet signs for a ``post`` or ``vote`` message."""
    primary = PRIMARY_TYPES[kind]
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, primary: EIP712_TYPES[primary]},
        "primaryType": primary,
        "domain": domain(chain_id, verifying_contract),
        "message": message,
    }


def sign(account: LocalAccount, kind: str, message: dict[str, Any], chain_id: int, contract: str) -> str:
    """Sign a message as a wallet would (for tests, scripts and benchmarks): 0x + r + s + v."""
    signed = account.sign_message(encode_typed_data(full_message=typed_data(kind, message, chain_id, contract)))
    return "0x" + bytes(signed.signature).hex()


def split_signature(signature: str) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a 65-byte hex signature, v as 27/28; InvalidSignature when malformed."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    if len(raw) != 65:
        raise InvalidSignature(f"invalid signature: expected 65 bytes, got {len(raw)}")
    r, s, v = raw[:32], raw[32:64], raw[64]
    if v < 27:
        v += 27
    if v not in (27, 28):
        raise InvalidSignature(f"invalid signature: v must be 27 or 28, got {raw[64]}")
    if int.from_bytes(s, "big") > HALF_ORDER:
        raise InvalidSignature("invalid signature: s is in the upper half of the curve order (malleable)")
    return v, r, s


def signing_digest(kind: str, message: dict[str, Any], chain_id: int, contract: str) -> bytes:
    """The 32-byte EIP-712 digest a wallet signs for ``message``."""
    signable = encode_typed_data(full_message=typed_data(kind, message, chain_id, contract))
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def recover_signer(kind: str, message: dict[str, Any], signature: str, chain_id: int, contract: str) -> str:
    """The checksum address that signed ``message``; InvalidSignature when none can be recovered."""
    return recover_digest_signer(signing_digest(kind, message, chain_id, contract), signature)


def recover_digest_signer(digest: bytes, signature: str) -> str:
    """The checksum address that signed the EIP-712 ``digest``; InvalidSignature when none can be recovered."""
    v, r, s = split_signature(signature)
    try:  # coincurve (libsecp256k1) rather than eth-keys: recovery is on every relayed item's path
        public = coincurve.PublicKey.from_signature_and_message(r + s + bytes([v - 27]), digest, hasher=None)
    except Exception as exc:  # no point on the curve for this r, or r/s out of range
        raise InvalidSignature("invalid signature: no signer can be recovered from it") from exc
    return Web3.to_checksum_address(keccak(public.format(compressed=False)[1:])[-20:])


def post_message(item: dict[str, Any]) -> dict[str, Any]:
    """The EIP-712 Post message of a request item, normalised as the wallet signed it."""
    return {
        "author": Web3.to_checksum_address(item["author"]),
        "digest": item["digest"].lower(),
        "parentId": int(item.get("parentId", 0)),
        "parentDigest": item.get("parentDigest", ZERO_DIGEST).lower(),
        "nonce": int(item["nonce"]),
        "deadline": int(item["deadline"]),
    }


def vote_message(item: dict[str, Any]) -> dict[str, Any]:
    """The EIP-712 Vote message of a request item, normalised as the wallet signed it."""
    return {
        "voter": Web3.to_checksum_address(item["voter"]),
        "postId": int(item["postId"]),
        "postDigest": item["postDigest"].lower(),
        "direction": int(item["direction"]),
        "nonce": int(item["nonce"]),
        "deadline": int(item["deadline"]),
    }
