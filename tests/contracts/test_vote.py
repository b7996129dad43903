"""Direct votes: one per (voter, post), changeable, tallied on chain, and the errors of bad input."""

import pytest

from tests.support.contracts import DIGEST, ZERO_DIGEST, reverts_with


@pytest.fixture
def post_id(board, accounts):
    return board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]}).return_value


def tallies(board, post_id):
    return tuple(board.getPost(post_id)[4:])


def test_upvote_counts_and_emits_vote_cast_with_tallies(board, accounts, post_id):
    tx = board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    assert len(tx.events) == 1
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[2], "direction": 1, "upvotes": 1, "downvotes": 0}
    assert tallies(board, post_id) == (1, 0)
    assert board.voteOf(post_id, accounts[2]) == 1


def test_downvote_counts_and_emits_vote_cast_with_tallies(board, accounts, post_id):
    board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    tx = board.vote(post_id, DIGEST, -1, {"from": accounts[3]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[3], "direction": -1, "upvotes": 1, "downvotes": 1}
    assert tallies(board, post_id) == (1, 1)
    assert board.voteOf(post_id, accounts[3]) == -1


def test_changing_a_vote_moves_it_between_tallies(board, accounts, post_id):
    board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    tx = board.vote(post_id, DIGEST, -1, {"from": accounts[2]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[2], "direction": -1, "upvotes": 0, "downvotes": 1}
    assert tallies(board, post_id) == (0, 1)


def test_withdrawing_a_vote_removes_it_from_the_tallies(board, accounts, post_id):
    board.vote(post_id, DIGEST, -1, {"from": accounts[2]})
    tx = board.vote(post_id, DIGEST, 0, {"from": accounts[2]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[2], "direction": 0, "upvotes": 0, "downvotes": 0}
    assert board.voteOf(post_id, accounts[2]) == 0


def test_withdrawing_without_a_vote_changes_nothing_but_emits(board, accounts, post_id):
    tx = board.vote(post_id, DIGEST, 0, {"from": accounts[2]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[2], "direction": 0, "upvotes": 0, "downvotes": 0}
    assert tallies(board, post_id) == (0, 0)


def test_voting_the_same_way_twice_counts_once(board, accounts, post_id):
    board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    tx = board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    assert tx.events["VoteCast"] == {"postId": 1, "voter": accounts[2], "direction": 1, "upvotes": 1, "downvotes": 0}
    assert tallies(board, post_id) == (1, 0)


def test_author_may_vote_on_their_own_post(board, accounts, post_id):
    board.vote(post_id, DIGEST, 1, {"from": accounts[1]})
    assert tallies(board, post_id) == (1, 0)


def test_votes_on_one_post_leave_another_untouched(board, accounts, post_id):
    other = board.post(DIGEST, 0, ZERO_DIGEST, {"from": accounts[1]}).return_value
    board.vote(post_id, DIGEST, 1, {"from": accounts[2]})
    assert tallies(board, other) == (0, 0)
    assert board.voteOf(other, accounts[2]) == 0


def test_downvoted_post_stays_reachable(board, accounts, post_id):
    for voter in accounts[2:8]:
        board.vote(post_id, DIGEST, -1, {"from": voter})
    assert tuple(board.getPost(post_id))[:3] == (accounts[1].address, 0, DIGEST)
    assert tallies(board, post_id) == (0, 6)


@pytest.mark.parametrize("direction", [2, -2, 127, -128])
def test_vote_outside_minus_one_to_one_reverts_with_invalid_direction(board, accounts, post_id, direction):
    with reverts_with("InvalidDirection", direction):
        board.vote(post_id, DIGEST, direction, {"from": accounts[2]})


@pytest.mark.parametrize("missing", [0, 2, 2**256 - 1])
def test_vote_on_a_missing_post_reverts_with_post_not_found(board, accounts, post_id, missing):
    with reverts_with("PostNotFound", missing):
        board.vote(missing, DIGEST, 1, {"from": accounts[2]})


def test_vote_of_a_missing_post_reverts_with_post_not_found(board, accounts):
    with reverts_with("PostNotFound", 1):
        board.voteOf(1, accounts[2])
