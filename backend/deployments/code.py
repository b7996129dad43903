"""The compiled Board and the comparison of the code found at an address with it.

The runtime code at an address is compared with the compiled artifact (``build/contracts/Board.json``): the
immutable positions (EIP-712's cached chain id, address, separator, name and version) are masked using the
compiler's ``immutableReferences``, and the trailing CBOR metadata (the hash of the source files) is compared
apart from the executable code, because the code alone decides behaviour.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from web3 import Web3

from backend.config import PROJECT_ROOT

ARTIFACT = PROJECT_ROOT / "build" / "contracts" / "Board.json"
# not in build/contracts: brownie loads every JSON file there as a contract artifact
IMMUTABLES_CACHE = PROJECT_ROOT / "build" / "join" / "Board.immutables.json"
SOLC_BRIDGE = PROJECT_ROOT / "scripts" / "solc_bridge.js"


def load_artifact() -> dict[str, Any]:
    """The compiled Board (brownie's artifact)."""
    if not ARTIFACT.exists():
        raise RuntimeError(f"{ARTIFACT} is missing: run `make compile` first")
    return dict(json.loads(ARTIFACT.read_text()))


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
    artifact = load_artifact()
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
    artifact = load_artifact()
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
    artifact = load_artifact()
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
