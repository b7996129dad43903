"""Join a Board by its address alone: prove the code there is our Board, find its deployment block, record it.

A stranger knows a node URL and a Board address, not our ``deployments.json``. Before indexing an address no
record names, the node compares the runtime code there with the compiled artifact
(``build/contracts/Board.json``): the immutable positions (EIP-712's cached chain id, address, name and
version) are masked using the compiler's ``immutableReferences``, and the trailing CBOR metadata (the hash of
the source files) is compared apart from the executable code. Identical executable code with other metadata
is accepted, and recorded as such, because the code alone decides behaviour; the immutables masked above are
then checked through ``eip712Domain()``, which must name our domain, version, chain and the address itself. So
a Board built from another source version is refused whether its code or only its EIP-712 version differs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_abi.abi import decode
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3

from backend import chain, eip712
from backend.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

ARTIFACT = PROJECT_ROOT / "build" / "contracts" / "Board.json"
# not in build/contracts: brownie loads every JSON file there as a contract artifact
IMMUTABLES_CACHE = PROJECT_ROOT / "build" / "join" / "Board.immutables.json"
SOLC_BRIDGE = PROJECT_ROOT / "scripts" / "solc_bridge.js"
EIP712_DOMAIN_SELECTOR = "0x84b0196e"  # eip712Domain() of ERC-5267
EIP712_DOMAIN_TYPES = ["bytes1", "string", "string", "uint256", "address", "bytes32", "uint256[]"]

_lock = threading.Lock()


class JoinError(chain.DeploymentError):
    """The code at the address is not a Board this node can index; the message names what was found."""


@dataclass(frozen=True)
class CodeCheck:
    """What comparing the code at an address with the compiled Board found."""

    matches: bool  # executable code equal once immutables are masked
    metadata_matches: bool  # the CBOR metadata (source hash, compiler version) equal too
    masked: int  # immutable positions masked
    first_difference: int | None  # byte offset of the first differing byte of executable code
    code_hash: str  # keccak256 of the code found


def split_metadata(code: bytes) -> tuple[bytes, bytes]:
    """(executable code, CBOR metadata): solc ends runtime code with the metadata and its 2-byte length."""
    if len(code) < 2:
        return code, b""
    length = int.from_bytes(code[-2:], "big") + 2
    if length > len(code) or code[-length] & 0xE0 != 0xA0:  # the metadata is a CBOR map (major type 5)
        return code, b""
    return code[:-length], code[-length:]


def compile_board(sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Board's deployedBytecode (object and immutableReferences) from solc-js, with the artifact's settings.

    ``sources`` overrides file contents by path (tests build other source versions this way).
    """
    artifact = json.loads(ARTIFACT.read_text())
    paths = list(artifact["allSourcePaths"].values())
    overrides = sources or {}
    compiler = artifact["compiler"]
    request = {
        "language": "Solidity",
        "sources": {p: {"content": overrides.get(p) or (PROJECT_ROOT / p).read_text()} for p in paths},
        "settings": {
            "optimizer": {"enabled": compiler["optimizer"]["enabled"], "runs": compiler["optimizer"]["runs"]},
            "evmVersion": compiler["evm_version"],
            "remappings": ["@openzeppelin=node_modules/@openzeppelin"],
            "outputSelection": {
                artifact["sourcePath"]: {
                    "Board": [
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ]
                }
            },
        },
    }
    result = subprocess.run(
        ["node", str(SOLC_BRIDGE), "--standard-json"], input=json.dumps(request), cwd=PROJECT_ROOT,
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    output = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("compiling Board failed: " + errors[0])
    evm = output["contracts"][artifact["sourcePath"]]["Board"]["evm"]
    return {
        "bytecode": evm["bytecode"]["object"],
        "deployedBytecode": evm["deployedBytecode"]["object"],
        "immutableReferences": evm["deployedBytecode"]["immutableReferences"],
    }


def immutable_positions() -> list[tuple[int, int]]:
    """(start, length) of every immutable in the artifact's runtime code; compiled once, then cached on disk."""
    artifact = json.loads(ARTIFACT.read_text())
    key = hashlib.sha256(artifact["deployedBytecode"].encode()).hexdigest()
    if IMMUTABLES_CACHE.exists():
        cached = json.loads(IMMUTABLES_CACHE.read_text())
        if cached.get("deployedBytecodeSha256") == key:
            return [(int(s), int(n)) for s, n in cached["positions"]]
    compiled = compile_board()
    ours = split_metadata(bytes.fromhex(compiled["deployedBytecode"].removeprefix("0x")))[0]
    if ours != split_metadata(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))[0]:
        # the references would be of other code: masking with them could hide a difference (a source edit
        # that changes only comments changes only the metadata, and leaves the positions valid)
        raise RuntimeError(f"solc-js does not reproduce {ARTIFACT}'s deployedBytecode: run `make compile` again")
    positions = sorted((r["start"], r["length"]) for refs in compiled["immutableReferences"].values() for r in refs)
    IMMUTABLES_CACHE.parent.mkdir(parents=True, exist_ok=True)
    IMMUTABLES_CACHE.write_text(json.dumps({"deployedBytecodeSha256": key, "positions": positions}) + "\n")
    return positions


def check_code(code: bytes) -> CodeCheck:
    """Compare ``code`` with the compiled Board, immutables masked and metadata apart."""
    artifact = json.loads(ARTIFACT.read_text())
    expected = bytearray(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))
    found = bytearray(code)
    positions = immutable_positions()
    if len(found) == len(expected):
        for start, length in positions:
            found[start : start + length] = expected[start : start + length]
    found_code, found_meta = split_metadata(bytes(found))
    expected_code, expected_meta = split_metadata(bytes(expected))
    difference = next((i for i, (a, b) in enumerate(zip(found_code, expected_code, strict=False)) if a != b), None)
    if difference is None and len(found_code) != len(expected_code):
        difference = min(len(found_code), len(expected_code))
    return CodeCheck(
        matches=difference is None,
        metadata_matches=found_meta == expected_meta,
        masked=len(positions),
        first_difference=difference,
        code_hash=Web3.to_hex(Web3.keccak(code)),
    )


def eip712_domain(w3: Web3, address: ChecksumAddress, block: int) -> tuple[str, str, int, str] | None:
    """(name, version, chain id, verifying contract) from ``eip712Domain()`` at ``block``, or None when it has none."""
    try:
        raw = w3.eth.call({"to": address, "data": HexStr(EIP712_DOMAIN_SELECTOR)}, block)
        fields = decode(EIP712_DOMAIN_TYPES, bytes(raw))
    except Exception:  # no such function, or it returns something else: not an EIP-712 contract of ours
        return None
    return str(fields[1]), str(fields[2]), int(fields[3]), Web3.to_checksum_address(fields[4])


def deployment_block(w3: Web3, address: ChecksumAddress, head: int) -> int:
    """The first block whose state holds code at ``address``: binary search over ``eth_getCode``."""
    low, high = 0, head  # code is there at ``high``, and (if anywhere) not before ``low``
    while low < high:
        middle = (low + high) // 2
        if len(w3.eth.get_code(address, middle)) > 0:
            high = middle
        else:
            low = middle + 1
    return low


def creation_transaction(w3: Web3, address: ChecksumAddress, block_number: int) -> str:
    """The transaction of ``block_number`` that created ``address``, or "" (created by another contract)."""
    block = w3.eth.get_block(block_number, full_transactions=True)
    for tx in block["transactions"]:
        if isinstance(tx, bytes) or tx.get("to") is not None:
            continue
        receipt = w3.eth.get_transaction_receipt(tx["hash"])
        if (receipt.get("contractAddress") or "").lower() == address.lower():
            return Web3.to_hex(tx["hash"])
    return ""


def inspect(w3: Web3, given: str) -> dict[str, Any]:
    """Check that ``address`` holds our Board and find its deployment: the record to write, with ``joined``.

    Raises JoinError naming what was found when it is not.
    """
    if not Web3.is_address(given):
        raise JoinError(f"{given!r} is not an address (0x and 40 hex digits)")
    address = Web3.to_checksum_address(given)
    chain_id = int(w3.eth.chain_id)
    head = int(w3.eth.block_number)
    code = bytes(w3.eth.get_code(address, head))
    where = f"at {address} on chain {chain_id} (block {head})"
    if not code:
        raise JoinError(f"no code {where}: nothing is deployed there, or it is an account; check the address and chain")
    check = check_code(code)
    domain = eip712_domain(w3, address, head)
    if not check.matches:
        if domain is not None and domain[0] == eip712.DOMAIN_NAME:
            raise JoinError(
                f"the code {where} is a Board compiled from another source version (EIP-712 domain "
                f"{domain[0]!r} version {domain[1]!r}; its code differs from this node's from byte "
                f"{check.first_difference}): this node runs version {eip712.DOMAIN_VERSION}"
            )
        raise JoinError(
            f"other code {where}: {len(code)} bytes, keccak {check.code_hash}; it is not a Board (it differs from "
            f"Board's compiled code from byte {check.first_difference})"
        )
    expected_domain = (eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION, chain_id, address)
    if domain != expected_domain:
        # the masked immutables are EIP-712's name, version, chain id and address: they must be ours
        raise JoinError(
            f"the code {where} is a Board compiled from another source version: its EIP-712 domain is {domain}, "
            f"this node's is {expected_domain}"
        )
    if not check.metadata_matches:
        log.warning("the Board %s has Board's executable code but other metadata (source hash): joining", where)
    block_number = deployment_block(w3, address, head)
    block = w3.eth.get_block(block_number)
    artifact = json.loads(ARTIFACT.read_text())
    return {
        "contract": "Board",
        "chain_id": chain_id,
        "genesis_hash": chain.genesis_hash(w3),
        "address": address,
        "block_number": block_number,
        "block_hash": Web3.to_hex(block["hash"]),
        "tx_hash": creation_transaction(w3, address, block_number),
        "joined": True,
        "joined_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "code_check": {
            "code_hash": check.code_hash,
            "immutables_masked": check.masked,
            "metadata": "same" if check.metadata_matches else "differs",
        },
        "board_version": chain.board_version(artifact["abi"]),
        "abi": artifact["abi"],
    }


@contextmanager
def _records_locked(path: Path) -> Iterator[None]:
    """Hold this process's and every other process's lock on the deployments file (app and indexer both join)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def join(w3: Web3, settings: Settings, address: str) -> tuple[dict[str, Any], bool]:
    """The record of the Board at ``address`` on the node's chain, joined and recorded unless already there.

    Returns (record, newly recorded).
    """
    path = settings.deployments_path
    chain_id, genesis = int(w3.eth.chain_id), chain.genesis_hash(w3)
    with _records_locked(path):
        for record in reversed(chain.load_records(path)):
            same_chain = int(record["chain_id"]) == chain_id and record.get("genesis_hash", genesis) == genesis
            if same_chain and str(record["address"]).lower() == address.lower():
                return record, False
        record = inspect(w3, address)
        chain.record_deployment(path, record)
    log.info("joined the Board at %s on chain %s, deployed in block %s", address, chain_id, record["block_number"])
    return record, True
