"""Join by address (issue 12): a node given only a Board's address checks the code there and finds its deployment.

Real Ganache chains; the other source version is compiled by solc-js like the artifact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.__main__ import ensure_deployment
from backend.config import PROJECT_ROOT, Settings
from backend.deployments import code, join, records
from backend.deployments.resolve import find_deployment
from backend.devchain import Ganache, free_port
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings, wait_indexed

# runtime code that stores 1 in slot 0 (10 bytes), behind an init code that returns it: not a Board
OTHER_CODE_INIT = "0x600a600c600039600a6000f3" + "600160005500000000fe"


def _joining_settings(node_url: str, tmp_path: Path, address: str, database_url: str = "") -> Settings:
    """A fresh node's settings: an empty data dir, only the Board's address known."""
    data_dir = tmp_path / "joiner"
    data_dir.mkdir(exist_ok=True)
    return make_settings(
        data_dir, node_url, database_url or f"sqlite:///{data_dir / 'index.sqlite3'}", contract_address=address
    )


def _url(w3: Web3) -> str:
    return str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def _deploy_raw(w3: Web3, init_code: str) -> str:
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "data": init_code})
    )
    return str(receipt["contractAddress"])


def _mine(w3: Web3, blocks: int) -> None:
    for _ in range(blocks):
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def test_a_board_is_joined_by_address_with_its_deployment_block_and_transaction(
    board: BoardHandle, w3: Web3, tmp_path: Path
):
    _mine(w3, 5)
    settings = _joining_settings(_url(w3), tmp_path, board.deployment.address.lower())
    deployment = find_deployment(w3, settings)
    assert deployment.address == board.deployment.address
    assert deployment.block_number == board.deployment.block_number
    assert deployment.block_hash == board.deployment.block_hash
    assert deployment.tx_hash == board.deployment.tx_hash
    assert deployment.joined is True
    (record,) = json.loads(settings.deployments_path.read_text())["deployments"]
    assert record["joined"] is True
    assert record["board_version"] == records.BOARD_VERSION
    assert record["code_check"]["metadata"] == "same"
    assert record["code_check"]["immutables_masked"] == len(code.immutable_positions()) > 0
    assert record["code_check"]["immutables_checked"] == sorted(code.IMMUTABLE_MEANINGS)
    # a second start finds the record: nothing is appended
    assert find_deployment(w3, settings).address == board.deployment.address
    assert len(json.loads(settings.deployments_path.read_text())["deployments"]) == 1


def test_no_code_at_the_address_is_refused_saying_so(w3: Web3, tmp_path: Path):
    address = Web3.to_checksum_address("0x" + "ab" * 20)
    settings = _joining_settings(_url(w3), tmp_path, address)
    with pytest.raises(join.JoinError, match=f"^no code at {address} on chain 1337 \\(block \\d+\\): nothing"):
        find_deployment(w3, settings)
    assert not settings.deployments_path.exists()


def test_other_code_at_the_address_is_refused_naming_its_size_and_hash(w3: Web3, tmp_path: Path):
    address = _deploy_raw(w3, OTHER_CODE_INIT)
    code_hash = Web3.to_hex(Web3.keccak(w3.eth.get_code(address)))
    settings = _joining_settings(_url(w3), tmp_path, address)
    with pytest.raises(join.JoinError) as refused:
        find_deployment(w3, settings)
    assert str(refused.value).startswith(f"other code at {address} on chain 1337")
    assert f"10 bytes, keccak {code_hash}; it is not a Board" in str(refused.value)
    assert not settings.deployments_path.exists()


@pytest.mark.parametrize(
    ("change", "found"),
    [
        # same executable code, other immutables (EIP-712 version) and metadata
        (('EIP712("Indelible", "2")', 'EIP712("Indelible", "3")'), "its EIP-712 domain is ('Indelible', '3'"),
        # other executable code: a changed limit
        (
            (
                "function postCount() external view returns (uint256) {",
                "function postCount() external view returns (uint256) {\n        if (block.number == 0) return 7;",
            ),
            "EIP-712 domain 'Indelible' version '2'; its code differs",
        ),
    ],
)
def test_a_board_compiled_from_another_source_version_is_refused(
    w3: Web3, tmp_path: Path, change: tuple[str, str], found: str
):
    source = (PROJECT_ROOT / "contracts" / "Board.sol").read_text()
    assert change[0] in source
    compiled = code.compile_board({"contracts/Board.sol": source.replace(*change)})
    address = _deploy_raw(w3, "0x" + compiled["bytecode"])
    settings = _joining_settings(_url(w3), tmp_path, address)
    with pytest.raises(join.JoinError) as refused:
        find_deployment(w3, settings)
    assert f"the code at {address} on chain 1337" in str(refused.value)
    assert "is a Board compiled from another source version" in str(refused.value)
    assert found in str(refused.value)
    assert not settings.deployments_path.exists()


def test_a_board_on_another_chain_id_is_joined_with_its_immutables_masked(tmp_path: Path):
    with Ganache(free_port(), chain_id=4242) as node:
        other = connect(node)
        _mine(other, 3)
        deployed = deploy_board(other, tmp_path / "deployer")
        _mine(other, 4)
        settings = _joining_settings(node.url, tmp_path, deployed.deployment.address)
        deployment = find_deployment(other, settings)
    assert (deployment.chain_id, deployment.block_number) == (4242, 4)
    assert deployment.tx_hash == deployed.deployment.tx_hash and deployment.joined


def test_join_command_prints_what_it_found_and_records_it(board: BoardHandle, w3: Web3, tmp_path: Path):
    data_dir = tmp_path / "cli"
    env = {**os.environ, "INDELIBLE_DATA_DIR": str(data_dir), "INDELIBLE_RPC_URL": _url(w3)}
    command = [sys.executable, "-m", "backend", "join", board.deployment.address]
    first = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert f"Board version 2 at {board.deployment.address} on chain 1337" in first.stdout
    assert f"deployed in block {board.deployment.block_number} ({board.deployment.block_hash})" in first.stdout
    assert f"transaction {board.deployment.tx_hash}" in first.stdout
    assert "immutables masked, each as this address and chain need it (_cachedChainId, " in first.stdout
    assert "_version), metadata same" in first.stdout
    assert f"Recorded in {data_dir / 'deployments.json'}" in first.stdout
    again = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "Already recorded in" in again.stdout
    refused = subprocess.run(
        [*command[:-1], "0x" + "cd" * 20], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("not joined: no code at 0x")


def test_run_with_a_contract_address_never_deploys_a_board(w3: Web3, tmp_path: Path):
    settings = _joining_settings(_url(w3), tmp_path, "0x" + "ef" * 20)
    head = w3.eth.block_number
    with pytest.raises(join.JoinError, match=r"^no code at"):
        ensure_deployment(settings)
    assert w3.eth.block_number == head  # no transaction was sent
    assert not settings.deployments_path.exists()


def test_a_joined_node_indexes_the_board_from_its_deployment_block(
    board: BoardHandle, w3: Web3, tmp_path: Path, database_url: str, make_client: Callable[..., TestClient]
):
    first = board.post(bytes(range(32)))
    board.post(bytes(range(1, 33)), parent_id=first)
    board.vote(first, 1)
    settings = _joining_settings(_url(w3), tmp_path, board.deployment.address, database_url)
    client = make_client(settings)
    wait_indexed(client, w3)
    posts = client.get("/api/posts?sort=new").json()["posts"]
    assert sorted(p["id"] for p in posts) == [first]
    assert posts[0]["upvotes"] == 1 and posts[0]["reply_count"] == 1
    assert client.get("/api/status").json()["contract_address"] == board.deployment.address
