"""Deploy Board and append its record to ``$INDELIBLE_DATA_DIR/deployments.json``.

Usage: ``brownie run scripts/deploy.py --network <net>``. On development networks
the deployer is ``accounts[0]``; elsewhere it is the brownie account named by
``INDELIBLE_DEPLOYER`` (``accounts.load`` asks for its password). Earlier records
are kept, the newest is last; the backend picks the newest one on its chain, and
refuses a record of an older Board version (see ``board_version`` in the record).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from brownie import accounts, web3
from brownie._config import CONFIG

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backend.deployments.records import record_deployment, record_from_receipt

__all__ = ["deploy", "deployments_path", "main", "record_deployment"]


def deployments_path() -> Path:
    """``deployments.json`` in the data directory (``INDELIBLE_DATA_DIR``, default ``./data``)."""
    return Path(os.environ.get("INDELIBLE_DATA_DIR", "./data")) / "deployments.json"


def deploy(deployer, path) -> tuple:
    """Deploy Board from ``deployer``, wait for its receipt, record it at ``path``; return (board, record)."""
    from brownie import Board  # the project's container exists only once brownie has loaded the project

    board = Board.deploy({"from": deployer})
    receipt = web3.eth.wait_for_transaction_receipt(board.tx.txid)
    record = record_from_receipt(web3, receipt, board.abi)
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
    print(
        f"Board version {record['board_version']} deployed at {board.address} in block {record['block_number']}"
        f" on chain {record['chain_id']}"
    )
    print(f"Recorded in {path}")
