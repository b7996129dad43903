"""Sending a transaction, and sending again the ones that did not land.

A relayed transaction can stall on a real fee market: the base fee rises past what it offered
(stuck in the pool), or the node drops it (then every later nonce of the relayer waits behind the
gap). ``resend`` runs under the send lock (``Relayer.upkeep``, from the web process's node-watching
thread): each unmined send older than ``STUCK_AFTER`` that pays less than the next block needs, and
each send the node no longer knows whose nonce is not mined yet, is sent again at its own nonce with
the fees of now, at least ``fees.BUMP`` times its old ones and never above the policy's cap. A dropped
send is sent again when its fee was too low (nodes evict those) or a later one waits behind its nonce
(a gap); the last one dropped with a fee that was enough (a reorganisation took it) is left: the next
send takes its nonce, and its signers sign again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception

from backend.relay.budget import Budget
from backend.relay.errors import ContractErrors, RelayError
from backend.relay.fees import Head, bumped
from backend.relay.node import batch

_FEE_KEYS = ("gasPrice", "maxFeePerGas", "maxPriorityFeePerGas")
STUCK_AFTER = 30.0  # seconds an unmined send may wait before its fee is checked against the next block's


def transmit(w3: Web3, account: LocalAccount | None, tx: dict[str, Any], errors: ContractErrors) -> str:
    """Send ``tx`` (signed here with ``account``, else by the node's unlocked ``from``); its hash, or RelayError."""
    try:
        if account is None:
            tx_hash = bytes(w3.eth.send_transaction(tx))  # type: ignore[arg-type]
        else:
            unsigned = {key: value for key, value in tx.items() if key != "from"}
            signed = account.sign_transaction({**unsigned, "chainId": w3.eth.chain_id})
            tx_hash = bytes(w3.eth.send_raw_transaction(signed.raw_transaction))
    except ContractCustomError as exc:  # the chain moved between simulation and sending
        raise errors.refusal(exc) from exc
    except (ContractLogicError, Web3Exception, ValueError) as exc:
        if "insufficient funds" in str(exc):  # geth, anvil and Ganache all say it so
            raise RelayError(f"relayer {tx['from']} cannot pay for gas: fund it", status_code=503) from exc
        raise RelayError(f"the node refused the transaction: {exc}", status_code=502) from exc
    return Web3.to_hex(tx_hash)


def resend(w3: Web3, budget: Budget, head: Head, cap: int, send: Callable[[dict[str, Any]], str]) -> list[str]:
    """Send again, at their nonces, the sends stuck under the base fee or dropped before a gap; the new hashes."""
    entries = budget.unsettled()
    if not entries:
        return []
    sender = entries[0]["sender"]
    mined = w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest")
    found = batch(w3, [("eth_getTransactionByHash", [entry["tx"]]) for entry in entries])
    sent = [(entry, known, budget.sent_tx(entry["tx"])) for entry, known in zip(entries, found, strict=True)]
    waiting = [f["nonce"] for _, known, f in sent if f is not None and known is not None and f["nonce"] >= mined]
    resent = []
    for entry, known, fields in sent:
        if fields is None or fields["nonce"] < mined or (known is not None and known.get("blockNumber") is not None):
            continue  # mined (settled next time), or a record we cannot rebuild
        fees: dict[str, int] = {key: int(fields[key]) for key in _FEE_KEYS if key in fields}
        priced_out = fees.get("gasPrice", fees.get("maxFeePerGas", 0)) < head.fee
        if known is not None and not (priced_out and time.time() - entry["at"] >= STUCK_AFTER):
            continue  # in the pool and payable: it waits its turn
        if known is None and not priced_out and not any(nonce > fields["nonce"] for nonce in waiting):
            continue  # dropped though it paid enough, nothing behind it (a reorg): the next send takes its nonce
        new_fees = bumped(fees, head, cap)
        if known is None and not priced_out:  # a gap: any fee the node takes fills it, a bumped one if the cap allows
            new_fees = new_fees or fees
        if new_fees is None:
            continue  # at the fee cap: it waits for the base fee to fall
        unpaid = {key: value for key, value in fields.items() if key not in fees}
        tx = send({**unpaid, **new_fees, "from": sender})
        budget.replaced(entry, tx, {**unpaid, **new_fees})
        resent.append(tx)
    return resent
