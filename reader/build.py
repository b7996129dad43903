"""`make reader`: build dist/indelible-reader.html, the node-free reader, as one self-contained file.

Steps, each deterministic so that one commit gives the same bytes (tests/backend/web/test_reader_build.py builds
twice and compares):

1. The release's facts the reader checks a Board against: the node's own release record
   (``backend.deployments.release.release()``, what ``make compile`` writes to
   ``backend/static/vendor/board-release.json`` for the node's proofs: Board's runtime code, each immutable's
   place by name from ``backend.deployments.code``, which join uses too, and the EIP-712 name and version), and
   beside it the ABI fragments the reader calls, the EIP-712 types it signs and PostCreated's topic (for early.js).
2. The JavaScript, bundled by esbuild (``reader/bundle.mjs``): ``reader/src/main.js`` and what it imports (the
   node's own ``preview.js``, ``postdoc.js`` and ``proof.js``'s layout and code check, the Markdown rules,
   markdown-it, the few ethers functions those call) as the module that shows the views;
   ``reader/src/later.js``, the later module (the proofs, with ``proof.js`` and @ethereumjs, and the sending of
   posts and votes, with ``signer.js`` and ethers' wallet code), which ``reader/src/loader.js`` runs once the
   first view is shown or an action is asked; and ``reader/src/early.js`` (with ``plan.js``), a small classic
   script that sends the first reads from the page's head while the module is parsed.
3. One HTML file: the template with the CSS, the release facts (a JSON script element, in the head, where
   early.js reads it), early.js and the module inlined, the later module's text inert (a ``text/plain`` script
   element, run by the module as an inline module), and a Content-Security-Policy ``<meta>`` allowing exactly
   those three scripts and that style by their sha256.

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
from backend.deployments.code import load_artifact  # noqa: E402
from backend.deployments.release import release  # noqa: E402
from backend.indexer.decode import POST_CREATED  # noqa: E402

TEMPLATE = ROOT / "reader" / "template.html"
CSS = ROOT / "reader" / "reader.css"
BUNDLER = ROOT / "reader" / "bundle.mjs"
OUT = ROOT / "dist" / "indelible-reader.html"
# The immutables of OpenZeppelin's EIP712 (Board's only ones): the reader computes each one's expected value
KNOWN_IMMUTABLES = {
    "_cachedDomainSeparator", "_cachedChainId", "_cachedThis", "_hashedName", "_hashedVersion", "_name", "_version",
}  # fmt: skip
ABI_NAMES = {"getPost", "postCount", "voteOf", "nonces", "post", "vote", "PostCreated", "VoteCast"}


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename: a node or test reading ``path`` meanwhile never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # as a plain write would leave it, for any static host serving dist/
    os.replace(tmp.name, path)


def release_facts() -> dict[str, Any]:
    """What the reader checks a Board against and calls it with: the node's release record, the ABI, EIP-712."""
    board = release()
    unknown = sorted({item["name"] for item in board["immutables"]} - KNOWN_IMMUTABLES)
    if unknown:
        raise SystemExit(f"Board has an immutable the reader cannot check: {unknown[0]!r}")
    return {
        "board": board,
        "abi": [entry for entry in load_artifact()["abi"] if entry.get("name") in ABI_NAMES],
        # the indexer's own topic, for early.js, which asks the first logs before the module (and keccak) is loaded
        "postCreatedTopic": POST_CREATED,
        "eip712": {
            "name": eip712.DOMAIN_NAME,
            "version": eip712.DOMAIN_VERSION,
            "types": {"Post": eip712.POST_TYPE, "Vote": eip712.VOTE_TYPE},
        },
    }


def bundle(*args: str) -> str:
    """The reader's JavaScript (esbuild, minified, no source map): the module; ``bundle("early")``: early.js;
    ``bundle("later")``: the later module."""
    result = subprocess.run(
        ["node", str(BUNDLER), *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=300
    )
    return result.stdout


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page(script: str, style: str, facts: dict[str, Any], early: str, later: str) -> bytes:
    """The HTML file: template + CSS + facts + the three scripts, with a CSP naming them and the style by hash."""
    # a string in a bundle must not end its element (the later module's text is run as it stands in the page)
    script, early, later = (text.replace("</script", "<\\/script") for text in (script, early, later))
    release = json.dumps(facts, sort_keys=True, separators=(",", ":"))
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_sha256_source(early)} {_sha256_source(script)} {_sha256_source(later)}",
            f"style-src {_sha256_source(style)}",
            "connect-src http: https:",  # only the RPC URLs and gateways the reader names are ever asked
            "img-src data:",
            "form-action 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )
    html = TEMPLATE.read_text()
    replacements = (
        ("CSP", csp), ("STYLE", style), ("RELEASE", release.replace("</", "<\\/")),
        ("EARLY", early), ("SCRIPT", script), ("LATER", later),
    )  # fmt: skip
    for name, value in replacements:
        marker = "{{" + name + "}}"
        if html.count(marker) != 1:
            raise SystemExit(f"{TEMPLATE} must hold {marker} once")
        html = html.replace(marker, value)
    return html.encode()


def build() -> tuple[bytes, str]:
    """Build the file and its CID; write both to dist/."""
    data = page(bundle(), CSS.read_text(), release_facts(), bundle("early"), bundle("later"))
    _write_atomically(OUT, data)
    cid = cid_of(data)
    _write_atomically(OUT.with_name(OUT.name + ".cid"), (cid + "\n").encode())
    return data, cid


if __name__ == "__main__":
    data, cid = build()
    print(f"{OUT.relative_to(ROOT)}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"CID {cid}")
