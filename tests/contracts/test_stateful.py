"""Random posts, replies and votes by many accounts, checked against a Python model after every step.

Wrong-target steps name an existing post by its id but with another digest (what a signer sees when a
reorganisation or a racing batch gave the id to another post): they are sent as real transactions, must
revert with ParentMismatch / PostMismatch, and the invariant then proves no post, tally or reply changed.
"""

from typing import ClassVar

from brownie import web3
from eth_utils import keccak
from hypothesis import strategies as st
from web3.exceptions import Web3RPCError

from tests.support.contracts import reverts_with

ACTORS = 8
STEPS = 30
# hypothesis 6.27 may spend early examples on deliberately short runs, so we demand 50 of full
# length after the run. Derandomized, so the count and the runtime are the same on every run
# (measured: 64 examples, 63 of them 30 steps long, ~100 s) instead of a coin toss near 50.
EXAMPLES = 64
FULL_LENGTH_EXAMPLES = 50
# valid steps go through plain web3 with a fixed gas limit, and expected reverts are eth_calls:
# several times faster than brownie's estimate-send-trace round trips
TX = {"gas": 300_000, "gasPrice": 2 * 10**9}


class BoardModel:
    """Rules drive the Board; the model says what it must hold."""

    actor = st.integers(min_value=0, max_value=ACTORS - 1)
    digest = st.binary(min_size=32, max_size=32).filter(any)
    # reduced modulo (posts + 2): mostly existing ids, sometimes 0 or the next, missing id
    pick = st.integers(min_value=0, max_value=2**16)
    direction = st.sampled_from([-1, 0, 1])
    steps_per_example: ClassVar[list[int]] = []
    wrong_targets: ClassVar[list[str]] = []  # the wrong-target transactions sent, for the run's report

    def __init__(cls, board, accounts):
        cls.board = board
        cls.contract = web3.eth.contract(address=board.address, abi=board.abi)
        cls.accounts = accounts[1 : 1 + ACTORS]

    def setup(self):
        self.posts = []  # (author, parentId, digest) by id - 1
        self.votes = {}  # (postId, voter) -> direction
        self.seen_count = 0
        self.steps = 0

    def teardown(self):
        self.steps_per_example.append(self.steps)

    def rule_post(self, author="actor", digest="digest"):
        self._post(author, digest, 0)

    def rule_reply(self, author="actor", digest="digest", parent="pick"):
        self._post(author, digest, parent % (len(self.posts) + 2))

    def rule_vote(self, voter="actor", post_id="pick", direction="direction"):
        self.steps += 1
        account = self.accounts[voter]
        post_id %= len(self.posts) + 2
        if not 1 <= post_id <= len(self.posts):
            with reverts_with("PostNotFound", post_id):
                self.board.vote.call(post_id, "0x" + "11" * 32, direction, {"from": account})
            return
        digest = self.posts[post_id - 1][2]
        self.votes[(post_id, account.address)] = direction
        up, down = self._tallies(post_id)
        receipt = self._transact(self.contract.functions.vote(post_id, digest, direction), account)
        (event,) = self.contract.events.VoteCast().process_receipt(receipt)
        assert dict(event["args"]) == {
            "postId": post_id,
            "voter": account.address,
            "direction": direction,
            "upvotes": up,
            "downvotes": down,
        }

    def rule_vote_on_a_post_with_another_digest(self, voter="actor", pick="pick", direction="direction", seen="digest"):
        self.steps += 1
        if not self.posts:
            return
        post_id = 1 + pick % len(self.posts)
        stored, given = self.posts[post_id - 1][2], self._another_digest(post_id, seen)
        account = self.accounts[voter]
        with reverts_with("PostMismatch", post_id, stored, given):
            self.board.vote.call(post_id, given, direction, {"from": account})
        self._transact_reverted(self.contract.functions.vote(post_id, given, direction), account)
        self.wrong_targets.append("vote")

    def rule_reply_to_a_post_with_another_digest(self, author="actor", digest="digest", pick="pick", seen="digest"):
        self.steps += 1
        # with no post yet, the only id is 0: a top-level post must name the zero digest
        parent_id = 1 + pick % len(self.posts) if self.posts else 0
        stored = self.posts[parent_id - 1][2] if parent_id else "0x" + "00" * 32
        given = self._another_digest(parent_id, seen)
        account = self.accounts[author]
        with reverts_with("ParentMismatch", parent_id, stored, given):
            self.board.post.call("0x" + digest.hex(), parent_id, given, {"from": account})
        self._transact_reverted(self.contract.functions.post(digest, parent_id, given), account)
        self.wrong_targets.append("reply")

    def invariant_count_grows_only_posts_never_change_and_tallies_sum_the_current_votes(self):
        # one JSON-RPC batch for the count and every post keeps a 30-step example fast
        with web3.batch_requests() as batch:
            batch.add(self.contract.functions.postCount())
            for post_id in range(1, len(self.posts) + 1):
                batch.add(self.contract.functions.getPost(post_id))
            count, *stored = batch.execute()
        assert count == len(self.posts) >= self.seen_count
        self.seen_count = count
        for post_id, ((author, parent_id, digest), onchain) in enumerate(zip(self.posts, stored, strict=True), 1):
            assert (onchain[0], onchain[1], "0x" + onchain[2].hex()) == (author, parent_id, digest)
            assert (onchain[4], onchain[5]) == self._tallies(post_id)

    def _post(self, author_index, digest, parent_id):
        self.steps += 1
        account = self.accounts[author_index]
        hex_digest = "0x" + digest.hex()
        if parent_id > len(self.posts):
            with reverts_with("ParentNotFound", parent_id):
                self.board.post.call(hex_digest, parent_id, "0x" + "11" * 32, {"from": account})
            return
        parent_digest = self.posts[parent_id - 1][2] if parent_id else "0x" + "00" * 32
        receipt = self._transact(self.contract.functions.post(digest, parent_id, parent_digest), account)
        self.posts.append((account.address, parent_id, hex_digest))
        (event,) = self.contract.events.PostCreated().process_receipt(receipt)
        assert event["args"]["postId"] == len(self.posts)

    def _transact(self, call, account):
        receipt = web3.eth.wait_for_transaction_receipt(call.transact({"from": account.address, **TX}))
        assert receipt["status"] == 1
        return receipt

    def _transact_reverted(self, call, account):
        """Send call as a real transaction that is mined and reverts (status 0)."""
        try:
            tx_hash = call.transact({"from": account.address, **TX})
        except Web3RPCError as exc:
            # brownie's Ganache answers a mined, reverted transaction with an error keyed by its hash
            (tx_hash,) = exc.rpc_response["error"]["data"].keys()
        receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 0

    def _another_digest(self, post_id, seen):
        """A digest the post at post_id does not have: another post's, or one hypothesis drew."""
        stored = self.posts[post_id - 1][2] if post_id else "0x" + "00" * 32
        candidates = [d for (_, _, d) in self.posts if d != stored] + ["0x" + seen.hex()]
        chosen = candidates[int.from_bytes(seen[:2], "big") % len(candidates)]
        return chosen if chosen != stored else "0x" + keccak(hexstr=stored).hex()

    def _tallies(self, post_id):
        directions = [d for (p, _), d in self.votes.items() if p == post_id]
        return directions.count(1), directions.count(-1)


def test_random_posts_replies_and_votes_keep_the_board_consistent(board, accounts, state_machine):
    BoardModel.steps_per_example.clear()
    BoardModel.wrong_targets.clear()
    state_machine(
        BoardModel,
        board,
        accounts,
        settings={"max_examples": EXAMPLES, "stateful_step_count": STEPS, "derandomize": True, "database": None},
    )
    full_length = sum(steps >= STEPS for steps in BoardModel.steps_per_example)
    wrong = BoardModel.wrong_targets
    print(f"{len(BoardModel.steps_per_example)} examples, {full_length} of {STEPS} steps")
    print(f"wrong-target transactions, all reverted: {wrong.count('vote')} votes, {wrong.count('reply')} replies")
    assert wrong.count("vote") >= 100 and wrong.count("reply") >= 100, "too few wrong-target steps ran"
    assert full_length >= FULL_LENGTH_EXAMPLES, BoardModel.steps_per_example
