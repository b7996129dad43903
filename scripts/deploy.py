"""Deploy Board and append its record to ``$INDELIBLE_DATA_DIR/deployments.json``.

Usage: ``brownie run scripts/deploy.py --network <net>``. On development networks
the deployer is ``accounts[0]``; elsewhere it is the brownie account named by
``INDELIBLE_DEPLOYER`` (``accounts.load`` asks for its password). Earlier records
are kept, the newest is last; the backend picks the newest one on its chain.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from brownie import accounts, chain, web3
from brownie._config import CONFIG


def deployments_path() -> Path:
    """``deployments.json`` in the data directory (``INDELIBLE_DATA_DIR``, default ``./data``)."""
    return Path(os.environ.get("INDELIBLE_DATA_DIR", "./data")) / "deployments.json"


def record_deployment(path, record: dict) -> None:
    """Append ``record`` to the deployments file at ``path``, atomically (temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(path.read_text())["deployments"] if path.exists() else []
    records.append(record)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as temp:
            json.dump({"deployments": records}, temp, indent=2)
            temp.write("\n")
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def deploy(deployer, path) -> tuple:
    """Deploy Board from ``deployer``, wait for its receipt, record it at ``path``; return (board, record)."""
    from brownie import Board  # the project's container exists only once brownie has loaded the project

    board = Board.deploy({"from": deployer})
    receipt = web3.eth.wait_for_transaction_receipt(board.tx.txid)
    record = {
        "contract": "Board",
        "chain_id": chain.id,
        "genesis_hash": web3.to_hex(web3.eth.get_block(0)["hash"]),
        "address": board.address,
        "block_number": receipt["blockNumber"],
        "block_hash": web3.to_hex(receipt["blockHash"]),
        "tx_hash": web3.to_hex(receipt["transactionHash"]),
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "abi": board.abi,
    }
    record_deployment(path, record)
    return board, record


def main() -> None:
    # brownie's public API has no "is this a development network" query; its config knows
    if CONFIG.network_type == "development":
        deployer = accounts[0]
    else:
        deployer = accounts.load(os.environ["INDELIBLE_DEPLOYER"])
    path = deployments_path()
    board, record = deploy(deployer, path)
    print(f"Board deployed at {board.address} in block {record['block_number']} on chain {record['chain_id']}")
    print(f"Recorded in {path}")
