"""A keyed deploy (issue 21.4): ``python -m backend deploy`` signs here and sends raw EIP-1559 transactions.

A small recording HTTP proxy sits between the command and a real Ganache and keeps every JSON-RPC method it
forwards: no ``eth_sendTransaction`` and no ``eth_accounts`` may reach the node, so a hosted provider that holds
no key will do. The deployment is recorded by ``make_record`` like every other, after the confirmations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from backend.config import PROJECT_ROOT
from backend.deployments import records
from backend.devchain import Ganache, free_port

DEPLOYER = Account.from_key(keccak(text="indelible keyed deployer"))


class RecordingProxy:
    """Forwards JSON-RPC POSTs to ``upstream`` and records each method (batches included)."""

    def __init__(self, upstream: str) -> None:
        self.methods: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                calls = json.loads(body)
                proxy.methods += [c.get("method", "?") for c in (calls if isinstance(calls, list) else [calls])]
                answer = httpx.post(upstream, content=body, headers={"content-type": "application/json"}, timeout=60)
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mining_chain() -> Iterator[Ganache]:
    """A Ganache of chain id 4747 (not the dev chain: nothing is deployed for free) mining a block a second."""
    with Ganache(free_port(), chain_id=4747, extra_args=["--miner.blockTime", "1"]) as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        funded = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": DEPLOYER.address, "value": 10**18})
        w3.eth.wait_for_transaction_receipt(funded)
        yield node


def _deploy(rpc_url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INDELIBLE_DEPLOYER")},
        "INDELIBLE_RPC_URL": rpc_url,
        "INDELIBLE_DATA_DIR": str(data_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "backend", "deploy"], cwd=PROJECT_ROOT, env=environment, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def test_deploy_signs_locally_and_no_send_transaction_or_accounts_reaches_the_node(
    mining_chain: Ganache, tmp_path: Path
):
    data_dir = tmp_path / "data"
    with RecordingProxy(mining_chain.url) as proxy:
        done = _deploy(
            proxy.url, data_dir, INDELIBLE_DEPLOYER_KEY="0x" + DEPLOYER.key.hex(), INDELIBLE_CONFIRMATIONS="2"
        )
    assert done.returncode == 0, done.stderr
    assert "eth_sendRawTransaction" in proxy.methods
    assert {"eth_sendTransaction", "eth_accounts"}.isdisjoint(proxy.methods), sorted(set(proxy.methods))
    assert "eth_feeHistory" in proxy.methods

    (record,) = json.loads((data_dir / "deployments.json").read_text())["deployments"]
    w3 = Web3(Web3.HTTPProvider(mining_chain.url))
    tx = w3.eth.get_transaction(record["tx_hash"])
    assert tx["from"] == DEPLOYER.address and tx["type"] == 2  # EIP-1559, from the key, not a node account
    assert tx["maxPriorityFeePerGas"] >= 1 and tx["maxFeePerGas"] >= tx["maxPriorityFeePerGas"]
    assert set(record) == {
        "contract", "chain_id", "genesis_hash", "address", "block_number", "block_hash", "tx_hash", "deployed_at",
        "board_version", "abi",
    }  # fmt: skip
    assert (record["chain_id"], record["board_version"]) == (4747, records.BOARD_VERSION)
    assert record["block_hash"] == Web3.to_hex(w3.eth.get_block(record["block_number"])["hash"])
    assert len(w3.eth.get_code(record["address"])) > 0
    assert f"deployed at {record['address']} in block {record['block_number']} on chain 4747" in done.stdout
    # it waited for two blocks on top before recording: the proxy saw the head asked for after the receipt
    after_receipt = proxy.methods[proxy.methods.index("eth_getTransactionReceipt") :]
    assert "eth_blockNumber" in after_receipt


def test_deploy_with_a_keystore_and_its_password(mining_chain: Ganache, tmp_path: Path):
    keystore = tmp_path / "deployer.json"
    keystore.write_text(json.dumps(Account.encrypt(DEPLOYER.key, "correct horse", kdf="pbkdf2", iterations=1000)))
    wrong = _deploy(
        mining_chain.url, tmp_path / "a", INDELIBLE_DEPLOYER_KEYSTORE=str(keystore), INDELIBLE_DEPLOYER_PASSWORD="no"
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith(f"not deployed: the keystore {keystore} does not open with INDELIBLE_DEPLOYER_")
    assert "Traceback" not in wrong.stderr
    done = _deploy(
        mining_chain.url,
        tmp_path / "b",
        INDELIBLE_DEPLOYER_KEYSTORE=str(keystore),
        INDELIBLE_DEPLOYER_PASSWORD="correct horse",
    )
    assert done.returncode == 0, done.stderr
    (record,) = json.loads((tmp_path / "b" / "deployments.json").read_text())["deployments"]
    assert Web3(Web3.HTTPProvider(mining_chain.url)).eth.get_transaction(record["tx_hash"])["from"] == DEPLOYER.address


def test_deploy_without_a_key_off_the_dev_chain_says_which_settings_and_sends_nothing(
    mining_chain: Ganache, tmp_path: Path
):
    with RecordingProxy(mining_chain.url) as proxy:
        refused = _deploy(proxy.url, tmp_path / "data")
    assert refused.returncode == 1
    assert refused.stderr.startswith("not deployed: no deployer key for chain 4747: set INDELIBLE_DEPLOYER_KEY")
    assert "Traceback" not in refused.stderr
    assert not any(m.startswith("eth_send") for m in proxy.methods)
    assert not (tmp_path / "data" / "deployments.json").exists()


def test_deploy_from_an_unfunded_key_says_how_much_it_needs(mining_chain: Ganache, tmp_path: Path):
    poor = Account.from_key(keccak(text="indelible unfunded deployer"))
    refused = _deploy(mining_chain.url, tmp_path / "data", INDELIBLE_DEPLOYER_KEY="0x" + poor.key.hex())
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"not deployed: the deployer {poor.address} holds 0 wei on chain 4747")
    assert "fund it first" in refused.stderr
