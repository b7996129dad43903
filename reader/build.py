"""`make reader`: build dist/indelible-reader.html, the node-free reader, as one self-contained file.

Steps, each deterministic so that one commit gives the same bytes (tests/backend/web/test_reader_build.py builds
twice and compares):

1. The release's facts the reader checks a Board against: Board's runtime code from the brownie artifact, the
   positions of its immutables by name (solc-js's ``immutableReferences``, named through the AST, for a compile
   whose runtime code must equal the artifact's), the ABI fragments and the EIP-712 domain and types.
2. The JavaScript: ``reader/src/main.js`` and what it imports (the node's own ``preview.js`` and ``signer.js``,
   the Markdown rules, ethers, DOMPurify, marked) bundled by esbuild (``reader/bundle.mjs``).
3. One HTML file: the template with the CSS, the release facts (a JSON script element) and the bundle inlined,
   and a Content-Security-Policy ``<meta>`` allowing exactly that script and that style by their sha256.

The file's own CID (sha256 as CIDv1 raw) is printed and written beside it (``dist/indelible-reader.html.cid``);
the file cannot hold its own hash, so its footer computes it at run time (docs/reader.md says how and why).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import eip712  # noqa: E402
from backend.content.cid import cid_of  # noqa: E402

ARTIFACT = ROOT / "build" / "contracts" / "Board.json"
RELEASE_CACHE = ROOT / "build" / "reader" / "release.json"
SOLC_BRIDGE = ROOT / "scripts" / "solc_bridge.js"
TEMPLATE = ROOT / "reader" / "template.html"
CSS = ROOT / "reader" / "reader.css"
BUNDLER = ROOT / "reader" / "bundle.mjs"
OUT = ROOT / "dist" / "indelible-reader.html"
# The immutables of OpenZeppelin's EIP712 (Board's only ones): the reader computes each one's expected value
KNOWN_IMMUTABLES = {
    "_cachedDomainSeparator", "_cachedChainId", "_cachedThis", "_hashedName", "_hashedVersion", "_name", "_version",
}  # fmt: skip
ABI_NAMES = {"getPost", "postCount", "voteOf", "nonces", "post", "vote", "PostCreated", "VoteCast"}


def _split_metadata(code: bytes) -> bytes:
    """The executable part of solc runtime code (the trailing CBOR metadata cut off)."""
    length = int.from_bytes(code[-2:], "big") + 2
    return code[:-length] if length <= len(code) and code[-length] & 0xE0 == 0xA0 else code


def _names(node: Any, found: dict[int, str]) -> dict[int, str]:
    """Every VariableDeclaration's id -> name in an AST."""
    if isinstance(node, dict):
        if node.get("nodeType") == "VariableDeclaration" and "id" in node:
            found[int(node["id"])] = str(node["name"])
        for value in node.values():
            _names(value, found)
    elif isinstance(node, list):
        for value in node:
            _names(value, found)
    return found


def _compile(artifact: dict[str, Any]) -> dict[str, Any]:
    """solc-js's runtime code, immutableReferences and ASTs for Board, with the artifact's settings."""
    compiler = artifact["compiler"]
    request = {
        "language": "Solidity",
        "sources": {p: {"content": (ROOT / p).read_text()} for p in artifact["allSourcePaths"].values()},
        "settings": {
            "optimizer": {"enabled": compiler["optimizer"]["enabled"], "runs": compiler["optimizer"]["runs"]},
            "evmVersion": compiler["evm_version"],
            "remappings": ["@openzeppelin=node_modules/@openzeppelin"],
            "outputSelection": {
                "*": {"": ["ast"]},
                artifact["sourcePath"]: {
                    "Board": ["evm.deployedBytecode.object", "evm.deployedBytecode.immutableReferences"]
                },
            },
        },
    }
    result = subprocess.run(
        ["node", str(SOLC_BRIDGE), "--standard-json"], input=json.dumps(request), cwd=ROOT,
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    output: dict[str, Any] = json.loads(result.stdout)
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise SystemExit("compiling Board failed: " + errors[0])
    return output


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a node or test reading ``path`` meanwhile never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # as a plain write would leave it, for any static host serving dist/
    os.replace(tmp.name, path)


def release_facts() -> dict[str, Any]:
    """What the reader checks a Board against (cached in build/reader/ per artifact)."""
    artifact = json.loads(ARTIFACT.read_text())
    key = hashlib.sha256(artifact["deployedBytecode"].encode()).hexdigest()
    if RELEASE_CACHE.exists():
        cached: dict[str, Any] = json.loads(RELEASE_CACHE.read_text())
        if cached.get("artifactKey") == key:
            return cached
    output = _compile(artifact)
    evm = output["contracts"][artifact["sourcePath"]]["Board"]["evm"]["deployedBytecode"]
    runtime = "0x" + artifact["deployedBytecode"].removeprefix("0x")
    ours = bytes.fromhex(evm["object"].removeprefix("0x"))
    if _split_metadata(ours) != _split_metadata(bytes.fromhex(runtime[2:])):
        raise SystemExit(f"solc-js does not reproduce {ARTIFACT}'s runtime code: run `make compile` again")
    names: dict[int, str] = {}
    for source in output["sources"].values():
        _names(source["ast"], names)
    immutables = []
    for ident, refs in sorted(evm["immutableReferences"].items(), key=lambda item: int(item[0])):
        name = names.get(int(ident), "")
        if name not in KNOWN_IMMUTABLES:
            raise SystemExit(f"Board has an immutable the reader cannot check: {name or ident!r}")
        immutables.append({"name": name, "positions": sorted([r["start"], r["length"]] for r in refs)})
    facts = {
        "artifactKey": key,
        "runtime": runtime,
        "immutables": sorted(immutables, key=lambda item: str(item["name"])),
        "abi": [entry for entry in artifact["abi"] if entry.get("name") in ABI_NAMES],
        "eip712": {
            "name": eip712.DOMAIN_NAME,
            "version": eip712.DOMAIN_VERSION,
            "types": {"Post": eip712.POST_TYPE, "Vote": eip712.VOTE_TYPE},
        },
    }
    _write_atomically(RELEASE_CACHE, (json.dumps(facts, indent=1, sort_keys=True) + "\n").encode())
    return facts


def bundle() -> str:
    """The reader's JavaScript, one ES module (esbuild, minified, no source map)."""
    result = subprocess.run(["node", str(BUNDLER)], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300)
    return result.stdout


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page(script: str, style: str, facts: dict[str, Any]) -> bytes:
    """The HTML file: template + CSS + facts + script, with a CSP naming that script and style by hash."""
    script = script.replace("</script", "<\\/script")  # a string in the bundle must not end the element
    release = json.dumps({k: v for k, v in facts.items() if k != "artifactKey"}, sort_keys=True, separators=(",", ":"))
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256_source(script)}",
            f"style-src {_sha256_source(style)}",
            "connect-src http: https:",  # only the RPC URLs and gateways the reader names are ever asked
            "img-src data:",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )
    html = TEMPLATE.read_text()
    for name, value in (("CSP", csp), ("STYLE", style), ("RELEASE", release.replace("</", "<\\/")), ("SCRIPT", script)):
        marker = "{{" + name + "}}"
        if html.count(marker) != 1:
            raise SystemExit(f"{TEMPLATE} must hold {marker} once")
        html = html.replace(marker, value)
    return html.encode()


def build() -> tuple[bytes, str]:
    """Build the file and its CID; write both to dist/."""
    data = page(bundle(), CSS.read_text(), release_facts())
    _write_atomically(OUT, data)
    cid = cid_of(data)
    _write_atomically(OUT.with_name(OUT.name + ".cid"), (cid + "\n").encode())
    return data, cid


if __name__ == "__main__":
    data, cid = build()
    print(f"{OUT.relative_to(ROOT)}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"CID {cid}")
