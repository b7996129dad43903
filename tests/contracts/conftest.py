"""Fixtures for the Board contract tests: a fresh Board per module, EIP-712 signers and error encoding."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import brownie
import brownie.test
import pytest
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


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    """Every test starts from the module's freshly deployed Board."""


@pytest.fixture
def state_machine() -> Callable[..., None]:
    """Brownie's state_machine runner, loaded from the pure-Python source that ships with brownie.

    eth-brownie 1.22's mypyc-compiled `brownie.test.stateful` rejects every machine it builds
    ("_BrownieStateMachine object expected"), so we run the identical `stateful.py` uncompiled.
    """
    path = Path(brownie.test.__file__).with_name("stateful.py")
    spec = importlib.util.spec_from_file_location("brownie_stateful_uncompiled", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.state_machine


@pytest.fixture(scope="module")
def board(Board, accounts):
    return Board.deploy({"from": accounts[0]})


@pytest.fixture(scope="module")
def relayer(accounts):
    """Pays for signed actions; never their author."""
    return accounts[9]


@pytest.fixture(scope="module")
def signers() -> list:
    """Local keys that sign EIP-712 messages and never hold ether."""
    return [Account.from_key(keccak(text=f"indelible signer {i}")) for i in range(25)]


def _domain(board, chain_id: int | None, verifying_contract: str | None) -> dict:
    return {
        "name": "Indelible",
        "version": "2",
        "chainId": brownie.chain.id if chain_id is None else chain_id,
        "verifyingContract": verifying_contract or board.address,
    }


def _sign(signer, domain: dict, primary: str, fields: list, message: dict) -> tuple[int, str, str]:
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


@pytest.fixture(scope="module")
def sign_post(board) -> Callable[..., tuple]:
    """Build a SignedPost tuple, signed by `signer`, ready to pass to postBySig or batch.

    parent_digest defaults to DIGEST (what test posts carry) for a reply and to zero for a top-level post.
    """

    def sign(
        signer,
        digest=DIGEST,
        parent_id=0,
        nonce=0,
        deadline=FAR_FUTURE,
        chain_id=None,
        verifying_contract=None,
        parent_digest=None,
    ):
        if parent_digest is None:
            parent_digest = DIGEST if parent_id else ZERO_DIGEST
        message = {
            "author": signer.address,
            "digest": bytes.fromhex(digest[2:]),
            "parentId": parent_id,
            "parentDigest": bytes.fromhex(parent_digest[2:]),
            "nonce": nonce,
            "deadline": deadline,
        }
        v, r, s = _sign(signer, _domain(board, chain_id, verifying_contract), "Post", POST_TYPES, message)
        return (signer.address, digest, parent_id, parent_digest, nonce, deadline, v, r, s)

    return sign


@pytest.fixture(scope="module")
def sign_vote(board) -> Callable[..., tuple]:
    """Build a SignedVote tuple, signed by `signer`, ready to pass to voteBySig or batch (post_digest: DIGEST)."""

    def sign(
        signer,
        post_id,
        direction,
        nonce=0,
        deadline=FAR_FUTURE,
        chain_id=None,
        verifying_contract=None,
        post_digest=DIGEST,
    ):
        message = {
            "voter": signer.address,
            "postId": post_id,
            "postDigest": bytes.fromhex(post_digest[2:]),
            "direction": direction,
            "nonce": nonce,
            "deadline": deadline,
        }
        v, r, s = _sign(signer, _domain(board, chain_id, verifying_contract), "Vote", VOTE_TYPES, message)
        return (signer.address, post_id, post_digest, direction, nonce, deadline, v, r, s)

    return sign
