"""Direct posts and replies: ids, storage, events and the errors of bad input."""

from brownie import chain

from tests.support.contracts import DIGEST, OTHER_DIGEST, ZERO_DIGEST, reverts_with


def test_first_post_gets_id_one_and_is_stored(board, accounts):
    tx = board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    assert tx.return_value == 1
    assert board.postCount() == 1
    timestamp = chain[tx.block_number].timestamp
    assert tuple(board.getPost(1)) == (accounts[1].address, 0, DIGEST, timestamp, 0, 0)


def test_post_emits_post_created_with_author_parent_and_digest(board, accounts):
    tx = board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    assert len(tx.events) == 1
    assert tx.events["PostCreated"] == {"postId": 1, "parentId": 0, "author": accounts[1], "digest": DIGEST}


def test_post_ids_count_up_without_gaps(board, accounts):
    ids = [board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[i % 3]}).return_value for i in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert board.postCount() == 5


def test_reply_records_its_parent(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    tx = board.post(OTHER_DIGEST, 1, DIGEST, {"from": accounts[2]})
    assert tx.events["PostCreated"] == {"postId": 2, "parentId": 1, "author": accounts[2], "digest": OTHER_DIGEST}
    assert tuple(board.getPost(2)[:3]) == (accounts[2].address, 1, OTHER_DIGEST)


def test_reply_to_a_reply_is_allowed(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.post(DIGEST, 1, DIGEST, {"from": accounts[2]})
    board.post(DIGEST, 2, DIGEST, {"from": accounts[3]})
    assert board.getPost(3)[1] == 2


def test_reply_to_the_newest_post_is_allowed(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.post(DIGEST, 1, DIGEST, {"from": accounts[1]})
    assert board.getPost(2)[1] == 1


def test_the_same_digest_may_be_posted_twice(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    assert board.getPost(1)[2] == board.getPost(2)[2] == DIGEST


def test_post_with_zero_digest_reverts_with_zero_digest(board, accounts):
    with reverts_with("ZeroDigest"):
        board.post(ZERO_DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    assert board.postCount() == 0


def test_reply_to_a_missing_post_reverts_with_parent_not_found(board, accounts):
    with reverts_with("ParentNotFound", 1):
        board.post(DIGEST, 1, DIGEST, {"from": accounts[1]})


def test_reply_to_a_future_id_reverts_with_parent_not_found(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("ParentNotFound", 2):
        board.post(DIGEST, 2, DIGEST, {"from": accounts[1]})


def test_reply_to_an_id_beyond_uint48_reverts_with_parent_not_found(board, accounts):
    with reverts_with("ParentNotFound", 2**48):
        board.post(DIGEST, 2**48, DIGEST, {"from": accounts[1]})


def test_get_post_of_id_zero_reverts_with_post_not_found(board):
    with reverts_with("PostNotFound", 0):
        board.getPost(0)


def test_get_post_of_a_missing_id_reverts_with_post_not_found(board, accounts):
    board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]})
    with reverts_with("PostNotFound", 2):
        board.getPost(2)


def test_a_new_board_has_no_posts(board):
    assert board.postCount() == 0
