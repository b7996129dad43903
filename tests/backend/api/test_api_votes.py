"""GET /api/votes/{address}?posts=...: a voter's standing votes, read back from the index of a real chain.

One Board per module (and per database engine) gets up, down, changed and withdrawn votes from several
accounts through the contract; the app's own indexer indexes them; each voter's votes are read back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.api.schemas import VotesOut
from backend.app import create_app
from backend.http.patterns import POST_ID_MAX
from tests.support.board import BoardHandle
from tests.support.index import DATABASES, digest_of, make_settings, module_index, wait_indexed
from tests.support.wait import wait_for

NOBODY = Web3.to_checksum_address("0x" + "12" * 20)
UNKNOWN_POST = 999_999


@dataclass
class World:
    """The module's app, voters and posts."""

    client: TestClient
    voters: dict[str, str]  # name -> checksum address
    posts: dict[str, int]  # name -> post id

    def votes(self, voter: str, posts: str) -> dict[str, int]:
        response = self.client.get(f"/api/votes/{voter}", params={"posts": posts})
        assert response.status_code == 200, response.text
        return dict(response.json()["votes"])


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Three posts and a reply; four voters who vote up, down, change their minds and withdraw."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "api-votes")
    accounts = w3.eth.accounts
    voters = {"ann": accounts[2], "bob": accounts[3], "cat": accounts[4], "dan": accounts[5]}
    posts = {name: board.post(digest_of(name.encode())) for name in ("first", "second", "unvoted")}
    posts["reply"] = board.post(digest_of(b"reply"), posts["first"], accounts[1])
    ballot: list[tuple[str, str, int]] = [
        ("ann", "first", 1),
        ("ann", "second", -1),
        ("bob", "first", -1),
        ("bob", "first", 1),  # changed: down -> up
        ("bob", "second", 1),
        ("bob", "second", 0),  # withdrawn
        ("cat", "first", 1),
        ("cat", "first", -1),  # changed: up -> down
        ("cat", "reply", -1),
        ("dan", "first", 1),
        ("dan", "first", 0),  # withdrawn: dan has no vote left
    ]
    for voter, post, direction in ballot:
        board.vote(posts[post], direction, voters[voter])
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        wait_indexed(client, w3)
        yield World(client, voters, posts)


def _ids(world: World, *names: str) -> str:
    return ",".join(str(world.posts[name]) for name in names)


ALL = ("first", "second", "unvoted", "reply")


@pytest.mark.parametrize(
    ("voter", "expected"),
    [
        ("ann", {"first": 1, "second": -1}),
        ("bob", {"first": 1}),
        ("cat", {"first": -1, "reply": -1}),
        ("dan", {}),
    ],
)
def test_each_voters_standing_votes_read_back_exactly(world: World, voter: str, expected: dict[str, int]):
    votes = world.votes(world.voters[voter], _ids(world, *ALL))
    assert votes == {str(world.posts[name]): direction for name, direction in expected.items()}


def test_only_the_listed_posts_are_answered(world: World):
    assert world.votes(world.voters["ann"], _ids(world, "second", "unvoted")) == {str(world.posts["second"]): -1}


def test_unknown_posts_and_posts_without_a_vote_are_left_out(world: World):
    posts = f"{UNKNOWN_POST},{world.posts['unvoted']},{POST_ID_MAX}"
    assert world.votes(world.voters["ann"], posts) == {}
    assert world.votes(NOBODY, _ids(world, *ALL)) == {}


def test_repeated_ids_and_leading_zeros_are_fine(world: World):
    first = world.posts["first"]
    assert world.votes(world.voters["cat"], f"{first},{first},000{first}") == {str(first): -1}


def test_a_hundred_ids_are_answered(world: World):
    posts = ",".join([str(world.posts["reply"])] * 99 + [str(world.posts["first"])])
    assert world.votes(world.voters["cat"], posts) == {str(world.posts["first"]): -1, str(world.posts["reply"]): -1}


def test_lowercase_address_is_accepted_and_checksummed(world: World):
    ann = world.voters["ann"]
    body = world.client.get(f"/api/votes/{ann.lower()}", params={"posts": _ids(world, "first")}).json()
    assert body == {"voter": ann, "votes": {str(world.posts["first"]): 1}}


def test_votes_answer_is_exactly_its_declared_model(world: World):
    """Sent as bytes built by backend.db.queries, not re-validated by FastAPI: check them here."""
    for voter in ("ann", "cat", "dan"):
        response = world.client.get(f"/api/votes/{world.voters[voter]}", params={"posts": _ids(world, *ALL)})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["server-timing"].startswith("app;dur=")
        body = response.json()
        assert VotesOut.model_validate(body).model_dump(mode="json") == body


PATTERN = "posts: expected post ids separated by commas, such as 1,2,3"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/votes/0x123?posts=1", "address: expected 0x followed by 40 hex digits"),
        (f"/api/votes/{'0x' + 'zz' * 20}?posts=1", "address: expected 0x followed by 40 hex digits"),
        (
            "/api/votes/0xF39fd6e51aad88F6F4ce6aB8827279cffFb92266?posts=1",
            "address: mixed-case address fails its EIP-55 checksum",
        ),
        (f"/api/votes/{NOBODY}", "posts: Field required"),
        (f"/api/votes/{NOBODY}?posts=", PATTERN),
        (f"/api/votes/{NOBODY}?posts=abc", PATTERN),
        (f"/api/votes/{NOBODY}?posts=1,,2", PATTERN),
        (f"/api/votes/{NOBODY}?posts=1,", PATTERN),
        (f"/api/votes/{NOBODY}?posts=-1", PATTERN),
        (f"/api/votes/{NOBODY}?posts=1.5", PATTERN),
        (f"/api/votes/{NOBODY}?posts=1%202", PATTERN),
        (f"/api/votes/{NOBODY}?posts=0", f"posts: 0 is not a post id (1 to {POST_ID_MAX})"),
        (f"/api/votes/{NOBODY}?posts=1,000", f"posts: 000 is not a post id (1 to {POST_ID_MAX})"),
        (
            f"/api/votes/{NOBODY}?posts={POST_ID_MAX + 1}",
            f"posts: {POST_ID_MAX + 1} is not a post id (1 to {POST_ID_MAX})",
        ),
        (
            f"/api/votes/{NOBODY}?posts=2,{'9' * 5000}",
            f"posts: {'9' * 20}… is not a post id (1 to {POST_ID_MAX})",
        ),
        (f"/api/votes/{NOBODY}?posts={','.join(['1'] * 101)}", "posts: at most 100 post ids, got 101"),
    ],
)
def test_bad_votes_request_is_422_with_reason(world: World, path: str, detail: str):
    response = world.client.get(path)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_votes_follow_the_chain_as_they_change(client: TestClient, board: BoardHandle, w3: Web3):
    voter = w3.eth.accounts[6]
    post_id = board.post(digest_of(b"changing minds"))

    def votes() -> dict[str, int]:
        return dict(client.get(f"/api/votes/{voter}", params={"posts": str(post_id)}).json()["votes"])

    for direction in (1, -1, 0, -1):
        board.vote(post_id, direction, voter)
        expected = {str(post_id): direction} if direction else {}
        wait_for(lambda expected=expected: votes() == expected, timeout=15)
    assert board.contract.functions.voteOf(post_id, voter).call() == -1
