"""What N sleeper accounts cost under the default lens (docs/ranking.md): gas measured on Ganache, relay limits read.

A sleeper is an address whose first activity (a post, or a vote of direction +1 or -1) is in a block before the
post it later votes on. Run from the repository root with the project environment exported:

    python bench/sleepers.py

It starts its own Ganache on a free port (stopped on exit), deploys Board from the compiled artifact, makes
sleepers the cheapest ways a stranger can, measures each from its receipt, prints a table and writes it to
docs/benchmarks.md under "## Sleepers (bench/sleepers.py)".
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import Nonce, TxParams, Wei

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.config import Settings  # noqa: E402
from backend.deployments.records import board as board_contract  # noqa: E402
from backend.devchain import Ganache, deploy_board, free_port  # noqa: E402
from backend.eip712 import sign, split_signature  # noqa: E402
from bench.benchdocs import write_section  # noqa: E402

HEADING = "## Sleepers (bench/sleepers.py)"
COMMAND = "python bench/sleepers.py"
BATCH = 20
GWEI = 10**9


def _keys(label: str, n: int) -> list[LocalAccount]:
    return [Account.from_key(keccak(text=f"sleeper {label} {i}")) for i in range(n)]


def measure() -> dict[str, float]:
    """Gas per sleeper: funded key voting itself, and signed votes of fresh keys batched by one payer."""
    with Ganache(free_port()) as node, tempfile.TemporaryDirectory() as data:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        payer = w3.eth.accounts[0]
        deployment = deploy_board(w3, Path(data))
        board = board_contract(w3, deployment)
        digest = keccak(b"any older post")
        w3.eth.wait_for_transaction_receipt(board.functions.post(digest, 0, bytes(32)).transact({"from": payer}))
        w3.eth.wait_for_transaction_receipt(board.functions.vote(1, digest, 1).transact({"from": payer}))

        funded = []
        for key in _keys("funded", 5):
            fund = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_transaction({"from": payer, "to": key.address, "value": Wei(10**16)})
            )
            params: TxParams = {"from": key.address, "nonce": Nonce(0), "gas": 200_000, "chainId": w3.eth.chain_id}
            tx = board.functions.vote(1, digest, -1).build_transaction(params)
            vote = w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(key.sign_transaction(cast(dict[str, Any], tx)).raw_transaction)
            )
            assert vote["status"] == 1
            funded.append((int(fund["gasUsed"]), int(vote["gasUsed"])))

        items = []
        deadline = int(time.time()) + 3600
        for key in _keys("batched", BATCH):
            message = {
                "voter": key.address, "postId": 1, "postDigest": "0x" + digest.hex(), "direction": -1, "nonce": 0,
                "deadline": deadline,
            }  # fmt: skip
            v, r, s = split_signature(sign(key, "vote", message, w3.eth.chain_id, deployment.address))
            items.append((key.address, 1, digest, -1, 0, deadline, v, r, s))
        batch = w3.eth.wait_for_transaction_receipt(board.functions.batch([], items).transact({"from": payer}))
        assert batch["status"] == 1
    fund_gas = sum(f for f, _ in funded) / len(funded)
    vote_gas = sum(v for _, v in funded) / len(funded)
    return {"fund": fund_gas, "vote": vote_gas, "batched": int(batch["gasUsed"]) / BATCH}


def render(gas: dict[str, float], settings: Settings) -> str:
    per_hour = settings.relay_new_signers_per_hour
    per_day = 24 * per_hour + per_hour  # GCRA: a full bucket at the start, then one every 60/per_hour minutes
    budget_hour = settings.relay_gas_per_hour
    relayed_vote = gas["batched"]
    funded = gas["fund"] + gas["vote"]
    rows = [
        ("self-funded: fund a fresh key (transfer), then its own vote", f"{funded:,.0f} gas",
         f"{gas['fund']:,.0f} + {gas['vote']:,.0f}"),
        (f"self-funded: {BATCH} fresh keys' signed votes in one batch, one payer", f"{relayed_vote:,.0f} gas each",
         "no transfer: the keys never hold ether"),
        ("N = 5 sleepers (fold a post with no upvotes at -5), batched", f"{5 * relayed_vote:,.0f} gas",
         f"{5 * relayed_vote * GWEI / 1e18:.5f} ETH at 1 gwei, {5 * relayed_vote * 30 * GWEI / 1e18:.4f} at 30"),
        ("N = 100 sleepers, batched", f"{100 * relayed_vote:,.0f} gas",
         f"{100 * relayed_vote * GWEI / 1e18:.4f} ETH at 1 gwei, {100 * relayed_vote * 30 * GWEI / 1e18:.3f} at 30"),
        ("through the relay, per client address (or IPv6 /64)", f"{per_hour} an hour, {per_day} the first day",
         f"INDELIBLE_RELAY_NEW_SIGNERS_PER_HOUR={per_hour}; {24 * per_hour} a day after"),
        ("through the relay, all clients together", f"~{budget_hour / relayed_vote:,.0f} an hour",
         f"INDELIBLE_RELAY_GAS_PER_HOUR={budget_hour:,} / {relayed_vote:,.0f} gas a batched vote"),
    ]  # fmt: skip
    lines = [
        HEADING,
        "",
        "Measured on Ganache 7.9.2 (shanghai) from real receipts, relay limits at their defaults, with:",
        "",
        "```",
        COMMAND,
        "```",
        "",
        "| sleepers made | cost | how |",
        "| --- | ---: | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        "",
        "A sleeper is one post or one vote of direction +1/-1, in any block before the target post's; the default",
        "lens counts its later votes. docs/ranking.md says what this buys and what still folds a post.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    section = render(measure(), Settings())
    print(section)
    write_section(HEADING, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
