"""The storage layout the browser's proofs read is Board's (issue 23.6): a contract change that moves a slot fails here.

static/js/proof.js decodes the slots behind a page with ``backend/static/board-layout.json``; these tests compile
Board with solc-js (the artifact's settings) and compare solc's ``storageLayout`` with that file, and show that an
edit which moves a variable or repacks a struct makes the two differ. The release record the browser fills with
immutables is checked against the deployed code byte for byte in tests/browser/test_proofs.py.
"""

from __future__ import annotations

import json

import pytest

from backend.config import PROJECT_ROOT
from backend.deployments import release

SOURCE = "contracts/Board.sol"


def test_the_layout_proof_js_reads_is_the_compiled_boards():
    assert release.storage_layout(release.compile_layout()) == release.assumed_layout()


def test_the_release_record_names_every_immutable_of_the_artifact():
    record = release.release()
    names = {item["name"] for item in record["immutables"]}
    assert names == {
        "_cachedDomainSeparator", "_cachedChainId", "_cachedThis", "_hashedName", "_hashedVersion", "_name", "_version",
    }  # fmt: skip
    artifact = json.loads(release.ARTIFACT.read_text())
    assert record["deployedBytecode"].removeprefix("0x") == artifact["deployedBytecode"].removeprefix("0x")


COUNT = "    uint48 private _postCount;"
PACKED = "        uint48 createdAt;\n        uint48 parentId;"
EDITS = {
    "a variable before _postCount": (COUNT, "    uint256 private _added;\n" + COUNT),
    "a repacked Post": (PACKED, "        uint48 parentId;\n        uint48 createdAt;"),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_a_board_whose_slots_moved_does_not_match_the_layout(edit: str):
    old, new = EDITS[edit]
    source = (PROJECT_ROOT / SOURCE).read_text()
    assert source.count(old) == 1
    moved = release.storage_layout(release.compile_layout({SOURCE: source.replace(old, new)}))
    assert moved != release.assumed_layout()
