"""Data flows one way on the web side: GET routes never ask the node, and pages never import route modules."""

from __future__ import annotations

import ast
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from backend.content.cid import sha256
from backend.content.document import encode_document
from tests.support.board import BoardHandle
from tests.support.index import wait_indexed
from tests.support.wait import wait_for

BACKEND = Path(__file__).resolve().parents[2] / "backend"
ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# schema-valid, signed by nobody: the relay asks the node for its head and fees before checking the signature
SIGNED_VOTE = {
    "kind": "vote", "voter": ADDRESS, "postId": 1, "postDigest": "0x" + "ab" * 32, "direction": 1, "nonce": 0,
    "deadline": 2**40, "signature": "0x" + "11" * 65,
}  # fmt: skip


def route_calls(calls: list[str]) -> list[str]:
    """The recorded calls but the chain link's own thread's (it refreshes the relayer's balance)."""
    return [call for call in calls if not call.startswith("node-watch ")]


def record_node_calls(client: TestClient) -> list[str]:
    """Wrap the app's web3 provider: each JSON-RPC call appends the name of the thread that made it."""
    provider: Any = client.app.state.indelible.chain_link.w3.provider
    calls: list[str] = []
    single, batch = provider.make_request, provider.make_batch_request

    def make_request(method: str, params: Any) -> Any:
        calls.append(f"{threading.current_thread().name} {method}")
        return single(method, params)

    def make_batch_request(requests: Any) -> Any:
        calls.append(f"{threading.current_thread().name} batch")
        return batch(requests)

    provider.make_request, provider.make_batch_request = make_request, make_batch_request
    return calls


def test_get_routes_and_pages_never_ask_the_node(client: TestClient, board: BoardHandle):
    document = encode_document("One way", "read only")
    response = client.post("/api/content", content=document, headers={"content-type": "application/json"})
    assert response.status_code == 201
    post_id = board.post(sha256(document))
    wait_indexed(client, board.w3)
    wait_for(lambda: client.get("/api/status").json()["index"]["posts"] == 1)
    calls = record_node_calls(client)
    cid = client.get(f"/api/posts/{post_id}").json()["post"]["cid"]
    paths = [
        "/api/status", "/status", "/api/contract", "/key", "/compose", "/", "/new", "/top", "/api/posts",
        f"/api/posts/{post_id}", f"/posts/{post_id}", f"/api/authors/{ADDRESS}", f"/authors/{ADDRESS}",
        f"/api/votes/{ADDRESS}?posts={post_id}", "/feeds/posts.atom", f"/feeds/posts/{post_id}.atom", f"/ipfs/{cid}",
    ]  # fmt: skip
    paths.append(f"/api/nonces/{ADDRESS}")  # from the index and the relayer's own records
    for path in paths:
        assert client.get(path, headers={"accept": "text/html"}).status_code == 200, path
    assert route_calls(calls) == []
    # a POST may ask the node: proof that the recorder sees a route's calls
    assert client.post("/api/relay", json=SIGNED_VOTE).status_code == 400
    assert route_calls(calls) != []


def imported_modules(path: Path) -> set[str]:
    """Every ``backend.*`` module ``path`` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("backend")}


def modules_of(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (BACKEND / folder).glob("*.py"))


@pytest.mark.parametrize("module", modules_of("web"), ids=lambda path: path.name)
def test_pages_import_no_api_module(module: Path):
    assert {name for name in imported_modules(module) if name.startswith("backend.api")} == set()


@pytest.mark.parametrize("module", modules_of("api"), ids=lambda path: path.name)
def test_api_imports_no_page_module(module: Path):
    assert {name for name in imported_modules(module) if name.startswith("backend.web")} == set()


@pytest.mark.parametrize("module", modules_of("views"), ids=lambda path: path.name)
def test_views_import_no_route_or_http_module(module: Path):
    above = ("backend.api", "backend.web", "backend.http", "backend.app")
    assert {name for name in imported_modules(module) if name.startswith(above)} == set()


def test_the_chain_link_is_no_route_module():
    assert not (BACKEND / "api" / "chain_link.py").exists()
    assert "HTTPException" not in (BACKEND / "chain_link.py").read_text()  # it raises ChainLinkUnavailable


@pytest.mark.parametrize("module", modules_of("api", "web"), ids=lambda path: path.name)
def test_no_route_reaches_into_the_app_state(module: Path):
    assert "app.state" not in module.read_text()
