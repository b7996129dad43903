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
FAR_FUTURE = 2**40

POST_TYPES = [
    {"name": "author", "type": "address"},
    {"name": "digest", "type": "bytes32"},
    {"name": "parentId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
VOTE_TYPES = [
    {"name": "voter", "type": "address"},
    {"name": "postId", "type": "uint256"},
    {"name": "direction", "type": "int8"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
ERROR_SIGNATURES = {
    "PostNotFound": ["uint256"],
    "ParentNotFound": ["uint256"],
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
    return "0x" + (selector + encode(types, list(args))).hex()


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
        "version": "1",
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
    """Build a SignedPost tuple, signed by `signer`, ready to pass to postBySig or batch."""

    def sign(signer, digest=DIGEST, parent_id=0, nonce=0, deadline=FAR_FUTURE, chain_id=None, verifying_contract=None):
        message = {
            "author": signer.address,
            "digest": bytes.fromhex(digest[2:]),
            "parentId": parent_id,
            "nonce": nonce,
            "deadline": deadline,
        }
        v, r, s = _sign(signer, _domain(board, chain_id, verifying_contract), "Post", POST_TYPES, message)
        return (signer.address, digest, parent_id, nonce, deadline, v, r, s)

    return sign


@pytest.fixture(scope="module")
def sign_vote(board) -> Callable[..., tuple]:
    """Build a SignedVote tuple, signed by `signer`, ready to pass to voteBySig or batch."""

    def sign(signer, post_id, direction, nonce=0, deadline=FAR_FUTURE, chain_id=None, verifying_contract=None):
        message = {
            "voter": signer.address,
            "postId": post_id,
            "direction": direction,
            "nonce": nonce,
            "deadline": deadline,
        }
        v, r, s = _sign(signer, _domain(board, chain_id, verifying_contract), "Vote", VOTE_TYPES, message)
        return (signer.address, post_id, direction, nonce, deadline, v, r, s)

    return sign
