"""scripts/deploy.py: deploying records each deployment, keeping earlier ones, newest last."""

import importlib.util
import json
from pathlib import Path

import pytest
from brownie import chain, web3

ROOT = Path(__file__).resolve().parents[2]
RECORD_KEYS = {
    "contract",
    "chain_id",
    "genesis_hash",
    "address",
    "block_number",
    "block_hash",
    "tx_hash",
    "deployed_at",
    "board_version",
    "abi",
}


@pytest.fixture(scope="module")
def deploy_script():
    spec = importlib.util.spec_from_file_location("indelible_deploy", ROOT / "scripts" / "deploy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deploying_twice_keeps_both_records_newest_last(deploy_script, Board, accounts, tmp_path):
    path = tmp_path / "data" / "deployments.json"
    first_board, first = deploy_script.deploy(accounts[0], path)
    second_board, second = deploy_script.deploy(accounts[0], path)

    assert json.loads(path.read_text()) == {"deployments": [first, second]}
    assert [first["address"], second["address"]] == [first_board.address, second_board.address]
    assert first["address"] != second["address"]
    assert first["block_number"] < second["block_number"]


def test_deployment_record_describes_the_chain_block_and_contract(deploy_script, Board, accounts, tmp_path):
    board, record = deploy_script.deploy(accounts[0], tmp_path / "deployments.json")
    assert set(record) == RECORD_KEYS
    assert (record["contract"], record["chain_id"], record["abi"]) == ("Board", chain.id, Board.abi)
    assert record["genesis_hash"] == web3.to_hex(web3.eth.get_block(0)["hash"])
    block = web3.eth.get_block(record["block_number"])
    assert record["block_hash"] == web3.to_hex(block["hash"])
    assert record["tx_hash"] == board.tx.txid
    assert record["deployed_at"].endswith("Z")
    assert record["board_version"] == 2  # replies and votes name their target's digest (issue 13)
    assert web3.eth.get_code(record["address"]) == web3.eth.get_code(board.address) != b""


def test_record_deployment_appends_to_an_existing_file(deploy_script, tmp_path):
    path = tmp_path / "deployments.json"
    path.write_text(json.dumps({"deployments": [{"contract": "Board", "address": "0xold"}]}))
    deploy_script.record_deployment(path, {"contract": "Board", "address": "0xnew"})
    assert json.loads(path.read_text())["deployments"] == [
        {"contract": "Board", "address": "0xold"},
        {"contract": "Board", "address": "0xnew"},
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["deployments.json"]


def test_main_deploys_from_the_first_account_into_the_data_dir(deploy_script, accounts, tmp_path, monkeypatch):
    monkeypatch.setenv("INDELIBLE_DATA_DIR", str(tmp_path / "fresh"))
    deploy_script.main()
    (record,) = json.loads((tmp_path / "fresh" / "deployments.json").read_text())["deployments"]
    assert web3.eth.get_transaction(record["tx_hash"])["from"] == accounts[0].address
