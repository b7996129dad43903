"""A node behind a hosted provider's limits (issue 21): retries, split batches, shrinking ranges, the same index.

Real Ganache behind ``tests/support/provider_proxy.py``, real HTTP, SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from backend.config import Settings
from backend.content.cid import sha256
from backend.indexer.fetch import RangeSizer, refuses_range
from backend.indexer.rpc import Rpc, RpcError
from backend.indexer.runner import Indexer
from backend.provider import NodeProvider, limits_of
from tests.backend.relay.test_relay import _pin, relay, signed_post, signed_vote
from tests.support.board import BoardHandle, deploy_board
from tests.support.index import POSTGRES_URL, dump_index, make_settings, reset_postgres
from tests.support.provider_proxy import Behaviour, ProviderProxy
from tests.support.wait import wait_for

POSTS, REPLIES, VOTES = 30, 10, 90
RECORDS: dict[str, Path] = {}  # a Board's address -> the deployments.json that records it
# the provider: result cap, batches of at most 8, ~8 % 429 with Retry-After, 3 % 503, resets, slow answers
HOSTILE = Behaviour(
    seed=21, log_results=12, batch_max=8, rate_429=0.08, rate_503=0.03, rate_502=0.01, rate_reset=0.02,
    rate_slow=0.03, slow_seconds=1.0,
    first_fates=("", "503", "", "reset", "", "502", "429"),  # each at least once, whatever chance draws next
)  # fmt: skip


@pytest.fixture(scope="module")
def busy_board(w3: Web3, tmp_path_factory: pytest.TempPathFactory) -> BoardHandle:
    """A Board with posts, replies and votes from many accounts (mined once for the module)."""
    data_dir = tmp_path_factory.mktemp("busy") / "data"
    board = deploy_board(w3, data_dir)
    RECORDS[board.deployment.address] = data_dir / "deployments.json"
    accounts, functions = w3.eth.accounts, board.contract.functions
    first = functions.postCount().call() + 1
    digests = [sha256(f"top {i}".encode()) for i in range(POSTS)]
    sent = [functions.post(d, 0, bytes(32)).transact({"from": accounts[i % 10]}) for i, d in enumerate(digests)]
    for i in range(REPLIES):  # instamined one by one: no need to wait for each receipt
        parent = i % POSTS
        call = functions.post(sha256(f"reply {i}".encode()), first + parent, digests[parent])
        sent.append(call.transact({"from": accounts[(i + 3) % 10]}))
    for i in range(VOTES):
        post = i % POSTS
        call = functions.vote(first + post, digests[post], 1 if i % 3 else -1)
        sent.append(call.transact({"from": accounts[10 + i // POSTS]}))
    assert all(w3.eth.wait_for_transaction_receipt(tx)["status"] == 1 for tx in sent)
    return board


def _node(board: BoardHandle, tmp_path: Path, name: str, rpc_url: str, database_url: str, **kw: object) -> Settings:
    """Settings of one node: its own data dir holding the Board's record (unless it joins), its own index."""
    data_dir = tmp_path / name
    data_dir.mkdir()
    if "contract_address" not in kw:
        shutil.copy(RECORDS[board.deployment.address], data_dir / "deployments.json")
    return make_settings(data_dir, rpc_url, database_url or f"sqlite:///{data_dir / 'index.sqlite3'}", **kw)


@pytest.fixture(params=["sqlite", *(["postgresql"] if POSTGRES_URL else [])])
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _database(engine_name: str) -> str:
    if engine_name == "postgresql":
        reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return ""


def _index(settings: Settings) -> tuple[dict[str, list[tuple[object, ...]]], Indexer]:
    indexer = Indexer(settings)
    try:
        indexer.run(once=True)
        return dump_index(indexer.engine), indexer
    finally:
        indexer.close()
        indexer.engine.dispose()


def board_url(w3: Web3) -> str:
    return str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]


def _proxy(ganache_url: str, behaviour: Behaviour) -> ProviderProxy:
    return ProviderProxy(ganache_url, behaviour)


# -- the transport -----------------------------------------------------------------------------------


def test_retry_after_is_waited_out_and_counted_as_throttling(ganache):
    with _proxy(ganache.url, Behaviour(first_fates=("429",), retry_after="2")) as proxy:
        rpc = Rpc(proxy.url)
        started = time.monotonic()
        assert rpc.block_number() == Web3(Web3.HTTPProvider(ganache.url)).eth.block_number
        waited = time.monotonic() - started
        limits = rpc.limits
        rpc.close()
    assert 2.0 <= waited < 8.0  # the 2 s asked, plus jitter and a loaded machine
    assert limits.throttles == 1 and limits.retries == 1 and limits.throttled()
    assert proxy.fates == {"429": 1}


def test_busy_answers_and_reset_connections_are_retried(ganache):
    with _proxy(ganache.url, Behaviour(first_fates=("503", "reset", "502", "slow"), slow_seconds=0.2)) as proxy:
        rpc = Rpc(proxy.url)
        assert rpc.block(0)["number"] == "0x0"
        limits = rpc.limits
        rpc.close()
    assert proxy.fates == {"503": 1, "reset": 1, "502": 1, "slow": 1}
    assert limits.retries == 3 and limits.throttles == 0


def test_a_provider_that_keeps_refusing_is_reported_as_throttling_once_the_budget_is_spent(ganache):
    with _proxy(ganache.url, Behaviour(rate_429=1.0, retry_after="1")) as proxy:
        rpc = Rpc(proxy.url, budget=2.5)
        with pytest.raises(Exception) as refused:
            rpc.block_number()
        rpc.close()
    assert getattr(refused.value, "throttled", False) is True
    assert "HTTP 429" in str(refused.value)
    assert 2 <= proxy.fates["429"] <= 4  # each Retry-After waited out, then no more than the budget allows


def test_a_refused_batch_is_split_and_the_smaller_size_kept_for_the_process(ganache, w3: Web3):
    while w3.eth.block_number < 40:
        w3.provider.make_request(RPCEndpoint("evm_mine"), [])
    numbers = list(range(38))  # the header batch
    expected = [Web3.to_hex(w3.eth.get_block(n)["hash"]) for n in numbers]
    with _proxy(ganache.url, Behaviour(batch_max=8)) as proxy:
        rpc = Rpc(proxy.url)
        assert [header["hash"] for header in rpc.blocks(numbers)] == expected
        refused = proxy.fates["batch_refused"]
        assert 1 <= refused <= 3 and rpc.limits.batch_size <= 8
        again = Rpc(proxy.url)  # another client of the same provider: the size is known
        assert [header["hash"] for header in again.blocks(numbers)] == expected
        assert proxy.fates["batch_refused"] == refused
        rpc.close()
        again.close()


def test_a_provider_without_batches_gets_single_calls(ganache, w3: Web3):
    with _proxy(ganache.url, Behaviour(batches=False)) as proxy:
        rpc = Rpc(proxy.url)
        headers = rpc.blocks([0, 1, 2])
        assert [h["number"] for h in headers] == ["0x0", "0x1", "0x2"]
        assert rpc.limits.batch_size == 1
        rpc.close()
        # web3's batches (the relayer's, through backend.chain.connect) go through the same transport
        provider = NodeProvider(proxy.url)
        answers = provider.make_batch_request([(RPCEndpoint("eth_chainId"), []), (RPCEndpoint("eth_blockNumber"), [])])
        assert isinstance(answers, list) and int(answers[0]["result"], 16) == w3.eth.chain_id
    assert proxy.fates["batch_refused"] == 1  # the first batch taught the size; the rest went one by one


def test_a_raw_transaction_whose_answer_was_lost_is_sent_once_and_its_hash_returned(anvil):
    # on Anvil: Ganache 7.9 mines the very same signed transaction again when it is sent twice (same hash, twice)
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    account = Account.from_key(sha256(b"provider limits sender"))
    funding = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": account.address, "value": 10**18})
    w3.eth.wait_for_transaction_receipt(funding)
    with _proxy(anvil.url, Behaviour(lose_answers=("eth_sendRawTransaction",))) as proxy:
        proxied = Web3(NodeProvider(proxy.url))
        nonce = w3.eth.get_transaction_count(account.address)
        tx = {"to": w3.eth.accounts[2], "value": 1, "gas": 21000, "gasPrice": w3.eth.gas_price * 2,
              "chainId": w3.eth.chain_id, "nonce": nonce}  # fmt: skip
        signed = account.sign_transaction(tx)
        tx_hash = proxied.eth.send_raw_transaction(signed.raw_transaction)
    assert proxy.fates["lost eth_sendRawTransaction"] == 1  # the node took it; the first answer never came
    assert [method for method, _ in proxy.seen].count("eth_sendRawTransaction") == 2  # sent again after the reset
    assert tx_hash == signed.hash
    assert w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    assert w3.eth.get_transaction_count(account.address) == nonce + 1


@pytest.mark.parametrize(
    ("message", "code", "span", "ceiling"),
    [
        # Infura and Alchemy suggest a range: it is taken as it stands, and no ceiling is learned from a result count
        ("query returned more than 10000 results. Try with this block range [0x64, 0x8b].", -32005, 40, None),
        ("Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on "
         "the response size, or you can request any block range with a cap of 10K logs in the response. Based on "
         "your parameters, this block range should work: [0x64, 0x6d]", -32602, 10, None),
        # a span limit names its number: kept as the ceiling for the process
        ("exceed maximum block range: 50", -32600, 50, 50),
        ("block range is too wide", -32000, 50, 50),  # no number: half, kept as the ceiling
        ("something else went wrong", -32000, 50, None),  # any refusal of the call: half
    ],
)  # fmt: skip
def test_a_refused_range_is_asked_again_as_the_provider_says(message: str, code: int, span: int, ceiling: int | None):
    limits = limits_of(f"http://sizer.test/{message}")
    sizer = RangeSizer(span=100, max_span=5000, limits=limits)
    assert sizer.refused(RpcError(message, code=code), 100)
    assert (sizer.span, limits.log_span, limits.refused_ranges) == (span, ceiling, 1)
    for _ in range(30):  # sparse ranges after it (growth waits 8 ranges after a result count): up to the ceiling
        sizer.after(sizer.span, 0)
    assert sizer.span == (ceiling or 5000)


def test_busy_answers_and_lost_connections_never_shrink_a_range():
    throttled = RpcError("HTTP 429", throttled=True, status=429)
    down = RpcError("connection refused")
    assert not refuses_range(throttled) and not refuses_range(down)
    assert refuses_range(RpcError("timed out", timeout=True)) and refuses_range(RpcError("HTTP 413", status=413))


# -- the indexer -------------------------------------------------------------------------------------


def test_a_refused_range_shrinks_from_where_it_stood_and_is_never_read_again_from_the_top(
    busy_board: BoardHandle, ganache, tmp_path: Path
):
    with _proxy(ganache.url, Behaviour(log_results=5, log_style="alchemy")) as proxy:
        settings = _node(busy_board, tmp_path, "behind", proxy.url, "")
        behind, indexer = _index(settings)
    direct, _ = _index(_node(busy_board, tmp_path, "direct", ganache.url, ""))
    assert behind == direct
    ranges = [(int(p[0]["fromBlock"], 16), int(p[0]["toBlock"], 16)) for m, p in proxy.seen if m == "eth_getLogs"]
    starts = [start for start, _ in ranges]
    assert starts == sorted(starts), "a range was asked again from an earlier block"
    assert proxy.fates["log_results"] >= 3
    # each refusal is followed by the same start, asking for fewer blocks
    for (start, end), (next_start, next_end) in itertools.pairwise(ranges):
        if next_start == start:
            assert next_end < end
    assert indexer.health.provider is not None and indexer.health.provider["refused_ranges"] >= 3


def test_a_block_span_limit_is_learned_once_and_kept_for_the_process(busy_board: BoardHandle, ganache, tmp_path):
    with _proxy(ganache.url, Behaviour(log_span=4)) as proxy:
        first, _ = _index(_node(busy_board, tmp_path, "first", proxy.url, ""))
        refusals = proxy.fates["log_span"]
        second, indexer = _index(_node(busy_board, tmp_path, "second", proxy.url, ""))
    assert first == second
    assert refusals == 1 and proxy.fates["log_span"] == 1  # learned from the first refusal, never asked past again
    assert limits_of(proxy.url).log_span == 4 and indexer.sizer.span <= 4


def test_a_node_behind_a_hostile_provider_builds_the_same_index_as_one_on_the_raw_chain(
    busy_board: BoardHandle, ganache, tmp_path: Path, engine_name: str
):
    direct, _ = _index(_node(busy_board, tmp_path, "direct", ganache.url, _database(engine_name)))
    started = time.monotonic()
    with _proxy(ganache.url, HOSTILE) as proxy:
        behind, indexer = _index(_node(busy_board, tmp_path, "behind", proxy.url, _database(engine_name)))
    assert behind == direct
    assert len(behind["posts"]) == POSTS + REPLIES
    fates = proxy.fates
    assert all(fates[f] for f in ("429", "503", "502", "reset", "batch_refused", "log_results")), fates
    assert indexer.health.caught_up and indexer.health.behind == 0
    assert time.monotonic() - started < 120


def test_a_node_joining_through_a_hostile_provider_finds_the_board_and_builds_the_same_index(
    busy_board: BoardHandle, ganache, tmp_path: Path
):
    engine_name = "sqlite"  # the engine cannot matter to joining; the test above runs both
    direct, _ = _index(_node(busy_board, tmp_path, "direct", ganache.url, _database(engine_name)))
    address = busy_board.deployment.address
    with _proxy(ganache.url, HOSTILE) as proxy:
        settings = _node(busy_board, tmp_path, "joiner", proxy.url, _database(engine_name), contract_address=address)
        joined, indexer = _index(settings)
    assert indexer.deployment is not None and indexer.deployment.joined
    assert indexer.deployment.block_number == busy_board.deployment.block_number
    assert joined == direct
    assert "eth_getCode" in proxy.methods()


def test_status_says_the_node_is_throttled_and_how_far_behind_it_is(
    busy_board: BoardHandle, ganache, tmp_path, make_client
):
    behaviour = Behaviour(rate_429=0.5, retry_after="1", log_results=3)
    with _proxy(ganache.url, behaviour) as proxy:
        client = make_client(_node(busy_board, tmp_path, "throttled", proxy.url, ""))
        seen: dict[str, object] = {}

        def throttled_and_behind() -> bool:
            index = client.get("/api/status").json()["index"]
            indexer = index["indexer"]
            assert index["provider"] == (indexer or {}).get("provider")  # the same, for a process without one
            seen.update(indexer or {})
            return bool(indexer and indexer["provider"] and indexer["provider"]["throttled"] and indexer["behind"])

        wait_for(throttled_and_behind, timeout=60, what="status to show throttling while behind")
        assert seen["finality"] == "head minus 0 confirmations"
        page = client.get("/status").text
        assert "throttled (HTTP 429)" in page and 'id="behind"' in page


def test_the_relayer_and_the_nonce_route_work_through_a_hostile_provider(w3: Web3, tmp_path: Path, make_client):
    board = deploy_board(w3, tmp_path / "data")
    signer = Account.from_key(sha256(b"provider limits relay signer"))
    with _proxy(board_url(w3), HOSTILE) as proxy:
        client = make_client(make_settings(tmp_path / "data", proxy.url, f"sqlite:///{tmp_path / 'index.sqlite3'}"))
        digest = _pin(client, "Through a provider", "relayed, throttled, retried")
        response = relay(client, "post", signed_post(board, signer, digest))
        assert response.status_code == 200, response.text
        post_id = board.contract.events.PostCreated().process_receipt(
            w3.eth.wait_for_transaction_receipt(response.json()["tx_hash"]), errors=DISCARD
        )[0]["args"]["postId"]
        vote = relay(client, "vote", signed_vote(board, signer, post_id, 1))
        assert vote.status_code == 200, vote.text
        w3.eth.wait_for_transaction_receipt(vote.json()["tx_hash"])
        wait_for(lambda: client.get(f"/api/posts/{post_id}").json()["post"]["upvotes"] == 1, timeout=60,
                 what="the relayed post and vote in the index", ignore=(KeyError,))  # fmt: skip
        assert client.get(f"/api/nonces/{signer.address}").json()["nonce"] == 2
        methods = proxy.methods()  # on the dev chain the relayer is the node's unlocked account 1
        assert "eth_estimateGas" in methods and methods & {"eth_sendRawTransaction", "eth_sendTransaction"}
        assert all(proxy.fates[f] for f in ("429", "503", "502", "reset")), proxy.fates
    assert client.get(f"/api/posts/{post_id}").json()["post"]["title"] == "Through a provider"
