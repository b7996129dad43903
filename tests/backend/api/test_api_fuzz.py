"""Fuzz the API from its own /openapi.json with schemathesis: no 5xx, every response as documented.

schemathesis lives in ``.venv-fuzz`` (``make test-backend`` installs it from
requirements-fuzz.txt): its hypothesis clashes with brownie's pin. The app runs
under uvicorn on a free port against a real Ganache, a deployed Board and an
index with posts, replies and votes; the relay's rate limit is lifted so that
schemathesis sees the relay's own answers rather than 429s. It runs once on a
SQLite index and, when INDELIBLE_TEST_POSTGRES_URL is set (as CI sets it), once
more on PostgreSQL with fewer examples per route (the same routes, search among
them; the second run is there for what the engine does differently: tsquery
parsing, type coercion, the counters).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.content.cid import sha256
from backend.content.document import encode_document
from backend.content.pins import PinStore
from backend.devchain import free_port
from tests.support.board import deploy_board
from tests.support.index import DATABASES, POSTGRES_URL, reset_postgres
from tests.support.wait import wait_for

SCHEMATHESIS = PROJECT_ROOT / ".venv-fuzz" / "bin" / "schemathesis"
# Serialises ast.parse in the schemathesis process: CPython 3.11.7's gh-106905 race between its two workers.
HOOKS = PROJECT_ROOT / "tests" / "support" / "schemathesis_hooks.py"
MAX_EXAMPLES = {
    "sqlite": int(os.environ.get("INDELIBLE_FUZZ_EXAMPLES", "100")),
    "postgresql": int(os.environ.get("INDELIBLE_FUZZ_EXAMPLES_POSTGRES", "30")),
}


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """The index's engine: sqlite, or postgresql when INDELIBLE_TEST_POSTGRES_URL is set."""
    return str(request.param)


@pytest.fixture
def served_app(w3: Web3, tmp_path: Path, database: str) -> Iterator[str]:
    """The app under uvicorn with an indexed board on ``database``: its base URL."""
    data_dir = tmp_path / "data"
    board = deploy_board(w3, data_dir)
    if database == "postgresql":
        reset_postgres(POSTGRES_URL)
    database_url = POSTGRES_URL if database == "postgresql" else f"sqlite:///{data_dir / 'index.sqlite3'}"
    pins = PinStore(data_dir / "content")
    top = []
    for i in range(4):
        document = encode_document(f"Fuzz target {i}", "body")
        pins.put(document)
        top.append(board.post(sha256(document)))
    reply = board.post(sha256(encode_document(None, "a reply")), top[0])
    board.post(sha256(encode_document(None, "deeper")), reply)
    for voter in w3.eth.accounts[1:7]:
        board.vote(top[1], -1, voter)
        board.vote(top[2], 1, voter)
    port = free_port()
    env = {
        **os.environ,
        "INDELIBLE_DATA_DIR": str(data_dir),
        "INDELIBLE_RPC_URL": w3.provider.endpoint_uri,
        "INDELIBLE_PORT": str(port),
        "INDELIBLE_START_CHAIN": "never",
        "INDELIBLE_DATABASE_URL": database_url,
        "INDELIBLE_RELAY_RATE": "1000000",
        "INDELIBLE_RELAY_BURST": "1000000",
        "INDELIBLE_UPLOAD_REQUESTS": "1000000",
        "INDELIBLE_UPLOAD_BYTES": "1000000000",
    }
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve"], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _indexed(base, w3.eth.block_number), timeout=60, interval=0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _indexed(base: str, head: int) -> bool:
    try:
        return len(httpx.get(f"{base}/api/posts?sort=new", timeout=2).json()["posts"]) == 4 and _at(base, head)
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def _at(base: str, head: int) -> bool:
    status = httpx.get(f"{base}/api/status", timeout=2).json()
    return (status.get("index", {}).get("indexed_block") or -1) >= head


# A schema-valid request may still be refused for what it means: a signature that does not verify,
# a nonce already used (relay: 400), a cursor this listing did not make or an address failing its EIP-55
# checksum (422), an id nobody posted (404), base32 that is no raw sha2-256 CID (400), a document whose
# kind contradicts ?reply= or a reply with a blank body (422), a post-id list of over 100 ids or with an id
# out of range (422).
CONFIG = """
hooks = "{hooks}"

[[operations]]
include-path = "/api/content"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-path-regex = "^/ipfs/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404"]

[[operations]]
include-path = "/api/relay"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "422"]

[[operations]]
include-path-regex = "^/(api/posts(/[^/]+)?|api/authors/.*|feeds/.*)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404", "422"]

[[operations]]
include-path = "/api/search"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-path-regex = "^/api/(votes|nonces)/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]
"""


def test_api_survives_schemathesis(served_app: str, database: str, tmp_path: Path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.replace("{hooks}", str(HOOKS)))
    command = [
        str(SCHEMATHESIS), "--config-file", str(config), "run", f"{served_app}/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES[database]),
        "--phases", "examples,coverage,fuzzing",
        "--seed", "5",
        "--workers", "2",
        "--request-timeout", "20",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(tmp_path / "schemathesis"),
    ]  # fmt: skip
    env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
