"""`make reader` (issue 22): one self-contained file, the same bytes for the same commit; the node's CORS routes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.content.cid import cid_of
from backend.deployments import code
from backend.deployments.release import RELEASE_PATH
from backend.web import reader as reader_route
from reader import build as reader_build


def test_the_reader_builds_to_the_same_bytes_twice_even_from_a_fresh_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    first, first_cid = reader_build.build()
    # the second build compiles Board again with solc-js for its immutables' places (a cache of its own: the
    # shared one stays as other tests read it)
    monkeypatch.setattr(code, "IMMUTABLES_CACHE", tmp_path / "Board.immutables.json")
    second, second_cid = reader_build.build()
    assert (tmp_path / "Board.immutables.json").exists()
    assert first == second and first_cid == second_cid == cid_of(first)
    assert reader_build.OUT.with_name(reader_build.OUT.name + ".cid").read_text().strip() == first_cid


def test_the_file_is_self_contained_and_its_policy_names_its_own_scripts_and_style():
    data, _ = reader_build.build()
    html = data.decode()
    scripts = re.findall(r'<script type="module">(.*?)</script>', html, re.S)
    # the small script in the head that sends the first reads while the module loads (reader/src/early.js)
    early = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(early) == 1 and html.index(early[0]) < html.index("</head>") < html.index(scripts[0])
    # the later module (the proofs and writing): inert text, run by the module once the first view is shown
    later = re.findall(r'<script type="text/plain" id="later">(.*?)</script>', html, re.S)
    assert len(later) == 1 and html.index(later[0]) < html.index(scripts[0])
    assert "indelible-reader-later" in later[0] and "eth_getProof" in later[0] and "eth_getProof" not in scripts[0]
    # nothing loaded from anywhere: no element outside the scripts names another resource
    markup = html.replace(scripts[0], "").replace(early[0], "").replace(later[0], "")
    assert not re.search(r"<(script|link|img|iframe|object|embed)[^>]+(src|href|data)=", markup)
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(scripts) == 1 and len(styles) == 1
    policy = reader_route.load_reader(reader_build.OUT)
    assert policy is not None

    def source(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    assert f"script-src {source(early[0])} {source(scripts[0])} {source(later[0])};" in policy.policy
    assert f"style-src {source(styles[0])};" in policy.policy
    assert "default-src 'none'" in policy.policy and "connect-src http: https:" in policy.policy
    # the release facts: the node's own release record (board-release.json's), Board's seven immutables by name
    facts = reader_build.release_facts()
    assert facts["board"] == json.loads(RELEASE_PATH.read_text())
    assert {item["name"] for item in facts["board"]["immutables"]} == reader_build.KNOWN_IMMUTABLES
    assert facts["board"]["deployedBytecode"] in html


def test_only_ipfs_content_car_and_relay_answer_other_origins(client: TestClient):
    opened = [("/api/content", "POST"), ("/api/relay", "POST"), ("/ipfs/bafkreiabc", "GET")]
    opened.append(("/api/content/car", "GET"))
    for path, method in opened:
        answer = client.options(
            path,
            headers={
                "Origin": "null",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == "*"
        assert method in answer.headers["access-control-allow-methods"]
        assert "credentials" not in " ".join(answer.headers.keys())
    bad = client.post("/api/content", content=b"{}", headers={"Content-Type": "application/json", "Origin": "null"})
    assert bad.status_code == 422 and bad.headers["access-control-allow-origin"] == "*"  # errors readable too
    assert client.get("/ipfs/not-a-cid").headers["access-control-allow-origin"] == "*"
    assert client.get("/api/content/car?cid=x").headers["access-control-allow-origin"] == "*"
    closed_paths = ("/api/posts", "/api/status", "/api/nonces/0x0000000000000000000000000000000000000001", "/")
    for closed in (*closed_paths, "/api/content/cars", "/api/content/car/x"):
        assert "access-control-allow-origin" not in client.get(closed, headers={"Origin": "null"}).headers, closed
    assert (
        client.options("/api/posts", headers={"Origin": "null", "Access-Control-Request-Method": "GET"}).status_code
        == 405
    )
