"""Fixtures for the Board contract tests: a fresh Board per module, EIP-712 signers (helpers: tests/support)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import brownie.test
import pytest
from eth_account import Account
from eth_utils import keccak

from tests.support.contracts import DIGEST, FAR_FUTURE, POST_TYPES, VOTE_TYPES, ZERO_DIGEST, domain, sign_typed


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
        v, r, s = sign_typed(signer, domain(board, chain_id, verifying_contract), "Post", POST_TYPES, message)
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
        v, r, s = sign_typed(signer, domain(board, chain_id, verifying_contract), "Vote", VOTE_TYPES, message)
        return (signer.address, post_id, post_digest, direction, nonce, deadline, v, r, s)

    return sign
