"""The relayer's worst case on a real chain: a batch that passes simulation and then reverts, a node that stalls.

A batch is simulated, then sent; a signer who lands a conflicting action in between (here: first in the
block, as a front-runner would) makes the whole batch revert, and the relayer pays for the gas it used.
What bounds that: the gas was charged to the hourly budget and the signers before sending (never given
back for a revert), the client that sent it is charged the gas too (``relay:reverted-gas``), and the
batch's items are refused from then on, so a replay costs nothing. The nonce-slot probe (used to simulate
an action that follows a pending one) retries a node's rate limits instead of giving up until restart.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3 import Web3

from backend.config import Settings
from backend.content.cid import sha256
from backend.devchain import Ganache, free_port
from backend.relay.budget import reverted_gas_left
from tests.backend.relay.test_relay import ALICE, BOB, _receipt, relay, signed_vote
from tests.support.board import BoardHandle

MALLORY = Account.from_key(keccak(text="indelible relay mallory"))
ONE_ETHER = 10**18
FRONT_RUN = {"maxPriorityFeePerGas": 20 * 10**9, "maxFeePerGas": 40 * 10**9}  # outbids the relayer's tip


def _vote_struct(vote: dict[str, Any]) -> tuple[Any, ...]:
    signature = bytes.fromhex(vote["signature"][2:])
    fields = (vote["voter"], vote["postId"], bytes.fromhex(vote["postDigest"][2:]), vote["direction"])
    return (*fields, vote["nonce"], vote["deadline"], signature[64], signature[:32], signature[32:64])


@pytest.fixture
def paid_client(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
) -> tuple[TestClient, str]:
    """The app with a relayer key of its own holding one ether (its balance tells what it paid), and its address."""
    relayer = Account.from_key(keccak(text=f"indelible worst case relayer {board.contract.address}"))
    w3 = board.w3
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"to": relayer.address, "value": ONE_ETHER}))
    own_key = dataclasses.replace(settings, relayer_key=Web3.to_hex(relayer.key), relay_rate=6000.0)
    return make_client(own_key, run_indexer=False), relayer.address


def test_a_batch_that_reverts_after_simulation_costs_what_was_charged_and_cannot_be_replayed(
    paid_client: tuple[TestClient, str], board: BoardHandle
):
    (client, relayer), w3 = paid_client, board.w3
    posts = [board.post(sha256(f"target {n}".encode())) for n in range(3)]
    innocent = [signed_vote(board, ALICE, posts[n], 1, nonce=n) for n in range(3)]
    last = signed_vote(board, MALLORY, posts[0], 1)  # Mallory's item comes last
    conflicting = signed_vote(board, MALLORY, posts[1], -1)  # same nonce: only one of the two can land
    budget_before = client.get("/api/status").json()["relay"]["gas_left_this_hour"]
    balance_before = w3.eth.get_balance(relayer)

    w3.provider.make_request("miner_stop", [])
    try:  # Mallory's own transaction reaches the pool first: it is mined first, the batch after it
        front_run = board.contract.functions.voteBySig(_vote_struct(conflicting)).transact(
            {"from": w3.eth.accounts[0], **FRONT_RUN}
        )
        sent = client.post("/api/relay", json={"kind": "batch", "votes": [*innocent, last]})
        assert sent.status_code == 200, sent.text  # the simulation could not see the pool: it passed
    finally:
        w3.provider.make_request("miner_start", [])
    assert w3.eth.wait_for_transaction_receipt(front_run)["status"] == 1
    receipt = w3.eth.wait_for_transaction_receipt(sent.json()["tx_hash"])
    assert receipt["status"] == 0  # reverted: batch item 3's nonce was spent
    assert board.contract.functions.nonces(ALICE.address).call() == 0

    paid = balance_before - w3.eth.get_balance(relayer)
    charged = budget_before - client.get("/api/status").json()["relay"]["gas_left_this_hour"]
    max_fee = int(client.app.state.indelible.settings.relay_max_fee_gwei * 10**9)
    assert paid == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert receipt["gasUsed"] <= charged  # the hourly budget was charged at least the gas it burnt
    assert paid <= charged * max_fee
    print(
        f"\nreverted 4-vote batch: relayer balance {balance_before} -> {balance_before - paid} wei "
        f"(paid {paid} wei = {receipt['gasUsed']} gas x {receipt['effectiveGasPrice']} wei); "
        f"hourly budget charged {charged} gas (at most {charged * max_fee} wei at the fee cap)"
    )

    # Replays: the whole batch, and the innocent items alone (their nonces are still unspent): nothing is sent
    sent_before = w3.eth.get_transaction_count(relayer)
    balance_after = w3.eth.get_balance(relayer)
    alone = client.post("/api/relay", json={"kind": "batch", "votes": innocent})
    tx = sent.json()["tx_hash"]
    reason = f"its relayed transaction {tx} reverted on chain (an action of one of its signers was mined first)"
    assert alone.status_code == 400
    assert alone.json() == {"detail": f"batch item 0: {reason}: sign it again"}
    whole = client.post("/api/relay", json={"kind": "batch", "votes": [*innocent, last]})
    assert whole.json() == {"detail": f"batch item 0: {reason}: sign it again"}
    assert relay(client, "vote", innocent[1]).json() == {"detail": f"{reason}: sign it again"}
    assert (w3.eth.get_transaction_count(relayer), w3.eth.get_balance(relayer)) == (sent_before, balance_after)

    # The client that sent it was charged its gas; freshly signed items from the same signers still go through
    limits, policy = client.app.state.indelible.limits, client.app.state.indelible.chain_link.require_relayer().policy
    left = reverted_gas_left(limits, policy, "testclient")
    assert left == pytest.approx(policy.signer_gas_per_day - receipt["gasUsed"], abs=2_000)  # refills as time passes
    resigned = signed_vote(board, ALICE, posts[0], 1, deadline=innocent[0]["deadline"] + 1)
    assert _receipt(board, relay(client, "vote", resigned))["status"] == 1


def test_a_client_whose_relays_keep_reverting_is_refused(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    values = {"relay_rate": 6000.0, "relay_signer_gas_per_day": 120_000, "relay_new_signers_per_hour": 100}
    client = make_client(dataclasses.replace(settings, **values), run_indexer=False)
    w3 = board.w3
    post_id = board.post(sha256(b"contested"))
    voters = [Account.from_key(keccak(text=f"indelible reverted voter {n}")) for n in range(4)]
    w3.provider.make_request("miner_stop", [])
    try:
        conflicting = signed_vote(board, MALLORY, post_id, -1)
        board.contract.functions.voteBySig(_vote_struct(conflicting)).transact(
            {"from": w3.eth.accounts[0], **FRONT_RUN}
        )
        votes = [*(signed_vote(board, voter, post_id, 1) for voter in voters), signed_vote(board, MALLORY, post_id, 1)]
        sent = relay(client, "batch", {"votes": votes})
        assert sent.status_code == 200, sent.text
    finally:
        w3.provider.make_request("miner_start", [])
    assert w3.eth.wait_for_transaction_receipt(sent.json()["tx_hash"])["status"] == 0
    # the next send settles the reverted one (after this request's checks): the client is charged its gas
    assert relay(client, "vote", signed_vote(board, ALICE, post_id, 1)).status_code == 200
    refused = relay(client, "vote", signed_vote(board, BOB, post_id, 1))
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith(
        "relayed transactions from your address reverted on chain: at most 120000 gas of them a day; try again in "
    )


# --- a node that rate-limits the probe ------------------------------------------------------------------------


class _FaultyNode(ThreadingHTTPServer):
    """A JSON-RPC forwarder to Ganache that fails the first ``faults`` state-override eth_calls as told."""

    def __init__(self, upstream: str, faults: list[str]) -> None:
        super().__init__(("127.0.0.1", free_port()), _Forward)
        self.upstream, self.faults, self.failed = upstream, faults, 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fault_for(self, request: Any) -> str | None:
        overriding = isinstance(request, dict) and request.get("method") == "eth_call" and len(request["params"]) == 3
        with self.lock:
            if overriding and self.faults:
                self.failed += 1
                return self.faults.pop(0)
        return None


class _Forward(BaseHTTPRequestHandler):
    server: _FaultyNode

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = json.loads(body)
        fault = self.server.fault_for(request)
        if fault == "http 429":
            self._answer(429, b"Too Many Requests")
        elif fault == "rpc rate limit":
            error = {"code": -32005, "message": "rate limit exceeded: try again in 1 s"}
            self._answer(200, json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}).encode())
        else:
            upstream = httpx.post(self.server.upstream, content=body, headers={"content-type": "application/json"})
            self._answer(upstream.status_code, upstream.content)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextmanager
def _faulty_node(ganache: Ganache, faults: list[str]) -> Iterator[_FaultyNode]:
    node = _FaultyNode(ganache.url, faults)
    thread = threading.Thread(target=node.serve_forever, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        node.shutdown()
        node.server_close()


@pytest.mark.parametrize(
    ("faults", "first_status"),
    [
        (["rpc rate limit"] * 2, 200),  # the probe's own retries absorb them
        (["rpc rate limit"] * 4, 503),  # more than its retries: the request fails, the next one probes again
        (["http 429"] * 3, 200),  # the transport's retries (backend.provider) absorb them
    ],
    ids=["json-rpc rate limit", "json-rpc rate limit until the request gives up", "http 429"],
)
def test_the_nonce_slot_probe_retries_a_rate_limited_node_and_is_not_disabled(
    make_client: Callable[..., TestClient],
    settings: Settings,
    ganache: Ganache,
    board: BoardHandle,
    faults: list[str],
    first_status: int,
):
    w3 = board.w3
    with _faulty_node(ganache, list(faults)) as node:
        client = make_client(dataclasses.replace(settings, rpc_url=node.url, relay_rate=6000.0), run_indexer=False)
        post_id = board.post(sha256(b"followed up"))
        w3.provider.make_request("miner_stop", [])
        try:
            first = relay(client, "vote", signed_vote(board, ALICE, post_id, 1, nonce=0))
            assert first.status_code == 200, first.text
            follow = relay(client, "vote", signed_vote(board, ALICE, post_id, -1, nonce=1))  # needs the probe
            assert follow.status_code == first_status, follow.text
            if first_status == 503:
                assert follow.json() == {
                    "detail": "the node did not answer the relayer's storage probe (Web3RPCError): try again"
                }
                follow = relay(client, "vote", signed_vote(board, ALICE, post_id, -1, nonce=1))
                assert follow.status_code == 200, follow.text  # probed again, not given up until restart
        finally:
            w3.provider.make_request("miner_start", [])
        assert node.failed == len(faults)
        receipts = [w3.eth.wait_for_transaction_receipt(r.json()["tx_hash"]) for r in (first, follow)]
        assert [r["status"] for r in receipts] == [1, 1]
        assert board.contract.functions.voteOf(post_id, ALICE.address).call() == -1
