"""The relay's spending policy on a real Ganache, SQLite and PostgreSQL: limits, caches, pending nonces, balance.

Each limit answers 429 (client, signer) or 503 (the relayer's budget, the gas
price) with a ``Retry-After`` header and a sentence naming the limit and the
wait; refused input costs the relayer nothing; replays of a refusal are
answered from the shared store in milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3 import Web3

from backend.config import Settings
from backend.content.cid import sha256
from backend.devchain import Ganache, free_port
from backend.relay import relayer as relayer_module
from backend.relay.budget import pending_key
from tests.backend.relay.test_relay import ALICE, BOB, _pin, _receipt, relay, signed_post, signed_vote
from tests.backend.relay.test_relay_proxy import _serve_config
from tests.support.board import BoardHandle, connect, deploy_board
from tests.support.index import make_settings
from tests.support.provider_proxy import ProviderProxy
from tests.support.servers import serving

CAROL = Account.from_key(keccak(text="indelible relay carol"))
ONE_ETHER = 10**18


def _client(make_client: Callable[..., TestClient], settings: Settings, **policy: Any) -> TestClient:
    """The app (no indexer) with the relay settings in ``policy``."""
    return make_client(dataclasses.replace(settings, **policy), run_indexer=False)


def _voters(count: int, tag: str) -> list[LocalAccount]:
    return [Account.from_key(keccak(text=f"indelible policy {tag} {n}")) for n in range(count)]


# --- per-client limits ---------------------------------------------------------------------------------


def test_garbage_flood_from_one_client_gets_429_after_the_burst(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_rate=1, relay_burst=3)
    garbage = {"content": b"{nope", "headers": {"content-type": "application/json"}}
    responses = [client.post("/api/relay", **garbage) for _ in range(5)]
    assert [r.status_code for r in responses] == [422, 422, 422, 429, 429]
    assert responses[3].json() == {"detail": "too many relay requests: at most 1 a minute; try again in 60 s"}
    assert responses[3].headers["retry-after"] == "60"


def test_body_over_the_cap_is_413_before_it_is_parsed(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_max_body=1000)
    declared = client.post("/api/relay", content=b"x" * 1001, headers={"content-type": "application/json"})
    streamed = client.post(  # chunked: no Content-Length to trust, so the read itself stops at the cap
        "/api/relay", content=iter([b"y" * 600, b"y" * 600]), headers={"content-type": "application/json"}
    )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json() == {"detail": "relay body is over 1000 bytes: send fewer items per batch"}


def test_batch_of_more_than_100_votes_is_422(client: TestClient, board: BoardHandle):
    vote = signed_vote(board, BOB, 1, 1)
    response = client.post("/api/relay", json={"kind": "batch", "votes": [vote] * 101})
    assert response.status_code == 422
    assert response.json() == {"detail": "batch.votes: List should have at most 100 items after validation, not 101"}


def test_new_signers_per_client_are_limited_but_known_signers_are_not(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_new_signers_per_hour=2)
    post_id = board.post(sha256(b"voted on"))
    assert relay(client, "vote", signed_vote(board, ALICE, post_id, 1)).status_code == 200
    assert relay(client, "vote", signed_vote(board, BOB, post_id, 1)).status_code == 200
    refused = relay(client, "vote", signed_vote(board, CAROL, post_id, 1))
    assert refused.status_code == 429
    detail = refused.json()["detail"]
    assert detail.startswith("too many new signers from your address: at most 2 an hour; try again in ")
    wait = int(detail.rsplit(" ", 2)[1])
    assert 1790 <= wait <= 1800  # half an hour, less the seconds since the first new signer (a loaded machine)
    assert refused.headers["retry-after"] == str(wait)
    assert relay(client, "vote", signed_vote(board, ALICE, post_id, -1)).status_code == 200  # known: not counted


# --- per-signer and relayer limits ---------------------------------------------------------------------


def test_signer_past_its_daily_gas_gets_429_and_nothing_is_sent(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_signer_gas_per_day=150_000)
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "First", "fits"))))
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, "Second", "does not")))
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert detail.startswith(f"relay limit for {ALICE.address} reached: at most 150000 gas a day; try again in ")
    wait = int(detail.rsplit(" ", 2)[1])
    assert 0 < wait <= 86_400 and response.headers["retry-after"] == str(wait)
    assert board.contract.functions.nonces(ALICE.address).call() == 1
    assert relay(client, "post", signed_post(board, BOB, _pin(client, "Other", "signer"))).status_code == 200


def test_request_needing_more_than_a_signers_whole_day_is_429_without_retry_after(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_signer_gas_per_day=50_000)
    post_id = board.post(sha256(b"twice"))
    first = signed_vote(board, ALICE, post_id, 1)
    second = signed_vote(board, ALICE, post_id, -1, nonce=first["nonce"] + 1)
    response = relay(client, "batch", {"votes": [first, second]})
    assert response.status_code == 429
    assert response.json() == {
        "detail": f"relay limit for {ALICE.address} reached: at most 50000 gas a day; "
        "this request needs 60000, more than that: send fewer items"
    }
    assert "retry-after" not in response.headers


def test_spent_hourly_budget_is_503_with_the_refill_time(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_gas_per_hour=150_000)
    _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Paid", "from the budget"))))
    response = relay(client, "post", signed_post(board, BOB, _pin(client, "Over", "budget")))
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("relay budget for this hour is spent: it refills enough for this request at ")
    assert detail.endswith(" UTC")
    assert 0 < int(response.headers["retry-after"]) <= 3600
    assert board.contract.functions.nonces(BOB.address).call() == 0
    left = client.get("/api/status").json()["relay"]["gas_left_this_hour"]
    assert left < 60_000  # BOB's refused request gave back what it was charged; only ALICE's post is spent


def test_gas_price_above_policy_pauses_the_relay_with_503(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_max_fee_gwei=1)
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, "Too", "dear")))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("relay paused: gas price above policy (")
    assert response.json()["detail"].endswith(" > 1 gwei)")
    assert response.headers["retry-after"] == "60"


def test_relayed_transaction_never_pays_more_per_gas_than_the_policy(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_max_fee_gwei=1.9)
    receipt = _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Capped", "fee"))))
    tx = board.w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["maxFeePerGas"] <= 1_900_000_000
    assert receipt["effectiveGasPrice"] <= 1_900_000_000


# --- refused input is cheap and costs nothing ------------------------------------------------------------


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1000


# what a refused batch's check asks of the node: a replay must ask none of these (the memo answers it)
CHECK_CALLS = {
    "eth_call", "eth_estimateGas", "eth_getTransactionCount", "eth_sendRawTransaction", "eth_sendTransaction",
}  # fmt: skip


def test_replayed_refused_batch_is_refused_again_without_asking_the_chain(
    data_dir: Path, ganache: Ganache, database_url: str, board: BoardHandle
):
    """Over real HTTP (uvicorn as ``serve`` runs it, a keep-alive client, the node behind a counting proxy): the
    first refusal needs the chain's simulation; 50 replays of the same bytes are refused with the same words and
    not one call reaches the node. (What a replay costs in time is bench/attack.py's "relay replay" row.)"""
    with ProviderProxy(ganache.url) as proxy:
        settings = make_settings(
            data_dir, proxy.url, database_url, port=free_port(), relay_new_signers_per_hour=1000, relay_rate=6000,
            relay_burst=1000,
        )  # fmt: skip
        post_id = board.post(sha256(b"popular"))
        voters = _voters(100, "replay")
        votes = [signed_vote(board, voter, post_id, 1) for voter in voters[:-1]]
        votes.append(signed_vote(board, voters[-1], 999, 1))  # the last item is bad: only the simulation finds out
        raw = json.dumps({"kind": "batch", "votes": votes}).encode()
        headers = {"content-type": "application/json"}
        with (
            serving(_serve_config(settings)),
            httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=60) as http,
        ):
            before = len(proxy.seen)
            first, first_ms = _timed(lambda: http.post("/api/relay", content=raw, headers=headers))
            assert first.status_code == 400
            assert first.json() == {"detail": "batch item 99: post 999 does not exist"}
            asked_first = [method for method, _ in proxy.seen[before:] if method in CHECK_CALLS]
            assert asked_first  # the refusal came from the node's simulation, not from a shortcut
            before = len(proxy.seen)
            timings = []
            for _ in range(50):
                again, ms = _timed(lambda: http.post("/api/relay", content=raw, headers=headers))
                assert (again.status_code, again.json()) == (400, first.json())
                timings.append(ms)
            asked_again = [method for method, _ in proxy.seen[before:] if method in CHECK_CALLS]
    assert asked_again == []
    timings.sort()
    print(f"\nrefused 100-vote batch ({len(raw)} bytes): first {first_ms:.0f} ms ({len(asked_first)} node calls); "
          f"50 replays p50 {timings[25]:.2f} ms, max {timings[-1]:.2f} ms, no node call")  # fmt: skip


def test_item_refused_for_good_is_refused_in_any_batch_by_what_was_signed(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _client(make_client, settings, relay_rate=6000, relay_burst=1000)
    post_id = board.post(sha256(b"target"))
    forged = {**signed_vote(board, BOB, post_id, 1), "direction": -1}  # signed +1, claims -1
    first = client.post("/api/relay", json={"kind": "batch", "votes": [forged]})
    assert first.json() == {"detail": f"batch item 0: invalid signature: not signed by {BOB.address}"}
    other = signed_vote(board, ALICE, post_id, 1)
    again, ms = _timed(lambda: client.post("/api/relay", json={"kind": "batch", "votes": [other, forged]}))
    assert again.status_code == 400
    assert again.json() == {"detail": f"batch item 1: invalid signature: not signed by {BOB.address}"}
    print(f"\nknown forged item in a new batch refused in {ms:.2f} ms")
    assert board.contract.functions.nonces(ALICE.address).call() == 0


@pytest.mark.parametrize("tampered", ["deadline passed", "deadline later", "other post digest"])
def test_a_tampered_copy_of_a_signature_refused_first_does_not_block_the_genuine_item(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle, tampered: str
):
    """Refusals are remembered by what was signed (EIP-712 digest) and the signature, not the signature alone."""
    client = _client(make_client, settings, relay_rate=6000, relay_burst=1000)
    post_id = board.post(sha256(b"target of a tampered copy"))
    genuine = signed_vote(board, BOB, post_id, 1)
    head = int(board.w3.eth.get_block("latest")["timestamp"])
    change = {
        "deadline passed": {"deadline": head - 1},
        "deadline later": {"deadline": genuine["deadline"] + 1},
        "other post digest": {"postDigest": "0x" + "cd" * 32},
    }[tampered]
    copy = {**genuine, **change}
    expected = (
        f"signature expired: deadline {head - 1} has passed"
        if tampered == "deadline passed"
        else f"invalid signature: not signed by {BOB.address}"
    )
    assert relay(client, "vote", copy).json() == {"detail": expected}
    batch = client.post("/api/relay", json={"kind": "batch", "votes": [copy]})  # refused again, from memory
    assert batch.json() == {"detail": f"batch item 0: {expected}"}
    _receipt(board, relay(client, "vote", genuine))
    assert board.contract.functions.voteOf(post_id, BOB.address).call() == 1


def test_relayer_balance_is_exactly_unchanged_after_a_flood_of_refused_requests(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    relayer = Account.create()
    w3 = board.w3
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"to": relayer.address, "value": ONE_ETHER}))
    client = _client(
        make_client, settings, relayer_key=Web3.to_hex(relayer.key), relay_rate=6000, relay_burst=1000,
        relay_max_body=4096, relay_new_signers_per_hour=1000,
    )  # fmt: skip
    post_id = board.post(sha256(b"flooded"))
    digest = _pin(client, "Pinned", "content")
    late = signed_post(board, ALICE, digest, deadline=int(w3.eth.get_block("latest")["timestamp"]) - 5)
    flood = [
        {"kind": "vote", **signed_vote(board, BOB, 999, 1)},  # the contract refuses it (simulation)
        {"kind": "vote", **signed_vote(board, BOB, post_id, 1, nonce=7)},  # nonce ahead
        {"kind": "vote", **{**signed_vote(board, BOB, post_id, 1), "direction": -1}},  # forged
        {"kind": "post", **late},  # expired
        {"kind": "post", **signed_post(board, ALICE, "0x" + "ab" * 32)},  # not pinned
        {"kind": "batch", "votes": [signed_vote(board, _voters(1, "flood")[0], 999, 1)] * 20},  # too big
        {"kind": "batch"},  # empty
    ]
    before = w3.eth.get_balance(relayer.address)
    statuses = [client.post("/api/relay", json=body).status_code for body in flood * 5]
    statuses += [client.post("/api/relay", content=b"\xff" * 100).status_code for _ in range(5)]
    assert set(statuses) == {400, 413, 422}
    assert w3.eth.get_balance(relayer.address) == before
    assert w3.eth.get_transaction_count(relayer.address, "pending") == 0


# --- pending nonces ---------------------------------------------------------------------------------------


def test_second_action_of_a_signer_in_one_block_is_accepted_only_with_the_next_nonce(
    fresh_ganache: Ganache, data_dir: Path, database_url: str, make_client: Callable[..., TestClient]
):
    w3 = connect(fresh_ganache)
    board = deploy_board(w3, data_dir)
    settings = make_settings(data_dir, fresh_ganache.url, database_url, relay_gas_per_hour=1_000_000)
    client = _client(make_client, settings)  # a small budget refills slowly (278 gas/s): spending is measurable
    first_post = board.post(sha256(b"already there"))
    first = _receipt(board, relay(client, "vote", signed_vote(board, BOB, first_post, 1)))  # the relayer's first tx

    w3.provider.make_request("miner_stop", [])
    try:
        post = relay(client, "post", signed_post(board, ALICE, _pin(client, "Pending", "in the pool"), nonce=0))
        repeat = relay(client, "vote", signed_vote(board, ALICE, first_post, 1, nonce=0))  # reuses the pending nonce
        ahead = relay(client, "vote", signed_vote(board, ALICE, first_post, 1, nonce=2))  # skips one
        follow = relay(client, "vote", signed_vote(board, ALICE, first_post, -1, nonce=1))  # follows it
        assert [r.status_code for r in (post, repeat, ahead, follow)] == [200, 400, 400, 200], follow.text
        assert repeat.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 1, got 0"}
        assert ahead.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 1, got 2"}
        hashes = [post.json()["tx_hash"], follow.json()["tx_hash"]]
        assert [w3.eth.get_transaction(h)["blockNumber"] for h in hashes] == [None, None]
        again = relay(client, "vote", signed_vote(board, ALICE, first_post, 1, nonce=1))  # now 1 is pending too
        assert again.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 2, got 1"}
    finally:
        w3.provider.make_request("miner_start", [])
    receipts = [w3.eth.wait_for_transaction_receipt(h) for h in hashes]
    assert [r["status"] for r in receipts] == [1, 1]  # nothing the relayer sent reverted
    assert board.contract.functions.nonces(ALICE.address).call() == 2
    assert board.contract.functions.voteOf(first_post, ALICE.address).call() == -1

    # The follow-up was charged a fixed bound (no estimate takes a nonce override); the next send settles it
    last = _receipt(board, relay(client, "vote", signed_vote(board, BOB, first_post, -1)))
    used = sum(r["gasUsed"] for r in (first, *receipts, last))
    spent = 1_000_000 - client.get("/api/status").json()["relay"]["gas_left_this_hour"]
    assert abs(spent - used) < 5_000, (spent, used)  # the bound was ~150k above what the follow-up used
    alice_left = client.app.state.indelible.limits.left(f"relay:signer-gas:{ALICE.address}", 3_000_000, 86_400)
    assert abs((3_000_000 - alice_left) - (receipts[0]["gasUsed"] + receipts[1]["gasUsed"])) < 2_000


def test_signer_relayed_by_another_request_meanwhile_is_409_and_nothing_is_sent(
    client: TestClient, board: BoardHandle, monkeypatch: pytest.MonkeyPatch
):
    """Two instances check ALICE's nonce at once; the one that reaches the send lock second must not send."""
    original = relayer_module.simulate
    limits = client.app.state.indelible.limits

    def other_instance_sends_first(*args: Any) -> int:
        gas = original(*args)
        limits.put({pending_key(board.contract.address, ALICE.address): {"nonce": 1, "tx": "0x" + "ab" * 32}}, 60)
        return gas

    monkeypatch.setattr(relayer_module, "simulate", other_instance_sends_first)
    sent_before = board.w3.eth.get_transaction_count(board.w3.eth.accounts[1])
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, "Raced", "by another instance")))
    assert response.status_code == 409
    assert response.json() == {
        "detail": "another action by the same signer was relayed meanwhile: fetch the nonce and sign again"
    }
    assert board.w3.eth.get_transaction_count(board.w3.eth.accounts[1]) == sent_before
    left = client.get("/api/status").json()["relay"]["gas_left_this_hour"]
    assert left == pytest.approx(30_000_000, abs=10)  # the charge was given back


# --- shared by instances, and visible ---------------------------------------------------------------------


def test_two_app_instances_on_one_database_share_every_limit(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    policy = {"relay_rate": 1, "relay_burst": 3, "relay_new_signers_per_hour": 1, "relay_gas_per_hour": 150_000}
    first, second = (_client(make_client, settings, **policy) for _ in range(2))
    assert first.app.state.indelible.engine is not second.app.state.indelible.engine
    post_id = board.post(sha256(b"shared"))
    assert relay(first, "vote", signed_vote(board, ALICE, post_id, 1)).status_code == 200
    new_signer = relay(second, "vote", signed_vote(board, BOB, post_id, 1))
    assert new_signer.status_code == 429 and "new signers" in new_signer.json()["detail"]
    budget = relay(second, "vote", signed_vote(board, ALICE, post_id, -1))  # known signer; the budget is shared
    assert budget.status_code == 503 and budget.json()["detail"].startswith("relay budget for this hour is spent")
    rate = relay(first, "vote", signed_vote(board, ALICE, post_id, -1))  # 4th request of this client in all
    assert rate.status_code == 429 and rate.json()["detail"].startswith("too many relay requests")
    left = [c.get("/api/status").json()["relay"]["gas_left_this_hour"] for c in (first, second)]
    assert left[0] == pytest.approx(left[1], abs=200)  # both read one budget (refilling ~42 gas a second)


def test_status_and_key_page_show_the_relayer_balance_and_budget_left(client: TestClient, board: BoardHandle):
    w3 = board.w3
    relayer = w3.eth.accounts[1]
    before = client.get("/api/status").json()["relay"]
    assert before["address"] == relayer
    assert before["balance_wei"] == w3.eth.get_balance(relayer)
    assert before["gas_per_hour"] == before["gas_left_this_hour"] == 30_000_000
    assert before["error"] is None
    receipt = _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Seen", "in status"))))
    after = client.get("/api/status").json()["relay"]
    spent = 30_000_000 - after["gas_left_this_hour"]
    assert receipt["gasUsed"] * 0.9 <= spent <= receipt["gasUsed"] * 1.1  # the estimate charged, less ~8k gas/s refill
    page = client.get("/key").text
    assert relayer in page and "more gas this hour" in page
