"""The pages' presentation filters: one score, the tallies in words, branch sizes, permalinks, status times."""

from __future__ import annotations

from typing import Any

import pytest

from backend.web import filters


def _post(**fields: Any) -> dict[str, Any]:
    base = {"id": 7, "parent_id": None, "root_id": 7, "depth": 0, "upvotes": 12, "downvotes": 30, "score": -18}
    return base | {"counted_upvotes": 3, "counted_downvotes": 4, "counted_score": -1} | fields


def test_the_one_score_is_the_lenss():
    assert filters.lens_score(_post(), "default") == -1
    assert filters.lens_score(_post(), "trusted") == -1
    assert filters.lens_score(_post(), "all") == -18


@pytest.mark.parametrize(
    ("lens", "fields", "words"),
    [
        ("default", {}, "12 up, 30 down; your lens (default) counts 3 up, 4 down: 35 voters were new to the board"),
        (
            "default",
            {"upvotes": 4, "downvotes": 4},
            "4 up, 4 down; your lens (default) counts 3 up, 4 down: 1 voter was new to the board",
        ),
        (
            "never",
            {"counted_upvotes": 12, "counted_downvotes": 30},
            "12 up, 30 down; your lens (never) counts them all",
        ),
        ("trusted", {}, "12 up, 30 down; your lens (trusted) counts 3 up, 4 down: only your trusted voters' votes"),
        ("all", {}, "12 up, 30 down; your lens (all) counts every vote"),
    ],
)
def test_tallies_in_words(lens: str, fields: dict[str, Any], words: str):
    assert filters.tally_words(_post(**fields), lens) == words


def test_a_branch_counts_nested_replies_and_those_left_for_another_page():
    leaf = {"replies": [], "more_replies": {"count": 2}}
    middle = {"replies": [leaf, {"replies": [], "more_replies": None}], "more_replies": None}
    assert filters.branch_size({"replies": [middle], "more_replies": {"count": 5}}) == 3 + 2 + 5


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({}, "/posts/7"),
        ({"id": 9, "parent_id": 7, "root_id": 7, "depth": 1}, "/posts/7#post-9"),
        ({"id": 9, "parent_id": 8, "root_id": 7, "depth": filters.THREAD_DEPTH}, "/posts/7#post-9"),
        ({"id": 9, "parent_id": 8, "root_id": 7, "depth": filters.THREAD_DEPTH + 1}, "/posts/9"),
    ],
)
def test_a_replys_permalink_opens_its_thread_where_the_root_page_holds_it(fields: dict[str, Any], url: str):
    assert filters.permalink(_post(**fields)) == url


def test_status_times_read_as_dates_and_ages():
    assert filters.datetime_utc(1796552535.5) == "2026-12-06 10:22 UTC"
    assert filters.datetime_utc(None) == "—"
    assert filters.seconds_ago(100.0, now=102.9) == "2 s ago"
    assert filters.seconds_ago(100.0, now=100.0 + 300) == "5 min ago"
    assert filters.seconds_ago(None) == "never"
    assert filters.plural(1, "reply", "replies") == "1 reply"
    assert filters.plural(0, "reply", "replies") == "0 replies"


@pytest.mark.parametrize(
    "ts",
    [0, 1, 59, 1796563726, 951782400, 4102444800, -1, -30610224000, -30610224001, 253402300799,
     1796563726.75, -0.5],
)  # fmt: skip
def test_times_read_as_datetime_writes_them(ts: float):
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(ts, UTC)
    assert filters.isotime(ts) == when.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[arg-type]
    assert filters.exacttime(ts) == when.strftime("%Y-%m-%d %H:%M:%S UTC")  # type: ignore[arg-type]
