"""A data dir recording a version-1 Board (replies and votes by id only) is refused with a clear message.

Version 2 signs other EIP-712 messages and takes other calls, so a node must never serve or relay for a
version-1 Board as if it were the current one: it says that it needs a new deployment instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from backend.config import Settings
from backend.deployments import records, resolve
from tests.support.board import BoardHandle, deploy_board


def _as_version_one(abi: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ABI as Board version 1 had it: post and vote (and their signed structs) without target digests."""
    dropped = {"parentDigest", "postDigest"}

    def strip(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [i for i in inputs if i["name"] not in dropped]
        return [{**i, "components": strip(i["components"])} if "components" in i else i for i in kept]

    return [{**item, "inputs": strip(item.get("inputs", []))} for item in abi]


def _record_version_one(data_dir: Path) -> str:
    """Rewrite the newest deployment record with the version-1 ABI; returns its address."""
    path = data_dir / "deployments.json"
    records = json.loads(path.read_text())
    newest = records["deployments"][-1]
    newest["abi"] = _as_version_one(newest["abi"])
    newest.pop("board_version", None)  # version-1 records had no such field
    path.write_text(json.dumps(records))
    return str(newest["address"])


def test_new_deployment_records_carry_board_version_two(w3: Web3, data_dir: Path):
    deploy_board(w3, data_dir)
    (record,) = json.loads((data_dir / "deployments.json").read_text())["deployments"]
    assert record["board_version"] == records.BOARD_VERSION == 2
    assert records.board_version(record["abi"]) == 2


def test_version_one_record_is_refused_saying_to_deploy_again(board: BoardHandle, settings: Settings, w3: Web3):
    address = _record_version_one(settings.data_dir)
    with pytest.raises(records.DeploymentError) as refused:
        resolve.find_deployment(w3, settings)
    assert str(refused.value) == (
        f"the Board recorded at {address} on chain 1337 is version 1, which names reply and vote targets by id "
        "only; this node needs version 2: deploy a new Board (python -m backend deploy; make run does it on a "
        "dev chain) or use a fresh data dir and chain"
    )


def test_app_on_a_version_one_record_answers_503_and_reports_why(
    board: BoardHandle, settings: Settings, make_client: Callable[..., TestClient]
):
    _record_version_one(settings.data_dir)
    client = make_client(settings)
    response = client.get("/api/contract")
    assert response.status_code == 503
    assert "is version 1, which names reply and vote targets by id only" in response.json()["detail"]
    status = client.get("/api/status").json()
    assert "this node needs version 2" in status["error"]
    assert status["index"]["current"] is False


def test_a_newer_version_two_deployment_is_used_over_the_old_record(
    board: BoardHandle, settings: Settings, w3: Web3, data_dir: Path
):
    _record_version_one(data_dir)
    newer = deploy_board(w3, data_dir)
    assert resolve.find_deployment(w3, settings).address == newer.deployment.address
