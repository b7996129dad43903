"""Batches of signed posts then signed votes: applied in order, all or nothing."""

from brownie import chain

from tests.support.contracts import DIGEST, OTHER_DIGEST, ZERO_DIGEST, error_data, reverts_with


def inner(name, *args):
    return bytes.fromhex(error_data(name, *args)[2:])


def test_batch_applies_posts_then_votes_in_order(board, relayer, signers, sign_post, sign_vote):
    posts = [sign_post(signers[0], DIGEST), sign_post(signers[1], OTHER_DIGEST, parent_id=1)]
    votes = [
        sign_vote(signers[2], 1, 1),
        sign_vote(signers[3], 2, -1, post_digest=OTHER_DIGEST),
        sign_vote(signers[0], 2, 1, nonce=1, post_digest=OTHER_DIGEST),
    ]
    tx = board.batch(posts, votes, {"from": relayer})

    assert board.postCount() == 2
    assert [dict(e) for e in tx.events["PostCreated"]] == [
        {"postId": 1, "parentId": 0, "author": signers[0].address, "digest": DIGEST},
        {"postId": 2, "parentId": 1, "author": signers[1].address, "digest": OTHER_DIGEST},
    ]
    assert [dict(e) for e in tx.events["VoteCast"]] == [
        {"postId": 1, "voter": signers[2].address, "direction": 1, "upvotes": 1, "downvotes": 0},
        {"postId": 2, "voter": signers[3].address, "direction": -1, "upvotes": 0, "downvotes": 1},
        {"postId": 2, "voter": signers[0].address, "direction": 1, "upvotes": 1, "downvotes": 1},
    ]
    assert [(e["signer"], e["nonce"]) for e in tx.events["NonceUsed"]] == [
        (signers[0].address, 0),
        (signers[1].address, 0),
        (signers[2].address, 0),
        (signers[3].address, 0),
        (signers[0].address, 1),
    ]
    assert tuple(board.getPost(2)[4:]) == (1, 1)


def test_batch_events_come_from_the_board_not_the_relayer(board, relayer, signers, sign_post):
    tx = board.batch([sign_post(signers[0])], [], {"from": relayer})
    assert {log["address"] for log in tx.logs} == {board.address}
    assert board.getPost(1)[0] == signers[0].address


def test_empty_batch_changes_nothing(board, relayer):
    tx = board.batch([], [], {"from": relayer})
    assert len(tx.events) == 0
    assert board.postCount() == 0


def test_batch_of_votes_only_votes_on_existing_posts(board, accounts, relayer, signers, sign_vote):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.batch([], [sign_vote(s, 1, 1) for s in signers[:5]], {"from": relayer})
    assert tuple(board.getPost(1)[4:]) == (5, 0)


def test_batch_with_one_replayed_post_reverts_whole_and_stores_nothing(board, relayer, signers, sign_post, sign_vote):
    good = sign_post(signers[0])
    posts = [good, sign_post(signers[1]), good]
    votes = [sign_vote(signers[2], 1, 1)]
    with reverts_with("BatchItemFailed", 2, inner("InvalidNonce", signers[0].address, 1, 0)):
        board.batch(posts, votes, {"from": relayer})
    assert board.postCount() == 0
    assert [board.nonces(s.address) for s in signers[:3]] == [0, 0, 0]


def test_batch_with_a_tampered_post_reports_its_index(board, relayer, signers, sign_post):
    tampered = list(sign_post(signers[1]))
    tampered[1] = OTHER_DIGEST
    with reverts_with("BatchItemFailed", 1, inner("InvalidSignature", signers[1].address)):
        board.batch([sign_post(signers[0]), tampered], [], {"from": relayer})
    assert board.postCount() == 0


def test_batch_with_a_bad_vote_counts_its_index_after_the_posts(board, relayer, signers, sign_post, sign_vote):
    posts = [sign_post(signers[0]), sign_post(signers[1])]
    votes = [sign_vote(signers[2], 1, 1), sign_vote(signers[3], 3, 1)]
    with reverts_with("BatchItemFailed", 3, inner("PostNotFound", 3)):
        board.batch(posts, votes, {"from": relayer})
    assert board.postCount() == 0
    assert board.nonces(signers[2].address) == 0


def test_batch_with_an_expired_vote_reverts_whole(board, relayer, signers, sign_post, sign_vote):
    deadline = chain.time() - 10
    votes = [sign_vote(signers[1], 1, -1, deadline=deadline)]
    with reverts_with("BatchItemFailed", 1, inner("SignatureExpired", deadline)):
        board.batch([sign_post(signers[0])], votes, {"from": relayer})
    assert board.postCount() == 0


def test_batch_with_an_invalid_direction_reports_the_inner_error(board, relayer, signers, sign_post, sign_vote):
    with reverts_with("BatchItemFailed", 1, inner("InvalidDirection", -2)):
        board.batch([sign_post(signers[0])], [sign_vote(signers[1], 1, -2)], {"from": relayer})


def test_batch_reply_to_a_post_later_in_the_batch_reverts(board, relayer, signers, sign_post):
    posts = [sign_post(signers[0], parent_id=2), sign_post(signers[1])]
    with reverts_with("BatchItemFailed", 0, inner("ParentNotFound", 2)):
        board.batch(posts, [], {"from": relayer})


def test_batch_with_a_zero_digest_reverts_whole(board, relayer, signers, sign_post):
    posts = [sign_post(signers[0]), sign_post(signers[1], "0x" + "00" * 32)]
    with reverts_with("BatchItemFailed", 1, inner("ZeroDigest")):
        board.batch(posts, [], {"from": relayer})
    assert board.postCount() == 0
