"""POST /api/relay on a real chain: signed posts, votes and batches land with the SIGNER as author/voter.

Signers are local eth-account keys holding no ether; the relayer (Ganache
account 1) pays. Each refusal comes back as a 4xx with a sentence saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3.logs import DISCARD

from backend.config import Settings
from backend.content.cid import digest_hex, sha256
from backend.content.document import encode_document
from backend.db.stats import index_summary
from backend.eip712 import sign, split_signature
from tests.support.board import BoardHandle
from tests.support.wait import wait_for

ALICE = Account.from_key(keccak(text="indelible relay alice"))
BOB = Account.from_key(keccak(text="indelible relay bob"))


def _deadline(board: BoardHandle, seconds: int = 3600) -> int:
    return int(board.w3.eth.get_block("latest")["timestamp"]) + seconds


def _pin(client: TestClient, title: str | None, body: str) -> str:
    data = encode_document(title, body)
    assert client.post("/api/content", content=data, headers={"content-type": "application/json"}).status_code in (
        200,
        201,
    )
    return digest_hex(sha256(data))


def _nonce(board: BoardHandle, account: Any) -> int:
    return int(board.contract.functions.nonces(account.address).call())


def _signed(board: BoardHandle, account: Any, kind: str, fields: dict[str, Any], over: dict[str, Any]) -> dict:
    """``fields`` plus nonce and deadline (current unless ``over`` names them), signed; ``over`` then overrides."""
    message = {
        **fields,
        "nonce": over.pop("nonce", _nonce(board, account)),
        "deadline": over.pop("deadline", _deadline(board)),
    }
    signature = sign(account, kind, message, board.deployment.chain_id, board.deployment.address)
    return {**message, "signature": signature, **over}


def signed_post(board: BoardHandle, account: Any, digest: str, parent: int = 0, **over: Any) -> dict[str, Any]:
    """A signed post; a reply names its parent's digest as the chain has it now unless ``parentDigest`` is given."""
    parent_digest = over.pop("parentDigest", "0x" + board.digest_of(parent).hex())
    fields = {"author": account.address, "digest": digest, "parentId": parent, "parentDigest": parent_digest}
    return _signed(board, account, "post", fields, over)


def signed_vote(board: BoardHandle, account: Any, post_id: int, direction: int, **over: Any) -> dict[str, Any]:
    """A signed vote naming the post's digest as the chain has it now unless ``postDigest`` is given."""
    post_digest = over.pop("postDigest", "0x" + board.digest_of(post_id).hex())
    fields = {"voter": account.address, "postId": post_id, "postDigest": post_digest, "direction": direction}
    return _signed(board, account, "vote", fields, over)


def relay(client: TestClient, kind: str, body: dict[str, Any]) -> Any:
    return client.post("/api/relay", json={"kind": kind, **body})


def _receipt(board: BoardHandle, response: Any) -> Any:
    assert response.status_code == 200, response.text
    return board.w3.eth.wait_for_transaction_receipt(response.json()["tx_hash"])


def test_relayed_post_lands_with_the_signer_as_author(client: TestClient, board: BoardHandle):
    digest = _pin(client, "Relayed", "paid by someone else")
    receipt = _receipt(board, relay(client, "post", signed_post(board, ALICE, digest)))
    event = board.contract.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert event["author"] == ALICE.address
    assert receipt["from"] == board.w3.eth.accounts[1]
    engine = client.app.state.indelible.engine
    wait_for(lambda: index_summary(engine)["posts"] == 1)
    assert client.get("/api/posts?sort=new").json()["posts"][0]["author"] == ALICE.address


def test_relayed_vote_lands_with_the_signer_as_voter(client: TestClient, board: BoardHandle):
    post_id = board.post(sha256(b"x"))
    receipt = _receipt(board, relay(client, "vote", signed_vote(board, BOB, post_id, -1)))
    event = board.contract.events.VoteCast().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert (event["voter"], event["direction"], event["downvotes"]) == (BOB.address, -1, 1)


def test_relayed_batch_posts_then_votes_on_the_new_post(client: TestClient, board: BoardHandle):
    digest = _pin(client, "Batch", "with a vote")
    post = signed_post(board, ALICE, digest)
    vote = signed_vote(board, ALICE, 1, 1, nonce=post["nonce"] + 1, postDigest=digest)  # the post it makes
    receipt = _receipt(board, client.post("/api/relay", json={"kind": "batch", "posts": [post], "votes": [vote]}))
    assert board.contract.functions.getPost(1).call()[0] == ALICE.address
    assert board.contract.functions.voteOf(1, ALICE.address).call() == 1
    assert receipt["status"] == 1


def test_replayed_message_is_refused(client: TestClient, board: BoardHandle):
    body = signed_post(board, ALICE, _pin(client, "Once", "only"))
    _receipt(board, relay(client, "post", body))
    response = relay(client, "post", body)
    assert response.status_code == 400
    assert response.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 1, got 0"}


def test_expired_deadline_is_refused(client: TestClient, board: BoardHandle):
    deadline = _deadline(board, -10)
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, "Late", "too"), deadline=deadline))
    assert response.status_code == 400
    assert response.json() == {"detail": f"signature expired: deadline {deadline} has passed"}


@pytest.mark.parametrize("field", ["digest", "parentId", "parentDigest", "deadline", "author"])
def test_tampered_post_is_refused(client: TestClient, board: BoardHandle, field: str):
    board.post(sha256(b"parent"))
    body = signed_post(board, ALICE, _pin(client, "Signed", "as is"))
    tampered = {
        "digest": _pin(client, "Swapped", "by the relayer"),
        "parentId": 1,
        "parentDigest": "0x" + sha256(b"parent").hex(),
        "deadline": body["deadline"] + 1,
        "author": BOB.address,
    }
    response = relay(client, "post", {**body, field: tampered[field]})
    claimed = BOB.address if field == "author" else ALICE.address
    assert response.status_code == 400
    assert response.json() == {"detail": f"invalid signature: not signed by {claimed}"}


def test_tampered_vote_direction_is_refused(client: TestClient, board: BoardHandle):
    post_id = board.post(sha256(b"y"))
    response = relay(client, "vote", {**signed_vote(board, BOB, post_id, 1), "direction": -1})
    assert response.status_code == 400
    assert response.json() == {"detail": f"invalid signature: not signed by {BOB.address}"}


@pytest.mark.parametrize(
    ("signature", "detail"),
    [
        ("0x" + "11" * 64 + "1e", "invalid signature: v must be 27 or 28, got 30"),
        (
            "0x" + "11" * 32 + "ff" * 32 + "1b",
            "invalid signature: s is in the upper half of the curve order (malleable)",
        ),
        ("0x" + "00" * 64 + "1b", "invalid signature: no signer can be recovered from it"),
    ],
)
def test_bad_signature_is_refused(client: TestClient, board: BoardHandle, signature: str, detail: str):
    body = signed_post(board, ALICE, _pin(client, "Bad", "sig"))
    response = relay(client, "post", {**body, "signature": signature})
    assert response.status_code == 400
    assert response.json() == {"detail": detail}


def test_unpinned_content_is_refused(client: TestClient, board: BoardHandle):
    data = encode_document("Not pinned", "anywhere")
    response = relay(client, "post", signed_post(board, ALICE, digest_hex(sha256(data))))
    assert response.status_code == 400
    assert "is not pinned here: upload it first (POST /api/content)" in response.json()["detail"]


def test_vote_on_missing_post_is_refused_from_the_contracts_error(client: TestClient, board: BoardHandle):
    response = relay(client, "vote", signed_vote(board, BOB, 99, 1))
    assert response.status_code == 400
    assert response.json() == {"detail": "post 99 does not exist"}


def test_reply_to_missing_parent_is_refused(client: TestClient, board: BoardHandle):
    response = relay(client, "post", signed_post(board, ALICE, _pin(client, None, "orphan"), parent=7))
    assert response.status_code == 400
    assert response.json() == {"detail": "parent post 7 does not exist"}


def test_top_level_post_naming_a_parent_digest_is_refused(client: TestClient, board: BoardHandle):
    parent_digest = "0x" + "ab" * 32
    body = signed_post(board, ALICE, _pin(client, "Top", "level"), parentDigest=parent_digest)
    response = relay(client, "post", body)
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"a top-level post (parentId 0) must have a zero parentDigest, got {parent_digest}"
    }


def test_failing_batch_item_is_named(client: TestClient, board: BoardHandle):
    post = signed_post(board, ALICE, _pin(client, "Fine", "post"))
    vote = signed_vote(board, BOB, 42, 1)
    response = client.post("/api/relay", json={"kind": "batch", "posts": [post], "votes": [vote]})
    assert response.status_code == 400
    assert response.json() == {"detail": "batch item 1: post 42 does not exist"}
    assert _nonce(board, ALICE) == 0  # all or nothing


def test_batch_nonces_must_follow_each_other(client: TestClient, board: BoardHandle):
    first = signed_post(board, ALICE, _pin(client, "One", "1"))
    second = signed_post(board, ALICE, _pin(client, "Two", "2"))  # same nonce as the first
    response = client.post("/api/relay", json={"kind": "batch", "posts": [first, second]})
    assert response.status_code == 400
    assert response.json() == {"detail": f"batch item 1: invalid nonce for {ALICE.address}: expected 1, got 0"}


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"kind": "like"}, "request body: Input tag 'like' found using 'kind' does not match any of the expected tags: "
         "'post', 'vote', 'batch'"),
        ({"kind": "batch"}, "batch is empty: give at least one post or vote"),
        ({"kind": "vote", "voter": "0x" + "11" * 20, "postId": 1, "postDigest": "0x" + "ab" * 32, "direction": 2,
          "nonce": 0, "deadline": 1, "signature": "0x" + "11" * 65},
         "vote.direction: Input should be less than or equal to 1"),
        ({"kind": "vote", "voter": "0x" + "11" * 20, "postId": 1, "direction": 1, "nonce": 0, "deadline": 1,
          "signature": "0x" + "11" * 65}, "vote.postDigest: Field required"),
        ({"kind": "post", "author": "0x1", "digest": "0x" + "ab" * 32, "nonce": 0, "deadline": 1,
          "signature": "0x" + "11" * 65}, "post.author: expected 0x followed by 40 hex digits"),
        ({"kind": "post", "author": "0x" + "11" * 20, "digest": "0x" + "ab" * 32, "nonce": 0, "deadline": 1},
         "post.signature: Field required"),
    ],
)  # fmt: skip
def test_malformed_relay_body_is_4xx_with_reason(client: TestClient, body: dict, detail: str):
    response = client.post("/api/relay", json=body)
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_non_json_relay_body_is_422(client: TestClient):
    response = client.post("/api/relay", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422


def _limited_client(make_client: Callable[..., TestClient], settings: Settings, burst: int) -> TestClient:
    """The app with a relay limit of one request a minute after a burst of ``burst``."""
    return make_client(dataclasses.replace(settings, relay_rate=1, relay_burst=burst), run_indexer=False)


def test_relay_is_rate_limited_per_client(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    client = _limited_client(make_client, settings, burst=2)
    body = {"kind": "vote", **signed_vote(board, BOB, 5, 1)}
    responses = [client.post("/api/relay", json=body) for _ in range(4)]
    assert [r.status_code for r in responses] == [400, 400, 429, 429]
    assert responses[2].json()["detail"] == "too many relay requests: at most 1 a minute; try again in 60 s"
    assert responses[2].headers["retry-after"] == "60"


def test_message_the_relayer_declines_can_be_sent_by_anyone_else(
    make_client: Callable[..., TestClient], settings: Settings, board: BoardHandle
):
    """Declined here (rate limit), the same signed message is sent by a stranger using only /api/contract."""
    client = _limited_client(make_client, settings, burst=1)
    body = signed_post(board, ALICE, _pin(client, "Declined", "but not silenced"))
    relay(client, "vote", signed_vote(board, BOB, 5, 1))  # spends the one request
    assert relay(client, "post", body).status_code == 429

    contract = client.get("/api/contract").json()
    w3 = board.w3
    stranger = w3.eth.accounts[7]
    board_abi = w3.eth.contract(address=contract["address"], abi=contract["abi"])
    v, r, s = split_signature(body["signature"])
    digest, parent_digest = bytes.fromhex(body["digest"][2:]), bytes.fromhex(body["parentDigest"][2:])
    signed = (body["author"], digest, body["parentId"], parent_digest, body["nonce"], body["deadline"])
    tx = board_abi.functions.postBySig((*signed, v, r, s)).transact({"from": stranger})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1 and receipt["from"] == stranger
    event = board_abi.events.PostCreated().process_receipt(receipt, errors=DISCARD)[0]["args"]
    assert event["author"] == ALICE.address  # the signer, whoever paid
    assert event["digest"] == bytes.fromhex(body["digest"][2:])
    client.app.state.indelible.limits.refund("relay:client:testclient", 1, 1, 60)  # the minute has passed
    response = relay(client, "post", body)  # and it cannot land twice
    assert response.status_code == 400
    assert response.json() == {"detail": f"invalid nonce for {ALICE.address}: expected 1, got 0"}


def test_nonce_route_follows_the_contract_as_signed_actions_land(client: TestClient, board: BoardHandle):
    wait_for(lambda: client.get(f"/api/nonces/{ALICE.address}").status_code == 200, what="the index started")
    answer = client.get(f"/api/nonces/{ALICE.address.lower()}").json()
    assert (answer["address"], answer["nonce"]) == (ALICE.address, 0)
    tx = _receipt(board, relay(client, "post", signed_post(board, ALICE, _pin(client, "Counted", "one"))))
    answer = client.get(f"/api/nonces/{ALICE.address}").json()  # at once: from the relayer's record, or the index
    assert answer["nonce"] == 1 and answer["pending_tx"] in (None, tx["transactionHash"].to_0x_hex())


@pytest.mark.parametrize(
    ("address", "status"),
    [("0x1234", 422), ("not-an-address", 422), ("0x" + "g" * 40, 422)],
)
def test_nonce_route_refuses_malformed_addresses(client: TestClient, address: str, status: int):
    response = client.get(f"/api/nonces/{address}")
    assert response.status_code == status
    assert response.json()["detail"].startswith("address:")
