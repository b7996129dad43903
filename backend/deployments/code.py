"""The compiled Board and the comparison of the code found at an address with it.

The runtime code at an address is compared with the compiled artifact (``build/contracts/Board.json``): the
immutable positions (EIP-712's cached chain id, address, separator, name and version) are masked using the
compiler's ``immutableReferences``, and the trailing CBOR metadata (the hash of the source files) is compared
apart from the executable code, because the code alone decides behaviour.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak
from web3 import Web3

from backend import eip712
from backend.config import PROJECT_ROOT

ARTIFACT = PROJECT_ROOT / "build" / "contracts" / "Board.json"
# not in build/contracts: brownie loads every JSON file there as a contract artifact
IMMUTABLES_CACHE = PROJECT_ROOT / "build" / "join" / "Board.immutables.json"
SOLC_BRIDGE = PROJECT_ROOT / "scripts" / "solc_bridge.js"


def load_artifact() -> dict[str, Any]:
    """The compiled Board (brownie's artifact), read again only when the file changes."""
    if not ARTIFACT.exists():
        raise RuntimeError(f"{ARTIFACT} is missing: run `make compile` first")
    stat = ARTIFACT.stat()
    return _read_artifact(stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _read_artifact(_mtime_ns: int, _size: int) -> dict[str, Any]:
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


def solc_standard_json(request: dict[str, Any]) -> dict[str, Any]:
    """solc-js's standard-JSON output for ``request`` (scripts/solc_bridge.js); RuntimeError on a compile error."""
    result = subprocess.run(
        ["node", str(SOLC_BRIDGE), "--standard-json"], input=json.dumps(request), cwd=PROJECT_ROOT,
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    output: dict[str, Any] = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("compiling Board failed: " + errors[0])
    return output


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
                "*": {"": ["ast"]},
                artifact["sourcePath"]: {
                    "Board": [
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ]
                },
            },
        },
    }
    output = solc_standard_json(request)
    evm = output["contracts"][artifact["sourcePath"]]["Board"]["evm"]
    return {
        "bytecode": evm["bytecode"]["object"],
        "deployedBytecode": evm["deployedBytecode"]["object"],
        "immutableReferences": evm["deployedBytecode"]["immutableReferences"],
        "immutableNames": _immutable_names(output["sources"]),
    }


def _immutable_names(sources: dict[str, Any]) -> dict[str, str]:
    """AST id -> name of every immutable state variable declared in ``sources`` (solc's ``ast`` output)."""
    names: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("nodeType") == "VariableDeclaration" and node.get("mutability") == "immutable":
                names[str(node["id"])] = str(node["name"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for source in sources.values():
        walk(source.get("ast"))
    return names


def immutable_references() -> dict[str, list[tuple[int, int]]]:
    """Every immutable of the artifact's runtime code by name, with the (start, length) of each place it is read.

    From solc-js's ``immutableReferences`` for the artifact's own sources and settings; compiled once, then
    cached on disk beside the artifact.
    """
    artifact = load_artifact()
    key = hashlib.sha256(artifact["deployedBytecode"].encode()).hexdigest()
    if IMMUTABLES_CACHE.exists():
        cached = json.loads(IMMUTABLES_CACHE.read_text())
        if cached.get("deployedBytecodeSha256") == key and "immutables" in cached:
            return {name: [(int(s), int(n)) for s, n in refs] for name, refs in cached["immutables"].items()}
    compiled = compile_board()
    ours = split_metadata(bytes.fromhex(compiled["deployedBytecode"].removeprefix("0x")))[0]
    if ours != split_metadata(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))[0]:
        # the references would be of other code: masking with them could hide a difference (a source edit
        # that changes only comments changes only the metadata, and leaves the positions valid)
        raise RuntimeError(f"solc-js does not reproduce {ARTIFACT}'s deployedBytecode: run `make compile` again")
    references: dict[str, list[tuple[int, int]]] = {}
    for ast_id, refs in compiled["immutableReferences"].items():
        name = compiled["immutableNames"][ast_id]
        if name in references:
            raise RuntimeError(f"two immutables of Board are named {name}: name them apart in {IMMUTABLES_CACHE}")
        references[name] = sorted((int(r["start"]), int(r["length"])) for r in refs)
    IMMUTABLES_CACHE.parent.mkdir(parents=True, exist_ok=True)
    IMMUTABLES_CACHE.write_text(json.dumps({"deployedBytecodeSha256": key, "immutables": references}) + "\n")
    return references


def immutable_positions() -> list[tuple[int, int]]:
    """(start, length) of every place the artifact's runtime code reads an immutable."""
    return sorted(position for refs in immutable_references().values() for position in refs)


def read_immutables(code: bytes) -> dict[str, list[str]]:
    """Each immutable's value(s) in ``code`` (Board's runtime code), 0x-hex, one per place it is read.

    A forger could write different values in the places of one immutable: every place is returned.
    """
    return {
        name: ["0x" + code[start : start + length].hex() for start, length in refs]
        for name, refs in immutable_references().items()
    }


def _short_string(text: str) -> str:
    """OpenZeppelin's ShortString of ``text`` (31 bytes at most): bytes left-aligned, the length last."""
    raw = text.encode()
    return "0x" + (raw + bytes(31 - len(raw)) + bytes([len(raw)])).hex()


def _word(value: bytes) -> str:
    return "0x" + value.rjust(32, b"\x00").hex()


# what each of Board's immutables (all EIP-712's, OpenZeppelin 5) holds, in words a refusal can use
IMMUTABLE_MEANINGS = {
    "_cachedDomainSeparator": "EIP-712's cached domain separator",
    "_cachedChainId": "EIP-712's cached chain id",
    "_cachedThis": "EIP-712's cached address",
    "_hashedName": "EIP-712's hashed name",
    "_hashedVersion": "EIP-712's hashed version",
    "_name": "EIP-712's name",
    "_version": "EIP-712's version",
}


def expected_immutables(chain_id: int, address: str) -> dict[str, str]:
    """The value each immutable must hold in a Board deployed at ``address`` on chain ``chain_id`` (0x + 64 hex).

    The rule the node (``join``), the browser and the one-file reader all apply, published by ``/api/contract``.
    """
    values = {
        "_cachedDomainSeparator": "0x" + eip712.domain_separator(chain_id, address).hex(),
        "_cachedChainId": _word(chain_id.to_bytes(32, "big")),
        "_cachedThis": _word(bytes.fromhex(address.removeprefix("0x"))),
        "_hashedName": "0x" + keccak(eip712.DOMAIN_NAME.encode()).hex(),
        "_hashedVersion": "0x" + keccak(eip712.DOMAIN_VERSION.encode()).hex(),
        "_name": _short_string(eip712.DOMAIN_NAME),
        "_version": _short_string(eip712.DOMAIN_VERSION),
    }
    unknown = set(immutable_references()) - set(values)
    if unknown:  # a Board with an immutable this rule does not know: the rule must learn it first
        raise RuntimeError(f"Board has immutables no rule gives a value for: {sorted(unknown)}")
    return values


def wrong_immutables(code: bytes, chain_id: int, address: str) -> list[tuple[str, str, str]]:
    """(name, value found, value expected) for each immutable of ``code`` that is not what it must be here."""
    expected = expected_immutables(chain_id, address)
    return [
        (name, next((v for v in found if v != expected[name]), found[0]), expected[name])
        for name, found in read_immutables(code).items()
        if any(v != expected[name] for v in found)
    ]


def published_immutables(chain_id: int, address: str) -> dict[str, Any]:
    """Where each immutable sits in Board's runtime code and what it must hold here: for ``/api/contract``."""
    expected = expected_immutables(chain_id, address)
    return {
        name: {
            "positions": [[start, length] for start, length in refs],
            "expected": expected[name],
            "meaning": IMMUTABLE_MEANINGS[name],
        }
        for name, refs in immutable_references().items()
    }


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
