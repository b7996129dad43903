"""The web3 connection, the deployment record and the contract handle.

``scripts/deploy.py`` appends one record per deployment to
``<data dir>/deployments.json``; the backend uses the newest record whose chain
(id and genesis block) is the node's and whose code is really there, unless
``INDELIBLE_CONTRACT_ADDRESS`` names one. An address no record on this chain names
is joined: ``backend/join.py`` checks that its code is our Board, finds its
deployment block and records it, marked ``joined``. A record of an older Board version (told
from its ABI) is refused with a message saying to deploy again: its signed
messages and calls differ, so the node never mixes it with the current one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from eth_typing import ABI
from web3 import Web3
from web3.contract import Contract

from backend.config import Settings

# version 2: replies and votes name their target by id and digest; EIP-712 domain version "2"
BOARD_VERSION = 2


@dataclass(frozen=True)
class Deployment:
    """One deployed Board contract, as recorded by ``scripts/deploy.py``."""

    chain_id: int
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    genesis_hash: str
    abi: list[dict[str, Any]]
    joined: bool = False  # found by its address alone (backend/join.py), not deployed by this node

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


def connect(settings: Settings, timeout: float = 30.0) -> Web3:
    """A web3 handle on ``INDELIBLE_RPC_URL``."""
    return Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": timeout}))


def load_records(path: Path) -> list[dict[str, Any]]:
    """All deployment records, oldest first (empty when there are none)."""
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["deployments"])


def deployment_record(w3: Web3, receipt: Any, abi: list[dict[str, Any]]) -> dict[str, Any]:
    """The record of the Board deployment mined in ``receipt``."""
    return {
        "contract": "Board",
        "chain_id": w3.eth.chain_id,
        "genesis_hash": genesis_hash(w3),
        "address": receipt["contractAddress"],
        "block_number": receipt["blockNumber"],
        "block_hash": Web3.to_hex(receipt["blockHash"]),
        "tx_hash": Web3.to_hex(receipt["transactionHash"]),
        "deployed_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "board_version": board_version(abi),
        "abi": abi,
    }


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


def genesis_hash(w3: Web3) -> str:
    """The hash of block 0, which tells two chains with one chain id apart."""
    return Web3.to_hex(w3.eth.get_block(0)["hash"])


def find_deployment(w3: Web3, settings: Settings) -> Deployment:
    """The newest recorded deployment that lives on the node's chain.

    Raises DeploymentError saying why when none does (another chain, a
    Ganache restarted without its data, or nothing deployed yet).
    """
    chain_id = w3.eth.chain_id
    genesis = genesis_hash(w3)
    records = load_records(settings.deployments_path)
    wanted = settings.contract_address.lower()
    candidates = [
        r
        for r in reversed(records)
        if int(r["chain_id"]) == chain_id and (not wanted or r["address"].lower() == wanted)
    ]
    if not candidates and wanted:
        return _join(w3, settings)
    if not candidates:
        raise DeploymentError(
            f"no deployment recorded for chain {chain_id} in {settings.deployments_path}"
            + (f" at {settings.contract_address}" if wanted else "")
        )
    for record in candidates:
        deployment = Deployment.from_record(record)
        if deployment.genesis_hash and deployment.genesis_hash != genesis:
            continue
        if w3.eth.get_code(Web3.to_checksum_address(deployment.address)) in (b"", b"\x00"):
            continue
        version = board_version(deployment.abi)
        if version != BOARD_VERSION:
            raise DeploymentError(
                f"the Board recorded at {deployment.address} on chain {chain_id} is version {version}, which names "
                f"reply and vote targets by id only; this node needs version {BOARD_VERSION}: deploy a new Board "
                "(python -m backend deploy; make run does it on a dev chain) or use a fresh data dir and chain"
            )
        return deployment
    if wanted:
        return _join(w3, settings)
    raise DeploymentError(
        f"the recorded deployments for chain {chain_id} are not on this node's chain "
        f"(genesis {genesis}): the chain was replaced; deploy again"
    )


def _join(w3: Web3, settings: Settings) -> Deployment:
    """Join the Board at ``INDELIBLE_CONTRACT_ADDRESS``, which no record on this chain names (else JoinError)."""
    from backend import join  # join compiles and reads the artifact: loaded only when a node joins

    record, _ = join.join(w3, settings, settings.contract_address)
    return Deployment.from_record(record)


def board(w3: Web3, deployment: Deployment) -> Contract:
    """The Board contract handle."""
    # the ABI is the deployment record's JSON: its shape is the compiler's, not checked here
    return w3.eth.contract(address=Web3.to_checksum_address(deployment.address), abi=cast(ABI, deployment.abi))
