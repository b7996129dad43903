"""Deploy Board from the compiled artifact with plain web3, and record it.

``deploy_unlocked`` sends from an account the node holds (a dev chain's, for tests and benchmarks).
"""

from __future__ import annotations

from pathlib import Path

from web3 import Web3

from backend.deployments.code import load_artifact
from backend.deployments.records import Deployment, record_deployment, record_from_receipt


def deploy_unlocked(w3: Web3, data_dir: Path, sender: str | None = None) -> Deployment:
    """Deploy Board from ``sender`` (an account the node unlocks; default its first) and record it in ``data_dir``."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor().transact({"from": sender or w3.eth.accounts[0]})
    record = record_from_receipt(w3, w3.eth.wait_for_transaction_receipt(tx_hash), artifact["abi"])
    record_deployment(data_dir / "deployments.json", record)
    return Deployment.from_record(record)
