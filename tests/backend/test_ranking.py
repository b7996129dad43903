"""backend.ranking: hot, controversial, Wilson lower bound."""

from __future__ import annotations

import math

import pytest

from backend import ranking


def test_hot_of_unvoted_post_is_its_age_term():
    assert ranking.hot(0, 0, 45000) == pytest.approx(1.0)


def test_hot_grows_by_one_per_tenfold_score():
    assert ranking.hot(10, 0, 0) == pytest.approx(1.0)
    assert ranking.hot(100, 0, 0) == pytest.approx(2.0)


def test_hot_is_negative_for_downvoted_posts():
    assert ranking.hot(0, 100, 0) == pytest.approx(-2.0)


def test_hot_treats_score_one_and_zero_alike():
    assert ranking.hot(1, 0, 1000) == ranking.hot(0, 0, 1000) == ranking.hot(3, 3, 1000)


def test_newer_post_outranks_older_post_with_same_score():
    assert ranking.hot(5, 1, 2_000_000) > ranking.hot(5, 1, 1_000_000)


@pytest.mark.parametrize(("up", "down"), [(0, 0), (5, 0), (0, 5)])
def test_controversial_is_zero_without_both_sides(up, down):
    assert ranking.controversial(up, down) == 0.0


def test_controversial_of_even_split_is_total_votes():
    assert ranking.controversial(10, 10) == pytest.approx(20.0)


def test_controversial_follows_the_formula():
    assert ranking.controversial(9, 3) == pytest.approx(12 ** (3 / 9))


def test_even_split_is_more_controversial_than_lopsided():
    assert ranking.controversial(10, 10) > ranking.controversial(19, 1)


def test_wilson_of_no_votes_is_zero():
    assert ranking.wilson(0, 0) == 0.0


def test_wilson_matches_known_value():
    # one upvote at z = 1.2816: 1 / (1 + z^2)
    assert ranking.wilson(1, 0) == pytest.approx(1 / (1 + ranking.WILSON_Z**2))


def test_wilson_prefers_more_evidence_at_same_ratio():
    assert ranking.wilson(100, 0) > ranking.wilson(10, 0) > ranking.wilson(1, 0)


def test_wilson_stays_between_zero_and_the_observed_share():
    for up, down in [(1, 1), (7, 3), (50, 50), (0, 4)]:
        value = ranking.wilson(up, down)
        assert 0.0 <= value <= up / (up + down) + 1e-12
        assert not math.isnan(value)
