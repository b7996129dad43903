"""Seed an Anvil chain with a million Board events fast: EIP-712 signatures made directly, many per block.

``bench/index.py`` seeds Ganache through eth_account (4 ms a signature) and one 150-item ``batch()`` a
block: 20,002 events took 310 s. Here the domain separator and type hashes are computed once, each item's
digest is two keccaks and the signature one coincurve call (~45 us an item), in worker processes, while
Anvil (revm, far faster than Ganache) mines. The first two batches (all posts; then posts, replies and
votes) are also built through ``backend.eip712`` and web3's ABI encoder and must come out byte for byte the
same, so the signatures are the real ones; the contract checks every one anyway (a bad signature reverts its
batch, and the seeding stops).

Every signed item emits two events: a post ``PostCreated`` + ``NonceUsed``, a vote ``VoteCast`` +
``NonceUsed``. The mix is bench/index.py's: 35% posts (40% of them top level, the rest replies), 65% votes
(up, up, down, retract), from ``SIGNERS`` signers; replies and votes favour recent posts.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import coincurve
import httpx
from eth_hash.auto import keccak
from eth_utils.address import to_checksum_address

from backend.content.cid import sha256
from backend.eip712 import domain_separator, sign, split_signature

SIGNERS = 5000
ITEMS_PER_BATCH = 250  # signed items per batch() transaction (~16 M gas)
BATCHES_PER_BLOCK = 2  # batch() transactions mined in one block: 1,000 events a block
DEADLINE = 2**40
POST_SHARE, TOP_LEVEL_SHARE, RECENT_SHARE, RECENT_POSTS = 0.35, 0.4, 0.7, 5000
DIRECTIONS = (1, 1, -1, 0)
CHECKED_BATCHES = 2  # made the slow, trusted way too: the first is all posts, the second has votes
GAS_PER_ITEM = 140_000  # more than any item costs (a first-time signer's reply: ~95,000)

POST_TYPEHASH = keccak(
    b"Post(address author,bytes32 digest,uint256 parentId,bytes32 parentDigest,uint256 nonce,uint256 deadline)"
)
VOTE_TYPEHASH = keccak(
    b"Vote(address voter,uint256 postId,bytes32 postDigest,int8 direction,uint256 nonce,uint256 deadline)"
)
_POST_TUPLE = "(address,bytes32,uint256,bytes32,uint256,uint256,uint8,bytes32,bytes32)"
_VOTE_TUPLE = "(address,uint256,bytes32,int8,uint256,uint256,uint8,bytes32,bytes32)"
BATCH_SELECTOR = keccak(f"batch({_POST_TUPLE}[],{_VOTE_TUPLE}[])".encode())[:4]
_ITEM_BYTES = 9 * 32  # both structs are nine static words

# (signer index, digest, parent id, parent digest, nonce) and (signer index, post id, post digest, direction, nonce)
PostItem = tuple[int, bytes, int, bytes, int]
VoteItem = tuple[int, int, bytes, int, int]


def signer_key(index: int) -> bytes:
    """The private key of seeding signer ``index`` (deterministic)."""
    return sha256(f"seed signer {index}".encode())


def post_digest(post_id: int) -> bytes:
    """The content digest the seeding gives post ``post_id`` (zero for 0, a top-level post's parent)."""
    return sha256(f"post {post_id}".encode()) if post_id else bytes(32)


def _word(value: int) -> bytes:
    return (value % 2**256).to_bytes(32, "big")  # int8 -1 is sign-extended, as the ABI and EIP-712 encode it


class FastSigner:
    """Board's EIP-712 digests and signatures with everything constant computed once."""

    def __init__(self, chain_id: int, contract: str, signers: int = SIGNERS) -> None:
        self.prefix = b"\x19\x01" + domain_separator(chain_id, contract)
        self.keys = [coincurve.PrivateKey(signer_key(i)) for i in range(signers)]
        self.addresses = [
            keccak(key.public_key.format(compressed=False)[1:])[-20:].rjust(32, b"\0") for key in self.keys
        ]

    def address(self, index: int) -> str:
        """Signer ``index``'s checksum address."""
        return to_checksum_address(self.addresses[index][12:])

    def _signed(self, index: int, struct: bytes) -> bytes:
        """v, r, s as three ABI words for the EIP-712 digest of ``struct``."""
        signature = self.keys[index].sign_recoverable(keccak(self.prefix + keccak(struct)), hasher=None)
        return _word(signature[64] + 27) + signature[:64]  # libsecp256k1 signs with a low s

    def post(self, item: PostItem) -> bytes:
        """The ABI encoding of one SignedPost."""
        index, digest, parent, parent_digest, nonce = item
        fields = self.addresses[index] + digest + _word(parent) + parent_digest + _word(nonce) + _word(DEADLINE)
        return fields + self._signed(index, POST_TYPEHASH + fields)

    def vote(self, item: VoteItem) -> bytes:
        """The ABI encoding of one SignedVote."""
        index, post_id, digest, direction, nonce = item
        fields = self.addresses[index] + _word(post_id) + digest + _word(direction) + _word(nonce) + _word(DEADLINE)
        return fields + self._signed(index, VOTE_TYPEHASH + fields)

    def calldata(self, posts: list[PostItem], votes: list[VoteItem]) -> bytes:
        """``batch(posts, votes)``'s calldata: selector, two offsets, then each array's length and items."""
        votes_at = 64 + 32 + _ITEM_BYTES * len(posts)
        return b"".join(
            [
                BATCH_SELECTOR,
                _word(64),
                _word(votes_at),
                _word(len(posts)),
                *map(self.post, posts),
                _word(len(votes)),
                *map(self.vote, votes),
            ]
        )


def reference_calldata(board: Any, chain_id: int, posts: list[PostItem], votes: list[VoteItem]) -> bytes:
    """The same calldata made the slow, trusted way: ``backend.eip712.sign`` (eth_account) and web3's encoder."""
    from eth_account import Account

    def signed(index: int, kind: str, message: dict[str, Any]) -> tuple[int, bytes, bytes]:
        return split_signature(sign(Account.from_key(signer_key(index)), kind, message, chain_id, board.address))

    post_args, vote_args = [], []
    for index, digest, parent, parent_digest, nonce in posts:
        author = to_checksum_address(keccak(coincurve.PrivateKey(signer_key(index)).public_key.format(False)[1:])[-20:])
        message = {"author": author, "digest": digest, "parentId": parent, "parentDigest": parent_digest,
                   "nonce": nonce, "deadline": DEADLINE}  # fmt: skip
        post_args.append((author, digest, parent, parent_digest, nonce, DEADLINE, *signed(index, "post", message)))
    for index, post_id, digest, direction, nonce in votes:
        voter = to_checksum_address(keccak(coincurve.PrivateKey(signer_key(index)).public_key.format(False)[1:])[-20:])
        message = {"voter": voter, "postId": post_id, "postDigest": digest, "direction": direction,
                   "nonce": nonce, "deadline": DEADLINE}  # fmt: skip
        vote_args.append((voter, post_id, digest, direction, nonce, DEADLINE, *signed(index, "vote", message)))
    return bytes.fromhex(board.encode_abi("batch", [post_args, vote_args]).removeprefix("0x"))


@dataclass
class Planner:
    """What each batch holds: posts (replies to recent posts mostly) and votes, each signer's nonces in order."""

    items: int
    signers: int = SIGNERS
    seed: int = 7
    made: int = 0
    posts: int = 0
    rng: random.Random = field(init=False)
    nonces: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.nonces = [0] * self.signers

    def _signer(self) -> tuple[int, int]:
        index = self.rng.randrange(self.signers)
        nonce, self.nonces[index] = self.nonces[index], self.nonces[index] + 1
        return index, nonce

    def _target(self) -> int:
        """An existing post: one of the newest ``RECENT_POSTS`` most of the time, any post otherwise."""
        if self.rng.random() < RECENT_SHARE:
            return self.rng.randint(max(1, self.posts - RECENT_POSTS + 1), self.posts)
        return self.rng.randint(1, self.posts)

    def batches(self) -> Iterator[tuple[list[PostItem], list[VoteItem]]]:
        """Batches until ``items`` signed items are planned (a batch applies its posts before its votes)."""
        while self.made < self.items:
            size = min(ITEMS_PER_BATCH, self.items - self.made)
            n_posts = size if self.posts == 0 else sum(self.rng.random() < POST_SHARE for _ in range(size))
            posts: list[PostItem] = []
            for _ in range(n_posts):
                index, nonce = self._signer()
                parent = 0 if self.posts == 0 or self.rng.random() < TOP_LEVEL_SHARE else self._target()
                self.posts += 1
                posts.append((index, post_digest(self.posts), parent, post_digest(parent), nonce))
            votes: list[VoteItem] = []
            for _ in range(size - n_posts):
                index, nonce = self._signer()
                post_id = self._target()
                votes.append((index, post_id, post_digest(post_id), self.rng.choice(DIRECTIONS), nonce))
            self.made += size
            yield posts, votes


_worker: FastSigner | None = None


def _init_worker(chain_id: int, contract: str) -> None:
    global _worker
    _worker = FastSigner(chain_id, contract)


def _sign_batch(batch: tuple[list[PostItem], list[VoteItem]]) -> bytes:
    assert _worker is not None
    return _worker.calldata(*batch)


class JsonRpc:
    """Plain JSON-RPC over one keep-alive connection, with batches (web3's per-call overhead is not needed here)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=600)
        self._id = 0

    def calls(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of ``calls`` sent as one batch, in order; RuntimeError on any error."""
        body = []
        for method, params in calls:
            self._id += 1
            body.append({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        answers = {answer["id"]: answer for answer in self.client.post(self.url, json=body).raise_for_status().json()}
        results = []
        for request in body:
            answer = answers[request["id"]]
            if "error" in answer:
                raise RuntimeError(f"{request['method']}: {answer['error']}")
            results.append(answer["result"])
        return results

    def call(self, method: str, *params: Any) -> Any:
        """One call's result."""
        return self.calls([(method, list(params))])[0]

    def close(self) -> None:
        """Close the connection."""
        self.client.close()


@dataclass
class Seeded:
    """What a seeding made: events in all, events per mined block (block number -> logs), seconds."""

    events: int
    items: int
    posts: int
    per_block: dict[int, int]
    seconds: float
    checked_items: int


def seed(url: str, board: Any, events_wanted: int, workers: int = 2, progress: bool = True) -> Seeded:
    """Mine ``batch()`` transactions on the Anvil at ``url`` (automine off) until ``events_wanted`` events exist."""
    rpc = JsonRpc(url)
    started = time.perf_counter()
    chain_id = int(rpc.call("eth_chainId"), 16)
    sender = rpc.call("eth_accounts")[0]
    rpc.call("evm_setAutomine", False)
    planner = Planner(items=events_wanted // 2 + events_wanted % 2)
    plan = planner.batches()
    fast = FastSigner(chain_id, board.address)
    pending: list[bytes] = []
    checked = 0
    for first in itertools.islice(plan, CHECKED_BATCHES):  # all posts, then posts, replies and votes
        pending.append(fast.calldata(*first))
        if pending[-1] != reference_calldata(board, chain_id, *first):
            raise RuntimeError("the fast signer's batch differs from backend.eip712 + web3's encoding")
        checked += len(first[0]) + len(first[1])
    per_block: dict[int, int] = {}
    events = 0

    def mine(calldatas: list[bytes]) -> None:
        nonlocal events
        hashes = rpc.calls(
            [
                ("eth_sendTransaction", [{"from": sender, "to": board.address, "data": "0x" + data.hex(),
                                         "gas": hex(GAS_PER_ITEM * ((len(data) - 100) // _ITEM_BYTES) + 500_000)}])
                for data in calldatas
            ]
        )  # fmt: skip
        rpc.call("evm_mine")
        for receipt in rpc.calls([("eth_getTransactionReceipt", [tx]) for tx in hashes]):
            if receipt is None or receipt["status"] != "0x1":
                raise RuntimeError(f"a seeding batch was not mined or reverted: {receipt and receipt['status']}")
            block = int(receipt["blockNumber"], 16)
            per_block[block] = per_block.get(block, 0) + len(receipt["logs"])
            events += len(receipt["logs"])

    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(chain_id, board.address)) as pool:
        last_report = time.monotonic()
        if len(pending) >= BATCHES_PER_BLOCK:
            mine(pending)
            pending = []
        for calldata in pool.imap(_sign_batch, plan, chunksize=1):
            pending.append(calldata)
            if len(pending) == BATCHES_PER_BLOCK:
                mine(pending)
                pending = []
            if progress and time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                elapsed = time.perf_counter() - started
                print(f"seeded {events:,} events in {elapsed:.0f} s ({events / elapsed:,.0f}/s)", flush=True)
        if pending:
            mine(pending)
    rpc.call("evm_setAutomine", True)
    rpc.close()
    return Seeded(events, planner.made, planner.posts, per_block, time.perf_counter() - started, checked)
