"""Nonces: each signer's (the contract's, or after our pending relay of theirs) and the relayer's own tx nonce.

What the relayer sent is recorded in the shared store (keys from ``backend.relay.budget``), so every
instance, and ``/api/nonces`` without asking the node, sees the nonce after a pending relayed action.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.contract import Contract

from backend.limits import Limits
from backend.relay.budget import PENDING_TTL, TX_NONCE_TTL, Budget, pending_key, tx_nonce_key
from backend.relay.checks import SignedAction
from backend.relay.errors import RelayError
from backend.relay.node import batch, knows

Snapshot = dict[str, Any]  # the pending entries read while checking, compared again under the send lock


def pending_nonce(limits: Limits, board: str, signer: str) -> tuple[int, str] | None:
    """The nonce after the relayer's last relayed action of ``signer``, and its tx, as recorded (no node asked)."""
    key = pending_key(board, signer)
    entry = limits.get([key]).get(key)
    return None if entry is None else (int(entry["nonce"]), str(entry["tx"]))


def signers_of(actions: list[SignedAction]) -> list[str]:
    """The distinct signers of ``actions``, in order."""
    return list(dict.fromkeys(action.signer for action in actions))


def pending_keys(board: str, actions: list[SignedAction]) -> list[str]:
    """The pending-entry keys of the signers of ``actions``."""
    return [pending_key(board, signer) for signer in signers_of(actions)]


def check_nonces(
    w3: Web3, board: Contract, budget: Budget, actions: list[SignedAction]
) -> tuple[Snapshot, dict[str, int]]:
    """Each action's nonce must follow the signer's chain nonce, or the nonce after our pending tx of theirs.

    Returns the pending entries read (rechecked under the send lock) and the signers whose nonce
    must be overridden to simulate (their pending nonce is ahead of the chain's).
    """
    signers = signers_of(actions)
    snapshot = budget.limits.get(pending_key(board.address, signer) for signer in signers)
    requests: list[tuple[str, Any]] = [
        ("eth_call", [{"to": board.address, "data": _nonces_data(board, signer)}, "latest"]) for signer in signers
    ]
    pending_hashes = [entry["tx"] for entry in snapshot.values()]
    requests += [("eth_getTransactionByHash", [tx]) for tx in pending_hashes]
    results = batch(w3, requests)  # one round trip for every signer
    if any(result is None for result in results[: len(signers)]):
        raise RelayError("the node did not answer the signers' nonces", status_code=502)
    chain = {signer: int(result, 16) for signer, result in zip(signers, results, strict=False)}
    in_pool = {tx: found for tx, found in zip(pending_hashes, results[len(signers) :], strict=True)}
    expected = dict(chain)
    overrides: dict[str, int] = {}
    dropped: dict[str, Any] = {}  # pending entries whose tx the node no longer knows
    for signer in signers:
        key = pending_key(board.address, signer)
        entry = snapshot.get(key)
        found = in_pool.get(entry["tx"]) if entry else None
        if entry and found is None:
            dropped[key] = entry
        if entry and found is not None and found.get("blockNumber") is None and entry["nonce"] > chain[signer]:
            expected[signer] = overrides[signer] = int(entry["nonce"])
    for action in actions:
        want = expected[action.signer]
        if action.nonce != want:
            # /api/nonces trusts pending entries it cannot check: one that misled this signer goes now
            _forget_dropped(budget, dropped)
            detail = f"{action.prefix}invalid nonce for {action.signer}: expected {want}, got {action.nonce}"
            refused = RelayError(detail, permanent=action.nonce < chain[action.signer])
            budget.remember_refused(action.digest, action.signature, action.prefix, refused)
            raise refused
        expected[action.signer] += 1
    return snapshot, overrides


def record_sent(
    limits: Limits, board: str, chain_id: int, sender: str, actions: list[SignedAction], tx: str, nonce: int
) -> None:
    """After a send (under the lock): the relayer's last tx nonce, and each signer's next nonce while it is pending."""
    limits.put({tx_nonce_key(chain_id, sender): {"nonce": nonce, "tx": tx}}, ttl=TX_NONCE_TTL)
    next_nonces: dict[str, int] = {}
    for action in actions:
        next_nonces[action.signer] = action.nonce + 1
    limits.put({pending_key(board, s): {"nonce": n, "tx": tx} for s, n in next_nonces.items()}, PENDING_TTL)


def next_tx_nonce(w3: Web3, limits: Limits, chain_id: int, sender: str) -> int:
    """The relayer's next tx nonce: the node's pending count, or one past our last send if the node skipped it.

    Ganache 7 leaves its pool out of the "pending" count, so two sends before a
    block would share a nonce; a last send the node no longer knows (dropped, or
    a replaced dev chain) must not leave a gap, so then the node's count wins.
    The last send is kept in the shared store, so every instance sees it.
    """
    pending = w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "pending")
    key = tx_nonce_key(chain_id, sender)
    last = limits.get([key]).get(key)
    if last is not None and last["nonce"] >= pending and knows(w3, last["tx"]):
        return int(last["nonce"]) + 1
    return pending


def _forget_dropped(budget: Budget, entries: dict[str, Any]) -> None:
    """Forget pending entries of txs the node dropped (or a reorg removed), unless replaced meanwhile."""
    if not entries:
        return
    with budget.send_lock():
        current = budget.limits.get(entries)
        budget.limits.forget(key for key, entry in entries.items() if current.get(key) == entry)


def _nonces_data(board: Contract, signer: str) -> str:
    return str(board.functions.nonces(signer)._encode_transaction_data())
