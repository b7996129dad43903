"""GET /api/status on real chains, and the routes that need the node when it is down or has no Board.

* ``world``: a Board on the session chain with pinned, missing and invalid content,
  replies and votes from several accounts, indexed by the app's own indexer.
* ``dead_node``: the app pointed at a port nothing listens on.
* ``bare_chain``: a Ganache of this module's own with no Board deployed, and an empty data dir.
* ``stopped_node``: a Ganache of the module's own that stops after the app found its Board there.
* ``broken_index``: an index database that lost a table (the database is down).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from web3 import Web3

from backend.api.schemas import StatusOut
from backend.app import create_app
from backend.config import Settings, public_url, redact_url
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.deployments.records import genesis_hash
from backend.devchain import Ganache, free_port
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import DATABASES, make_settings, module_index
from tests.support.wait import wait_for

SECRET_USER, SECRET_PASSWORD, SECRET_KEY, SECRET_TOKEN = "nodeuser", "n0de-pa55word", "k3y0123456789abc", "t0ken987"
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# schema-valid: these routes must answer for the node before they look at the signature
SIGNED_VOTE = {
    "kind": "vote",
    "voter": SIGNER,
    "postId": 1,
    "postDigest": "0x" + "ab" * 32,
    "direction": 1,
    "nonce": 0,
    "deadline": 2**40,
    "signature": "0x" + "11" * 65,
}
NODE_ROUTES = [
    pytest.param("GET", "/api/contract", None, id="contract"),
    pytest.param("GET", f"/api/nonces/{SIGNER}", None, id="nonces"),
    pytest.param("POST", "/api/relay", SIGNED_VOTE, id="relay"),
]


def _status(client: TestClient) -> dict[str, Any]:
    response = client.get("/api/status")
    assert response.status_code == 200
    return response.json()


def _call(client: TestClient, method: str, path: str, body: dict[str, Any] | None) -> Any:
    return client.request(method, path, json=body)


# --- a Board with posts, replies and votes ----------------------------------------------------------


@dataclass
class World:
    """The module's app on an indexed Board."""

    client: TestClient
    board: BoardHandle
    w3: Web3


@pytest.fixture(scope="module", params=DATABASES)
def world(request: pytest.FixtureRequest, w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """4 posts and 2 replies by 4 authors (content: 4 pinned, 1 missing, 1 invalid); 6 votes stand of 8 cast."""
    data_dir, board, url = module_index(w3, tmp_path_factory, request.param, "api-status")
    pins = PinStore(data_dir / "content")
    accounts = w3.eth.accounts

    def post(data: bytes, parent: int = 0, sender: int = 0, pin: bool = True) -> int:
        if pin:
            pins.put(data)
        return board.post(sha256(data), parent, accounts[sender])

    first = post(encode_document("First", "pinned"), sender=0)
    second = post(encode_document("Second", "pinned"), sender=1)
    post(encode_document("Lost", "never pinned"), sender=1, pin=False)
    post(b"not a document", sender=2)
    post(encode_document(None, "a reply"), first, sender=2)
    post(encode_document(None, "another reply"), first, sender=3)
    for voter in (1, 2, 3, 4):
        board.vote(first, 1, accounts[voter])
    board.vote(second, -1, accounts[5])
    board.vote(second, 1, accounts[6])
    board.vote(second, 1, accounts[7])
    board.vote(second, 0, accounts[7])  # withdrawn: an event, no standing vote
    settings = make_settings(data_dir, board.w3.provider.endpoint_uri, url)
    with TestClient(create_app(settings)) as client:
        head = w3.eth.block_number
        wait_for(lambda: (i := _status(client)["index"])["indexed_block"] == head and i["indexer"]["caught_up"])
        yield World(client, board, w3)


def test_status_names_the_nodes_chain_head_and_board(world: World):
    status = _status(world.client)
    deployment = world.board.deployment
    assert (status["rpc_url"], status["chain_id"], status["head_block"]) == (
        world.w3.provider.endpoint_uri,
        world.w3.eth.chain_id,
        world.w3.eth.block_number,
    )
    assert (status["contract_address"], status["deployment_block"]) == (deployment.address, deployment.block_number)
    assert status["error"] is None


def test_index_is_of_the_nodes_chain_and_board(world: World):
    index = _status(world.client)["index"]
    deployment = world.board.deployment
    assert index["chain_id"] == world.w3.eth.chain_id
    assert index["genesis_hash"] == genesis_hash(world.w3)
    assert (index["contract_address"], index["deployment_block"]) == (deployment.address, deployment.block_number)


def test_caught_up_index_is_current_with_lag_zero(world: World):
    index = _status(world.client)["index"]
    head = world.w3.eth.block_number
    assert (index["current"], index["indexed_block"], index["lag"], index["error"]) == (True, head, 0, None)
    assert index["indexed_block_hash"] == Web3.to_hex(world.w3.eth.get_block(head)["hash"])


def test_status_counts_posts_authors_votes_and_content(world: World):
    index = _status(world.client)["index"]
    counts = {key: index[key] for key in ("posts", "authors", "votes", "vote_events")}
    assert counts == {"posts": 6, "authors": 4, "votes": 6, "vote_events": 8}
    assert index["content"] == {"pinned": 4, "missing": 1, "invalid": 1, "queued": 1, "progress": "content 5 of 6"}


def test_status_shows_the_indexer_caught_up_without_errors(world: World):
    indexer = _status(world.client)["index"]["indexer"]
    head = world.w3.eth.block_number
    assert indexer["updated_at"] > 0
    del indexer["updated_at"]
    assert indexer == {
        "running": True,
        "current": True,
        "head_block": head,
        "indexed_block": head,
        "target_block": head,
        "finality": "head minus 0 confirmations",
        "behind": 0,
        "caught_up": True,
        "error": None,
        "reorgs": 0,
        "rebuilds": 0,
        "malformed_logs": 0,
        "quarantined": 0,
        # Ganache took every batch and never pushed back: nothing learned, nothing retried
        "provider": {
            "throttled": False, "throttles": 0, "retries": 0, "batch_size": 50, "log_span": None,
            "split_batches": 0, "refused_ranges": 0,
        },
    }  # fmt: skip


def test_status_body_is_exactly_the_documented_model(world: World):
    body = _status(world.client)
    assert StatusOut.model_validate(body).model_dump(mode="json") == body


def test_openapi_documents_every_status_field(world: World):
    schema = world.client.get("/openapi.json").json()
    answer = schema["paths"]["/api/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/StatusOut"}
    models = schema["components"]["schemas"]
    for name in ("StatusOut", "IndexStatusOut", "IndexerStateOut", "ContentCountsOut"):
        for field, spec in models[name]["properties"].items():
            nested = "$ref" in spec or any("$ref" in option for option in spec.get("anyOf", []))
            assert nested or spec.get("description"), f"{name}.{field} has no description"


# --- nothing listens at INDELIBLE_RPC_URL ------------------------------------------------------------


@pytest.fixture(scope="module")
def dead_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app (indexer included) on a port nothing listens on."""
    data_dir = tmp_path_factory.mktemp("dead-node") / "data"
    data_dir.mkdir()
    # a hosted node's URL carries its key: no answer may show it
    url = f"http://{SECRET_USER}:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/v3/{SECRET_KEY}?token={SECRET_TOKEN}"
    settings = make_settings(data_dir, url, f"sqlite:///{data_dir / 'index.sqlite3'}")
    with TestClient(create_app(settings)) as client:
        yield client


def test_no_answer_shows_the_nodes_key_or_password(dead_node: TestClient):
    wait_for(lambda: _status(dead_node)["index"]["indexer"]["error"])
    answers = [
        dead_node.get("/api/status").text,
        dead_node.get("/status").text,
        dead_node.get("/api/contract").text,
        dead_node.get(f"/api/nonces/{SIGNER}").text,
        dead_node.post("/api/relay", json=SIGNED_VOTE).text,
    ]
    for answer in answers:
        for secret in (SECRET_USER, SECRET_PASSWORD, SECRET_KEY, SECRET_TOKEN):
            assert secret not in answer
    rpc_url = _status(dead_node)["rpc_url"]
    assert rpc_url.startswith("http://127.0.0.1:") and rpc_url.endswith("/…")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("https://mainnet.infura.io/v3/0123456789abcdef", "https://mainnet.infura.io/…"),
        ("https://node.example/?apikey=k", "https://node.example/…"),
        ("https://alice:pw@node.example:8443", "https://node.example:8443/…"),
        ("http://[::1]:8545", "http://[::1]:8545"),
    ],
)
def test_public_url_keeps_scheme_host_and_port_only(url: str, shown: str):
    assert public_url(url) == shown


def test_redact_url_hides_the_secret_parts_wherever_an_error_repeats_them():
    url = "https://alice:pw@node.example/v3/key123?token=t0k"
    error = f"node at {url} unreachable: Max retries exceeded with url: /v3/key123?token=t0k (alice:pw)"
    redacted = redact_url(error, url)
    assert redacted.startswith("node at https://node.example/… unreachable: ")
    assert not any(secret in redacted for secret in ("key123", "t0k", "alice:pw"))


def test_status_of_a_dead_node_is_200_and_says_it_is_unreachable(dead_node: TestClient):
    status = _status(dead_node)
    url = status["rpc_url"]
    assert (status["chain_id"], status["head_block"], status["contract_address"]) == (None, None, None)
    assert status["error"] == f"node at {url} unreachable"  # the driver's "Connection refused" stays in the log
    assert (status["index"]["current"], status["index"]["lag"]) == (False, None)
    assert StatusOut.model_validate(status).model_dump(mode="json") == status


def test_indexer_of_a_dead_node_reports_why_it_cannot_index(dead_node: TestClient):
    indexer = wait_for(lambda: (i := _status(dead_node)["index"]["indexer"])["error"] and i)
    assert indexer["error"] == f"node at {_status(dead_node)['rpc_url']} unreachable"
    assert (indexer["running"], indexer["current"], indexer["indexed_block"]) == (True, False, None)


def test_status_page_of_a_dead_node_shows_the_error(dead_node: TestClient):
    response = dead_node.get("/status", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert f"node at {public_url(dead_node.app.state.indelible.settings.rpc_url)} unreachable" in response.text


@pytest.mark.parametrize(("method", "path", "body"), NODE_ROUTES)
def test_routes_needing_a_dead_node_are_503_with_the_reason(dead_node: TestClient, method, path, body):
    response = _call(dead_node, method, path, body)
    url = public_url(dead_node.app.state.indelible.settings.rpc_url)
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"no Board deployment available: node at {url} unreachable: ")


def test_bad_nonce_address_is_422_even_with_the_node_down(dead_node: TestClient):
    response = dead_node.get("/api/nonces/0x1234")
    assert response.status_code == 422
    assert response.json() == {"detail": "address: expected 0x followed by 40 hex digits"}


# --- a chain with no Board deployed ------------------------------------------------------------------


@dataclass
class Bare:
    """An app on a chain where no Board was ever deployed."""

    client: TestClient
    node: Ganache
    deployments: Path


@pytest.fixture(scope="module")
def bare_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bare]:
    """A fresh Ganache, an empty data dir, and the app (indexer included) on both."""
    data_dir = tmp_path_factory.mktemp("bare-chain") / "data"
    data_dir.mkdir()
    with Ganache(free_port(), db_path=None) as node:
        settings = make_settings(data_dir, node.url, f"sqlite:///{data_dir / 'index.sqlite3'}")
        with TestClient(create_app(settings)) as client:
            yield Bare(client, node, settings.deployments_path)


def test_status_without_a_deployment_says_none_is_recorded(bare_chain: Bare):
    status = _status(bare_chain.client)
    assert (status["chain_id"], status["head_block"]) == (1337, connect(bare_chain.node).eth.block_number)
    assert (status["contract_address"], status["deployment_block"]) == (None, None)
    assert status["error"] == f"no deployment recorded for chain 1337 in {bare_chain.deployments}"
    index = status["index"]
    assert (index["current"], index["lag"], index["contract_address"], index["posts"]) == (False, None, None, 0)
    assert StatusOut.model_validate(status).model_dump(mode="json") == status


@pytest.mark.parametrize(("method", "path", "body"), NODE_ROUTES)
def test_routes_needing_a_board_are_503_without_one(bare_chain: Bare, method, path, body):
    response = _call(bare_chain.client, method, path, body)
    assert response.status_code == 503
    assert response.json() == {
        "detail": f"no Board deployment available: no deployment recorded for chain 1337 in {bare_chain.deployments}"
    }


def test_posts_of_an_empty_index_are_an_empty_page(bare_chain: Bare):
    response = bare_chain.client.get("/api/posts")
    assert response.status_code == 200
    assert response.json() == {"posts": [], "next_cursor": None, "chain": None}  # no block indexed: no chain facts


# --- the node stops after the app found its Board -----------------------------------------------------


@dataclass
class Stopped:
    """An app that found its Board on a node that has stopped since."""

    client: TestClient
    url: str
    address: str


@pytest.fixture(scope="module")
def stopped_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stopped]:
    """A Ganache of the module's own with a Board: the app reads /api/contract, then the node stops."""
    data_dir = tmp_path_factory.mktemp("stopped-node") / "data"
    node = Ganache(free_port(), db_path=None).start()
    try:
        deployment = deploy_board(connect(node), data_dir).deployment
        settings = make_settings(data_dir, node.url, f"sqlite:///{data_dir / 'index.sqlite3'}")
        with TestClient(create_app(settings, run_indexer=False)) as client:
            assert client.get("/api/contract").status_code == 200  # the app has found its Board
            node.stop()
            yield Stopped(client, node.url, deployment.address)
    finally:
        node.stop()


@pytest.mark.parametrize(("method", "path", "body"), NODE_ROUTES[2:])
def test_routes_needing_a_node_that_stopped_are_503_with_the_reason(stopped_node: Stopped, method, path, body):
    response = _call(stopped_node.client, method, path, body)
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"node at {stopped_node.url} unreachable: ")


def test_nonce_route_answers_from_the_index_not_the_stopped_node(stopped_node: Stopped):
    response = stopped_node.client.get(f"/api/nonces/{SIGNER}")  # no indexer runs here: the index is empty
    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"the index has not caught up with the Board at {stopped_node.address} yet: try again in a few seconds"
    )


def test_contract_stays_readable_when_the_node_stops(stopped_node: Stopped):
    response = stopped_node.client.get("/api/contract")
    assert response.status_code == 200
    assert response.json()["address"] == stopped_node.address


# --- the database fails -------------------------------------------------------------------------------


@pytest.fixture
def broken_index(board: BoardHandle, settings: Settings, make_client: Callable[..., TestClient]) -> TestClient:
    """The app on a Board whose index database lost a table."""
    client = make_client(settings, run_indexer=False)
    with client.app.state.indelible.engine.begin() as conn:
        conn.execute(text("DROP TABLE meta"))
    return client


def test_status_keeps_its_shape_when_the_database_fails(broken_index: TestClient):
    status = _status(broken_index)
    index = status["index"]
    assert status["error"] == index["error"]
    assert index["error"] == "index database unavailable"  # the driver's OperationalError stays in the log
    assert (index["current"], index["posts"], index["content"], index["indexer"]) == (False, None, None, None)
    assert StatusOut.model_validate(status).model_dump(mode="json") == status


def test_status_page_shows_a_database_failure(broken_index: TestClient):
    response = broken_index.get("/status", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "index database unavailable" in response.text


@pytest.fixture
def lost_posts(
    board: BoardHandle, data_dir: Path, ganache: Ganache, make_client: Callable[..., TestClient]
) -> TestClient:
    """The app on a SQLite index whose posts and votes tables are gone (an OperationalError on every read)."""
    settings = make_settings(data_dir, ganache.url, f"sqlite:///{data_dir / 'index.sqlite3'}")
    client = make_client(settings, run_indexer=False)
    with client.app.state.indelible.engine.begin() as conn:
        conn.execute(text("DROP TABLE posts"))
        conn.execute(text("DROP TABLE votes"))
    return client


DATABASE_DOWN = "index database unavailable: try again shortly (the operator's log says why)"


@pytest.mark.parametrize(
    "path",
    ["/api/posts", "/api/posts/1", f"/api/authors/{SIGNER}", f"/api/votes/{SIGNER}?posts=1", "/feeds/posts.atom"],
)
def test_reads_are_503_with_a_reason_when_the_index_database_fails(lost_posts: TestClient, path: str):
    response = lost_posts.get(path)
    assert response.status_code == 503
    assert response.json() == {"detail": DATABASE_DOWN}


def test_pages_are_an_html_503_when_the_index_database_fails(lost_posts: TestClient):
    response = lost_posts.get("/", headers={"accept": "text/html"})
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert DATABASE_DOWN.replace("'", "&#39;") in response.text
