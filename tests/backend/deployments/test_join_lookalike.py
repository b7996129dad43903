"""Look-alike Boards (issue 19.1): Board's own runtime code with one of EIP-712's immutables of another deployment.

Board caches its domain separator, chain id and address as immutables (OpenZeppelin's EIP712). A forger who copies
a real Board's runtime code and sets the cached address to the copy's own address gets a contract whose
``eip712Domain()`` names the copy honestly (live chain id, ``address(this)``) but whose signature check uses the
cached separator: the real Board's. ``join`` reads every immutable out of the code and refuses the copy, naming the
immutable that is wrong. Real Ganache, real transactions, real signatures.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import rlp
from eth_account import Account
from eth_utils.crypto import keccak
from fastapi.testclient import TestClient
from web3 import Web3

from backend import eip712
from backend.deployments import code, join
from backend.deployments.resolve import find_deployment
from backend.devchain import free_port
from tests.support.board import BoardHandle
from tests.support.index import make_settings

VOTER = Account.from_key("0x" + "5e" * 32)


def _create_address(w3: Web3, sender: str) -> str:
    """The address the next contract ``sender`` creates will have (keccak of rlp(sender, nonce))."""
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
    return Web3.to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def _deploy_runtime(w3: Web3, runtime: bytes) -> str:
    """Deploy ``runtime`` as it is: an init code that copies it out of itself and returns it."""
    size = len(runtime).to_bytes(2, "big")
    init = b"\x61" + size + b"\x61\x00\x0f\x60\x00\x39" + b"\x61" + size + b"\x60\x00\xf3"  # 15 bytes
    sender = w3.eth.accounts[0]
    predicted = _create_address(w3, sender)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "data": init + runtime}))
    assert receipt["status"] == 1 and receipt["contractAddress"] == predicted
    assert bytes(w3.eth.get_code(predicted)) == runtime
    return predicted


def _with(runtime: bytes, name: str, value: str) -> bytes:
    """``runtime`` with immutable ``name`` set to ``value`` (0x + 64 hex) everywhere it is read."""
    patched = bytearray(runtime)
    for start, length in code.immutable_references()[name]:
        patched[start : start + length] = bytes.fromhex(value[2:])
    return bytes(patched)


def _honest_for(runtime: bytes, chain_id: int, address: str) -> bytes:
    """``runtime`` with every immutable set to what a Board deployed at ``address`` holds."""
    for name, value in code.expected_immutables(chain_id, address).items():
        runtime = _with(runtime, name, value)
    return runtime


def _signed_vote(chain_id: int, contract: str, post_id: int, digest: bytes) -> tuple[dict[str, object], tuple]:
    """A vote by VOTER signed for ``contract``: the message and the SignedVote tuple a relayer would send."""
    message = {
        "voter": VOTER.address,
        "postId": post_id,
        "postDigest": "0x" + digest.hex(),
        "direction": 1,
        "nonce": 0,
        "deadline": int(time.time()) + 3600,
    }
    v, r, s = eip712.split_signature(eip712.sign(VOTER, "vote", message, chain_id, contract))
    signed = (VOTER.address, post_id, digest, 1, 0, message["deadline"], v, r, s)
    return message, signed


def _settings(w3: Web3, tmp_path: Path, address: str):
    data_dir = tmp_path / "joiner"
    data_dir.mkdir(exist_ok=True)
    url = str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    return make_settings(data_dir, url, f"sqlite:///{data_dir / 'index.sqlite3'}", contract_address=address)


def test_the_expected_immutables_are_what_a_real_board_holds(board: BoardHandle, w3: Web3):
    runtime = bytes(w3.eth.get_code(board.deployment.address))
    expected = code.expected_immutables(w3.eth.chain_id, board.deployment.address)
    found = code.read_immutables(runtime)
    assert set(found) == set(expected) == set(code.IMMUTABLE_MEANINGS)
    assert all(values == [expected[name]] * len(values) for name, values in found.items())
    assert code.wrong_immutables(runtime, w3.eth.chain_id, board.deployment.address) == []
    separator = board.contract.functions.DOMAIN_SEPARATOR().call()
    assert separator == eip712.domain_separator(w3.eth.chain_id, board.deployment.address)


def test_a_copy_with_its_own_cached_address_accepts_the_real_boards_votes_and_join_refuses_it(
    board: BoardHandle, w3: Web3, tmp_path: Path
):
    chain_id = w3.eth.chain_id
    real = board.deployment.address
    runtime = bytes(w3.eth.get_code(real))
    fake_address = _create_address(w3, w3.eth.accounts[0])
    forged = _with(runtime, "_cachedThis", code.expected_immutables(chain_id, fake_address)["_cachedThis"])
    assert _deploy_runtime(w3, forged) == fake_address
    fake = w3.eth.contract(address=fake_address, abi=board.deployment.abi)
    # the copy names itself honestly through eip712Domain(): the check join made before this issue passes
    assert join.eip712_domain(w3, fake_address, w3.eth.block_number) == (
        eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION, chain_id, fake_address,
    )  # fmt: skip
    assert code.check_code(forged).matches

    digest = keccak(b"a post on both")
    board.post(digest)
    w3.eth.wait_for_transaction_receipt(fake.functions.post(digest, 0, bytes(32)).transact())
    _, signed = _signed_vote(chain_id, real, 1, digest)  # signed for the real Board, nobody else
    w3.eth.wait_for_transaction_receipt(fake.functions.voteBySig(signed).transact())
    assert fake.functions.voteOf(1, VOTER.address).call() == 1  # the copy took the real Board's signature
    w3.eth.wait_for_transaction_receipt(board.contract.functions.voteBySig(signed).transact())
    assert board.contract.functions.voteOf(1, VOTER.address).call() == 1  # and so does the real Board

    settings = _settings(w3, tmp_path, fake_address)
    with pytest.raises(join.JoinError) as refused:
        find_deployment(w3, settings)
    message = str(refused.value)
    assert message.startswith(f"the code at {fake_address} on chain {chain_id} (block ")
    assert (
        "Board's code with a wrong immutable: _cachedDomainSeparator (EIP-712's cached domain separator) is 0x"
        + (eip712.domain_separator(chain_id, real).hex())
        in message
    )
    assert f"must be 0x{eip712.domain_separator(chain_id, fake_address).hex()} for this address and chain" in message
    assert not settings.deployments_path.exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_cachedChainId", "0x" + (1).to_bytes(32, "big").hex()),  # mainnet's: the copy recomputes, still a lie
        ("_hashedName", "0x" + keccak(b"Indelible ").hex()),
        ("_hashedVersion", "0x" + keccak(b"1").hex()),
        ("_cachedDomainSeparator", "0x" + eip712.domain_separator(1, "0x" + "11" * 20).hex()),
        ("_cachedThis", "0x" + bytes(12).hex() + "22" * 20),
    ],
)
def test_a_copy_with_one_wrong_immutable_is_refused_naming_it(
    board: BoardHandle, w3: Web3, tmp_path: Path, name: str, value: str
):
    chain_id = w3.eth.chain_id
    fake_address = _create_address(w3, w3.eth.accounts[0])
    honest = _honest_for(bytes(w3.eth.get_code(board.deployment.address)), chain_id, fake_address)
    assert _deploy_runtime(w3, _with(honest, name, value)) == fake_address
    settings = _settings(w3, tmp_path, fake_address)
    with pytest.raises(join.JoinError) as refused:
        find_deployment(w3, settings)
    assert f"a wrong immutable: {name} ({code.IMMUTABLE_MEANINGS[name]}) is {value}, but must be" in str(refused.value)
    assert "(wrong too" not in str(refused.value)


def test_an_honest_copy_for_its_own_address_is_joined(board: BoardHandle, w3: Web3, tmp_path: Path):
    # the same code with every immutable right for its address is a Board: join accepts it, so the rule is exact
    chain_id = w3.eth.chain_id
    fake_address = _create_address(w3, w3.eth.accounts[0])
    honest = _honest_for(bytes(w3.eth.get_code(board.deployment.address)), chain_id, fake_address)
    assert _deploy_runtime(w3, honest) == fake_address
    deployment = find_deployment(w3, _settings(w3, tmp_path, fake_address))
    assert deployment.address == fake_address and deployment.joined


def test_api_contract_publishes_each_immutable_where_the_code_on_chain_holds_its_expected_value(
    client: TestClient, board: BoardHandle, w3: Web3
):
    body = client.get("/api/contract").json()
    runtime = bytes(w3.eth.get_code(board.deployment.address))
    assert set(body["immutables"]) == set(code.IMMUTABLE_MEANINGS)
    for name, immutable in body["immutables"].items():
        assert immutable["meaning"] == code.IMMUTABLE_MEANINGS[name]
        assert immutable["positions"]
        for start, length in immutable["positions"]:
            assert "0x" + runtime[start : start + length].hex() == immutable["expected"], name
    separator = "0x" + eip712.domain_separator(w3.eth.chain_id, board.deployment.address).hex()
    assert body["immutables"]["_cachedDomainSeparator"]["expected"] == separator


class _SeparatorLiar:
    """An RPC proxy that forwards everything but answers ``DOMAIN_SEPARATOR()`` calls with another word."""

    def __init__(self, upstream: str, lie: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                call = json.loads(body)
                first = (call.get("params") or [{}])[0] if isinstance(call, dict) else {}
                asked = isinstance(call, dict) and call.get("method") == "eth_call" and isinstance(first, dict)
                if asked and str(first.get("data", "")).startswith(join.DOMAIN_SEPARATOR_SELECTOR):
                    content = json.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": "0x" + lie.hex()}).encode()
                else:
                    content = httpx.post(upstream, content=body, headers={"content-type": "application/json"}).content
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_node_whose_domain_separator_differs_from_the_one_computed_here_is_refused(
    board: BoardHandle, w3: Web3, tmp_path: Path
):
    # the code and every immutable are right; only DOMAIN_SEPARATOR() answers another Board's separator
    chain_id = w3.eth.chain_id
    lie = eip712.domain_separator(chain_id, "0x" + "33" * 20)
    liar = _SeparatorLiar(str(w3.provider.endpoint_uri), lie)  # type: ignore[attr-defined]
    try:
        lying = Web3(Web3.HTTPProvider(liar.url))
        with pytest.raises(join.JoinError) as refused:
            find_deployment(lying, _settings(lying, tmp_path, board.deployment.address))
    finally:
        liar.server.shutdown()
        liar.server.server_close()
    expected = eip712.domain_separator(chain_id, board.deployment.address)
    assert str(refused.value) == (
        f"the Board at {board.deployment.address} on chain {chain_id} (block {w3.eth.block_number}) answers "
        f"DOMAIN_SEPARATOR() with 0x{lie.hex()}, not 0x{expected.hex()}, this address and chain's"
    )
