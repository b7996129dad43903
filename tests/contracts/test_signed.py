"""EIP-712 signed posts and votes sent by a relayer: domain, nonces, deadlines and forgeries."""

import pytest
from brownie import chain
from eth_utils import keccak

from tests.support.contracts import DIGEST, OTHER_DIGEST, ZERO_DIGEST, reverts_with

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_domain_separator_is_the_eip712_hash_of_name_version_chain_and_contract(board):
    from eth_abi import encode

    type_hash = keccak(text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [type_hash, keccak(text="Indelible"), keccak(text="2"), chain.id, board.address],
        )
    )
    assert board.DOMAIN_SEPARATOR() == "0x" + expected.hex()


def test_eip712_domain_reports_the_signing_domain(board):
    fields, name, version, chain_id, contract, salt, extensions = board.eip712Domain()
    assert (fields, name, version, chain_id, contract) == ("0x0f", "Indelible", "2", chain.id, board.address)
    assert (salt, list(extensions)) == ("0x" + "00" * 32, [])


def test_signed_post_is_stored_under_the_signer_not_the_relayer(board, relayer, signers, sign_post):
    tx = board.postBySig(sign_post(signers[0]), {"from": relayer})
    assert tx.return_value == 1
    assert tx.events["PostCreated"] == {"postId": 1, "parentId": 0, "author": signers[0].address, "digest": DIGEST}
    assert tx.events["NonceUsed"] == {"signer": signers[0].address, "nonce": 0}
    assert board.getPost(1)[0] == signers[0].address
    assert board.nonces(signers[0].address) == 1


def test_signed_reply_is_stored_with_its_parent(board, relayer, signers, sign_post):
    board.postBySig(sign_post(signers[0]), {"from": relayer})
    tx = board.postBySig(sign_post(signers[1], OTHER_DIGEST, parent_id=1), {"from": relayer})
    assert tx.events["PostCreated"] == {
        "postId": 2,
        "parentId": 1,
        "author": signers[1].address,
        "digest": OTHER_DIGEST,
    }


def test_signed_vote_counts_for_the_signer_not_the_relayer(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    tx = board.voteBySig(sign_vote(signers[0], 1, -1), {"from": relayer})
    assert tx.events["VoteCast"] == {
        "postId": 1,
        "voter": signers[0].address,
        "direction": -1,
        "upvotes": 0,
        "downvotes": 1,
    }
    assert tx.events["NonceUsed"] == {"signer": signers[0].address, "nonce": 0}
    assert board.voteOf(1, signers[0].address) == -1
    assert board.voteOf(1, relayer) == 0


def test_nonces_are_shared_by_posts_and_votes_and_count_up(board, relayer, signers, sign_post, sign_vote):
    signer = signers[0]
    board.postBySig(sign_post(signer, nonce=0), {"from": relayer})
    board.voteBySig(sign_vote(signer, 1, 1, nonce=1), {"from": relayer})
    board.postBySig(sign_post(signer, nonce=2), {"from": relayer})
    assert board.nonces(signer.address) == 3


def test_replayed_signed_post_reverts_with_invalid_nonce(board, relayer, signers, sign_post):
    signed = sign_post(signers[0])
    board.postBySig(signed, {"from": relayer})
    with reverts_with("InvalidNonce", signers[0].address, 1, 0):
        board.postBySig(signed, {"from": relayer})
    assert board.postCount() == 1


def test_replayed_signed_vote_reverts_with_invalid_nonce(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    signed = sign_vote(signers[0], 1, 1)
    board.voteBySig(signed, {"from": relayer})
    board.voteBySig(sign_vote(signers[0], 1, 0, nonce=1), {"from": relayer})
    with reverts_with("InvalidNonce", signers[0].address, 2, 0):
        board.voteBySig(signed, {"from": relayer})
    assert board.voteOf(1, signers[0].address) == 0


def test_signed_post_with_a_future_nonce_reverts_with_invalid_nonce(board, relayer, signers, sign_post):
    with reverts_with("InvalidNonce", signers[0].address, 0, 1):
        board.postBySig(sign_post(signers[0], nonce=1), {"from": relayer})


def test_signed_vote_with_a_wrong_nonce_reverts_with_invalid_nonce(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("InvalidNonce", signers[0].address, 0, 5):
        board.voteBySig(sign_vote(signers[0], 1, 1, nonce=5), {"from": relayer})


@pytest.mark.parametrize("field, value", [(1, OTHER_DIGEST), (2, 1), (3, OTHER_DIGEST), (4, 1), (5, 2**40 + 1)])
def test_relayer_tampering_with_a_signed_post_reverts_with_invalid_signature(
    board, accounts, relayer, signers, sign_post, field, value
):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    signed = list(sign_post(signers[0]))
    signed[field] = value
    with reverts_with("InvalidSignature", signers[0].address):
        board.postBySig(signed, {"from": relayer})


def test_relayer_claiming_another_author_reverts_with_invalid_signature(board, relayer, signers, sign_post):
    signed = list(sign_post(signers[0]))
    signed[0] = signers[1].address
    with reverts_with("InvalidSignature", signers[1].address):
        board.postBySig(signed, {"from": relayer})


@pytest.mark.parametrize("field, value", [(1, 2), (2, OTHER_DIGEST), (3, -1), (3, 0)])
def test_relayer_tampering_with_a_signed_vote_reverts_with_invalid_signature(
    board, accounts, relayer, signers, sign_vote, field, value
):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    signed = list(sign_vote(signers[0], 1, 1))
    signed[field] = value
    with reverts_with("InvalidSignature", signers[0].address):
        board.voteBySig(signed, {"from": relayer})


def test_signature_for_another_chain_reverts_with_invalid_signature(board, relayer, signers, sign_post):
    with reverts_with("InvalidSignature", signers[0].address):
        board.postBySig(sign_post(signers[0], chain_id=chain.id + 1), {"from": relayer})


def test_signature_for_another_contract_reverts_with_invalid_signature(board, accounts, relayer, signers, sign_post):
    with reverts_with("InvalidSignature", signers[0].address):
        board.postBySig(sign_post(signers[0], verifying_contract=accounts[5].address), {"from": relayer})


def test_high_s_twin_of_a_valid_signature_reverts_with_invalid_signature(board, relayer, signers, sign_post):
    author, digest, parent, parent_digest, nonce, deadline, v, r, s = sign_post(signers[0])
    twin = (author, digest, parent, parent_digest, nonce, deadline, 55 - v, r, hex(SECP256K1_N - int(s, 16)))
    with reverts_with("InvalidSignature", signers[0].address):
        board.postBySig(twin, {"from": relayer})


@pytest.mark.parametrize("v", [0, 1, 29])
def test_signature_with_a_bad_v_reverts_with_invalid_signature(board, relayer, signers, sign_post, v):
    signed = list(sign_post(signers[0]))
    signed[6] = v
    with reverts_with("InvalidSignature", signers[0].address):
        board.postBySig(signed, {"from": relayer})


def test_zero_signature_for_the_zero_address_reverts_with_invalid_signature(board, relayer):
    forged = ("0x" + "00" * 20, DIGEST, 0, ZERO_DIGEST, 0, 2**40, 27, "0x" + "00" * 32, "0x" + "00" * 32)
    with reverts_with("InvalidSignature", "0x" + "00" * 20):
        board.postBySig(forged, {"from": relayer})


def test_signed_post_past_its_deadline_reverts_with_signature_expired(board, relayer, signers, sign_post):
    deadline = chain.time() - 10
    with reverts_with("SignatureExpired", deadline):
        board.postBySig(sign_post(signers[0], deadline=deadline), {"from": relayer})


def test_signed_vote_expires_once_time_passes_its_deadline(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    deadline = chain.time() + 60
    signed = sign_vote(signers[0], 1, 1, deadline=deadline)
    chain.sleep(120)
    chain.mine()
    with reverts_with("SignatureExpired", deadline):
        board.voteBySig(signed, {"from": relayer})


def test_signed_post_is_accepted_up_to_its_deadline(board, relayer, signers, sign_post):
    deadline = chain.time() + 3600
    tx = board.postBySig(sign_post(signers[0], deadline=deadline), {"from": relayer})
    assert tx.timestamp <= deadline
    assert board.postCount() == 1


def test_valid_signature_on_bad_content_reverts_with_the_content_error(board, relayer, signers, sign_post, sign_vote):
    with reverts_with("ZeroDigest"):
        board.postBySig(sign_post(signers[0], "0x" + "00" * 32), {"from": relayer})
    with reverts_with("ParentNotFound", 7):
        board.postBySig(sign_post(signers[0], parent_id=7), {"from": relayer})
    with reverts_with("PostNotFound", 7):
        board.voteBySig(sign_vote(signers[0], 7, 1), {"from": relayer})
    with reverts_with("InvalidDirection", 3):
        board.voteBySig(sign_vote(signers[0], 7, 3), {"from": relayer})
    assert board.nonces(signers[0].address) == 0
