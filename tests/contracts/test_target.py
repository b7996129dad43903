"""Replies and votes name their target by id and digest: another post at that id is refused on every path."""

from tests.support.contracts import DIGEST, OTHER_DIGEST, ZERO_DIGEST, error_data, reverts_with

THIRD_DIGEST = "0x" + "ef" * 32


def inner(name, *args):
    return bytes.fromhex(error_data(name, *args)[2:])


def test_direct_reply_naming_another_digest_reverts_with_parent_mismatch(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("ParentMismatch", 1, DIGEST, OTHER_DIGEST):
        board.post(THIRD_DIGEST, 1, OTHER_DIGEST, {"from": accounts[2]})
    assert board.postCount() == 1


def test_direct_reply_naming_a_zero_parent_digest_reverts_with_parent_mismatch(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("ParentMismatch", 1, DIGEST, ZERO_DIGEST):
        board.post(THIRD_DIGEST, 1, ZERO_DIGEST, {"from": accounts[2]})


def test_top_level_post_with_a_parent_digest_reverts_with_parent_mismatch(board, accounts):
    with reverts_with("ParentMismatch", 0, ZERO_DIGEST, DIGEST):
        board.post(DIGEST, 0, DIGEST, {"from": accounts[1]})
    assert board.postCount() == 0


def test_reply_to_a_missing_parent_reports_parent_not_found_before_any_digest(board, accounts):
    with reverts_with("ParentNotFound", 1):
        board.post(DIGEST, 1, ZERO_DIGEST, {"from": accounts[1]})


def test_direct_vote_naming_another_digest_reverts_with_post_mismatch_and_counts_nothing(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("PostMismatch", 1, DIGEST, OTHER_DIGEST):
        board.vote(1, OTHER_DIGEST, 1, {"from": accounts[2]})
    assert tuple(board.getPost(1)[4:]) == (0, 0)
    assert board.voteOf(1, accounts[2]) == 0


def test_direct_vote_naming_the_zero_digest_reverts_with_post_mismatch(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("PostMismatch", 1, DIGEST, ZERO_DIGEST):
        board.vote(1, ZERO_DIGEST, -1, {"from": accounts[2]})


def test_changing_a_vote_also_checks_the_digest(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.vote(1, DIGEST, 1, {"from": accounts[2]})
    with reverts_with("PostMismatch", 1, DIGEST, OTHER_DIGEST):
        board.vote(1, OTHER_DIGEST, -1, {"from": accounts[2]})
    assert board.voteOf(1, accounts[2]) == 1
    assert tuple(board.getPost(1)[4:]) == (1, 0)


def test_signed_reply_naming_another_digest_reverts_with_parent_mismatch_and_keeps_the_nonce(
    board, accounts, relayer, signers, sign_post
):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    signed = sign_post(signers[0], THIRD_DIGEST, parent_id=1, parent_digest=OTHER_DIGEST)
    with reverts_with("ParentMismatch", 1, DIGEST, OTHER_DIGEST):
        board.postBySig(signed, {"from": relayer})
    assert board.nonces(signers[0].address) == 0
    assert board.postCount() == 1


def test_signed_vote_naming_another_digest_reverts_with_post_mismatch_and_keeps_the_nonce(
    board, accounts, relayer, signers, sign_vote
):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("PostMismatch", 1, DIGEST, OTHER_DIGEST):
        board.voteBySig(sign_vote(signers[0], 1, 1, post_digest=OTHER_DIGEST), {"from": relayer})
    assert board.nonces(signers[0].address) == 0
    assert tuple(board.getPost(1)[4:]) == (0, 0)


def test_relayer_cannot_repair_a_mismatch_by_changing_the_signed_digest(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    signed = list(sign_vote(signers[0], 1, 1, post_digest=OTHER_DIGEST))
    signed[2] = DIGEST
    with reverts_with("InvalidSignature", signers[0].address):
        board.voteBySig(signed, {"from": relayer})


def test_batch_reply_naming_another_digest_reports_its_index_and_stores_nothing(board, relayer, signers, sign_post):
    posts = [
        sign_post(signers[0], DIGEST),
        sign_post(signers[1], THIRD_DIGEST, parent_id=1, parent_digest=OTHER_DIGEST),
    ]
    with reverts_with("BatchItemFailed", 1, inner("ParentMismatch", 1, DIGEST, OTHER_DIGEST)):
        board.batch(posts, [], {"from": relayer})
    assert board.postCount() == 0


def test_batch_vote_naming_another_digest_reports_its_index_after_the_posts(
    board, relayer, signers, sign_post, sign_vote
):
    posts = [sign_post(signers[0], DIGEST), sign_post(signers[1], OTHER_DIGEST)]
    votes = [
        sign_vote(signers[2], 2, 1, post_digest=OTHER_DIGEST),
        sign_vote(signers[3], 1, -1, post_digest=OTHER_DIGEST),
    ]
    with reverts_with("BatchItemFailed", 3, inner("PostMismatch", 1, DIGEST, OTHER_DIGEST)):
        board.batch(posts, votes, {"from": relayer})
    assert board.postCount() == 0


def test_batch_reply_and_vote_on_a_post_made_earlier_in_the_same_batch_land(
    board, relayer, signers, sign_post, sign_vote
):
    posts = [
        sign_post(signers[0], OTHER_DIGEST),
        sign_post(signers[1], DIGEST, parent_id=1, parent_digest=OTHER_DIGEST),
    ]
    votes = [sign_vote(signers[2], 1, 1, post_digest=OTHER_DIGEST)]
    tx = board.batch(posts, votes, {"from": relayer})
    assert tx.events["PostCreated"][1] == {"postId": 2, "parentId": 1, "author": signers[1].address, "digest": DIGEST}
    assert tuple(board.getPost(1)[4:]) == (1, 0)


def test_a_racing_batch_that_took_the_id_makes_the_late_reply_and_vote_fail(
    board, accounts, relayer, signers, sign_post, sign_vote
):
    # both senders expected their own post to become id 1; the other batch was mined first
    late = [
        sign_post(signers[0], OTHER_DIGEST),
        sign_post(signers[1], THIRD_DIGEST, parent_id=1, parent_digest=OTHER_DIGEST),
    ]
    board.batch([sign_post(signers[2], DIGEST)], [], {"from": relayer})
    with reverts_with("BatchItemFailed", 1, inner("ParentMismatch", 1, DIGEST, OTHER_DIGEST)):
        board.batch(late, [], {"from": relayer})
    with reverts_with("BatchItemFailed", 0, inner("PostMismatch", 1, DIGEST, OTHER_DIGEST)):
        board.batch([], [sign_vote(signers[3], 1, 1, post_digest=OTHER_DIGEST)], {"from": relayer})
    assert board.postCount() == 1
    assert tuple(board.getPost(1)[4:]) == (0, 0)


def test_a_later_voter_naming_another_digest_is_refused_once_the_post_has_votes(board, accounts):
    # the first vote caches the digest's tag; later votes are checked against it and the error still names the digest
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.post(OTHER_DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.vote(1, DIGEST, 1, {"from": accounts[2]})
    with reverts_with("PostMismatch", 1, DIGEST, OTHER_DIGEST):
        board.vote(1, OTHER_DIGEST, -1, {"from": accounts[3]})
    tx = board.vote(1, DIGEST, -1, {"from": accounts[3]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[3], "direction": -1, "upvotes": 1, "downvotes": 1}
    with reverts_with("PostMismatch", 2, OTHER_DIGEST, DIGEST):
        board.vote(2, DIGEST, 1, {"from": accounts[3]})
