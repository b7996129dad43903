"""The release's Board as the browser's proofs need it (static/js/proof.js, issue 23).

``python -m backend.deployments.release`` (run by ``make compile``) writes
``backend/static/vendor/board-release.json``: the compiled runtime code, where each immutable sits in it (by
name: ``backend.deployments.code``, which join uses too), and the EIP-712 name and version the constructor
hashes. The browser fills the immutables for the
Board's address and chain as the constructor does, and compares keccak256 of the result with the codeHash of the
proven Board account: the whole code, metadata included, with no ``eth_getCode`` to download.

``storage_layout()`` gives where Board keeps what pages show, in the shape of ``backend/static/board-layout.json``
(the layout proof.js assumes); tests/backend/deployments/test_proof_layout.py compares the two, so a contract
change that moves a slot fails a test instead of every reader's check.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from backend import eip712
from backend.config import PROJECT_ROOT
from backend.deployments.code import ARTIFACT, immutable_references, load_artifact, solc_standard_json

RELEASE_PATH = PROJECT_ROOT / "backend" / "static" / "vendor" / "board-release.json"
LAYOUT_PATH = PROJECT_ROOT / "backend" / "static" / "board-layout.json"
# the state variables behind a page, by their names in Board.sol, and the keys proof.js knows them by
VARIABLES = {"_postCount": "postCount", "_posts": "posts", "_tallies": "tallies"}


def compile_layout(sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Board compiled by solc-js with the artifact's settings: its storage layout (solc's ``storageLayout``).

    ``sources`` overrides file contents by path (tests move slots so).
    """
    artifact = json.loads(ARTIFACT.read_text())
    compiler = artifact["compiler"]
    source = artifact["sourcePath"]
    request = {
        "language": "Solidity",
        "sources": {
            p: {"content": (sources or {}).get(p) or (PROJECT_ROOT / p).read_text()}
            for p in artifact["allSourcePaths"].values()
        },
        "settings": {
            "optimizer": {"enabled": compiler["optimizer"]["enabled"], "runs": compiler["optimizer"]["runs"]},
            "evmVersion": compiler["evm_version"],
            "remappings": ["@openzeppelin=node_modules/@openzeppelin"],
            "outputSelection": {
                source: {"Board": ["storageLayout"]},
            },
        },
    }
    output = solc_standard_json(request)
    return dict(output["contracts"][source]["Board"]["storageLayout"])


def release() -> dict[str, Any]:
    """The browser's release record: runtime code, each immutable's name and place, EIP-712 name and version."""
    places = sorted((start, length, name) for name, refs in immutable_references().items() for start, length in refs)
    immutables = [{"name": name, "start": start, "length": length} for start, length, name in places]
    return {
        "contract": "Board",
        "deployedBytecode": "0x" + str(load_artifact()["deployedBytecode"]).removeprefix("0x"),
        "immutables": immutables,
        "domain": {"name": eip712.DOMAIN_NAME, "version": eip712.DOMAIN_VERSION},
    }


def storage_layout(layout: dict[str, Any]) -> dict[str, Any]:
    """Where the page's facts live, from solc's storageLayout, in board-layout.json's shape (no comment)."""
    types = layout["types"]
    found: dict[str, Any] = {}
    for variable in layout["storage"]:
        key = VARIABLES.get(variable["label"])
        if key is None:
            continue
        kind = types[variable["type"]]
        entry: dict[str, Any] = {"slot": int(variable["slot"])}
        if kind["encoding"] == "mapping":
            members = types[kind["value"]]["members"]
            entry["members"] = {
                m["label"]: {
                    "slot": int(m["slot"]),
                    "offset": int(m["offset"]),
                    "bytes": int(types[m["type"]]["numberOfBytes"]),
                }
                for m in members
            }
        else:
            entry |= {"offset": int(variable["offset"]), "bytes": int(kind["numberOfBytes"])}
        found[key] = entry
    return found


def assumed_layout() -> dict[str, Any]:
    """The layout proof.js assumes (backend/static/board-layout.json), its comment left out."""
    layout: dict[str, Any] = json.loads(LAYOUT_PATH.read_text())
    layout.pop("comment", None)
    return layout


def main() -> None:
    """Write board-release.json; say so on stderr."""
    record = release()
    RELEASE_PATH.parent.mkdir(parents=True, exist_ok=True)
    RELEASE_PATH.write_text(json.dumps(record) + "\n")
    print(f"{RELEASE_PATH.relative_to(PROJECT_ROOT)}: {len(record['immutables'])} immutables", file=sys.stderr)


if __name__ == "__main__":
    main()
