"""The contract tests' helpers: test digests, EIP-712 signing of Board messages, custom-error revert data."""

from __future__ import annotations

import brownie
from brownie.exceptions import decode_typed_error
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

DIGEST = "0x" + "ab" * 32
OTHER_DIGEST = "0x" + "cd" * 32
ZERO_DIGEST = "0x" + "00" * 32
FAR_FUTURE = 2**40

POST_TYPES = [
    {"name": "author", "type": "address"},
    {"name": "digest", "type": "bytes32"},
    {"name": "parentId", "type": "uint256"},
    {"name": "parentDigest", "type": "bytes32"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
VOTE_TYPES = [
    {"name": "voter", "type": "address"},
    {"name": "postId", "type": "uint256"},
    {"name": "postDigest", "type": "bytes32"},
    {"name": "direction", "type": "int8"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
ERROR_SIGNATURES = {
    "PostNotFound": ["uint256"],
    "ParentNotFound": ["uint256"],
    "PostMismatch": ["uint256", "bytes32", "bytes32"],
    "ParentMismatch": ["uint256", "bytes32", "bytes32"],
    "ZeroDigest": [],
    "InvalidDirection": ["int8"],
    "SignatureExpired": ["uint256"],
    "InvalidSignature": ["address"],
    "InvalidNonce": ["address", "uint256", "uint256"],
    "BatchItemFailed": ["uint256", "bytes"],
}


def error_data(name: str, *args) -> str:
    """The revert data of the custom error `name(args)`: selector then ABI-encoded arguments."""
    types = ERROR_SIGNATURES[name]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    values = [
        bytes.fromhex(a[2:]) if t == "bytes32" and isinstance(a, str) else a for t, a in zip(types, args, strict=True)
    ]
    return "0x" + (selector + encode(types, values)).hex()


def reverts_with(name: str, *args):
    """`brownie.reverts` for exactly this custom error and these arguments.

    Brownie reports a custom error either as `Unknown typed error: 0x...` or decoded as `Name: args`,
    depending on which ABIs it has seen; decoding the expected data the same way matches either.
    """
    return brownie.reverts(decode_typed_error(error_data(name, *args)))


def domain(board, chain_id: int | None, verifying_contract: str | None) -> dict:
    """Board's EIP-712 domain on this chain (or the chain id and contract given, to sign for another)."""
    return {
        "name": "Indelible",
        "version": "2",
        "chainId": brownie.chain.id if chain_id is None else chain_id,
        "verifyingContract": verifying_contract or board.address,
    }


def sign_typed(signer, domain: dict, primary: str, fields: list, message: dict) -> tuple[int, str, str]:
    """Sign the typed message ``primary`` with ``signer``'s key; returns (v, r, s) as the contract takes them."""
    signable = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                primary: fields,
            },
            "primaryType": primary,
            "domain": domain,
            "message": message,
        }
    )
    signed = Account.sign_message(signable, signer.key)
    return signed.v, "0x" + signed.r.to_bytes(32, "big").hex(), "0x" + signed.s.to_bytes(32, "big").hex()
