"""Deployment records: ``<data dir>/deployments.json``, one entry per Board deployed or joined, newest last.

Every record is made by ``make_record``, whether this node deployed the Board (``deploy``), found it by its
address (``join``) or a test deployed it on a throwaway chain. A record names its chain by id and genesis block,
so a Ganache restarted without its data is told apart from the chain the record was made on.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from eth_typing import ABI
from web3 import Web3
from web3.contract import Contract

# version 2: replies and votes name their target by id and digest; EIP-712 domain version "2"
BOARD_VERSION = 2

_lock = threading.Lock()


@dataclass(frozen=True)
class Deployment:
    """One deployed Board contract, as recorded in ``deployments.json``."""

    chain_id: int
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    genesis_hash: str
    abi: list[dict[str, Any]]
    joined: bool = False  # found by its address alone (deployments/join.py), not deployed by this node

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Deployment:
        """Build from one entry of ``deployments.json``."""
        return cls(
            chain_id=int(record["chain_id"]),
            address=Web3.to_checksum_address(record["address"]),
            block_number=int(record["block_number"]),
            block_hash=str(record["block_hash"]),
            tx_hash=str(record["tx_hash"]),
            genesis_hash=str(record.get("genesis_hash", "")),
            abi=list(record["abi"]),
            joined=bool(record.get("joined", False)),
        )


class DeploymentError(RuntimeError):
    """No usable deployment for the node we are connected to."""


def board_version(abi: list[dict[str, Any]]) -> int:
    """The Board version an ABI belongs to: 2 when ``vote`` names its post's digest, else 1."""
    for item in abi:
        if item.get("type") == "function" and item.get("name") == "vote":
            return 2 if any(i.get("name") == "postDigest" for i in item.get("inputs", [])) else 1
    return 1


def genesis_hash(w3: Web3) -> str:
    """The hash of block 0, which tells two chains with one chain id apart."""
    return Web3.to_hex(w3.eth.get_block(0)["hash"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def make_record(
    w3: Web3,
    *,
    address: str,
    block_number: int,
    block_hash: str,
    tx_hash: str,
    abi: list[dict[str, Any]],
    code_check: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of the Board at ``address`` on ``w3``'s chain: deployed by this node, or joined (``code_check``)."""
    record: dict[str, Any] = {
        "contract": "Board",
        "chain_id": int(w3.eth.chain_id),
        "genesis_hash": genesis_hash(w3),
        "address": Web3.to_checksum_address(address),
        "block_number": int(block_number),
        "block_hash": block_hash,
        "tx_hash": tx_hash,
    }
    if code_check is None:
        record["deployed_at"] = _now()
    else:
        record.update(joined=True, joined_at=_now(), code_check=code_check)
    record.update(board_version=board_version(abi), abi=abi)
    return record


def record_from_receipt(w3: Web3, receipt: Any, abi: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of the Board deployment mined in ``receipt``."""
    return make_record(
        w3,
        address=receipt["contractAddress"],
        block_number=receipt["blockNumber"],
        block_hash=Web3.to_hex(receipt["blockHash"]),
        tx_hash=Web3.to_hex(receipt["transactionHash"]),
        abi=abi,
    )


def load_records(path: Path) -> list[dict[str, Any]]:
    """All deployment records, oldest first (empty when there are none)."""
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["deployments"])


def record_deployment(path: Path | str, record: dict[str, Any]) -> None:
    """Append ``record`` to the deployments file at ``path``, atomically (temp file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    records = load_records(path)
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


@contextmanager
def records_locked(path: Path) -> Iterator[None]:
    """Hold this process's and every other process's lock on the deployments file (app and indexer both join)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def board(w3: Web3, deployment: Deployment) -> Contract:
    """The Board contract handle."""
    # the ABI is the deployment record's JSON: its shape is the compiler's, not checked here
    return w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=cast(ABI, deployment.abi))
