"""The relayer: checks signed posts, votes and batches against its policy, then pays the gas to send them.

The relayer only pays gas: the contract recovers the signer from the signature
and refuses any altered field, so the relayer cannot change what was signed,
and anyone else may submit the same message. Before sending, we check what we
can cheaply (refusals remembered, deadline, signature, pinned content:
``checks``), then the policy (``budget``), then every signer's nonce in one
JSON-RPC batch (``nonces``), then simulate the call against the pending state
(``simulate``). Only choosing the tx nonce and sending hold a lock (across
processes). docs/architecture.md ("The relay") lists the steps.

The relayer account is ``INDELIBLE_RELAYER_KEY`` (a hex private key) when set,
else, on a dev chain, the node's unlocked account 1 (Ganache's second account).
It must hold ether: when it cannot pay for gas, relays answer 503 and send nothing.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from backend.content.pins import PinStore
from backend.limits import Limits
from backend.relay import nonces
from backend.relay.budget import Budget, Charge, Policy
from backend.relay.checks import SignedAction, check_item, items
from backend.relay.errors import RELAYER_KEY_ENV, ContractErrors, RelayError
from backend.relay.fees import Head, HeadCache, check_fee, fee_fields
from backend.relay.node import receipts
from backend.relay.resend import resend, transmit
from backend.relay.simulate import NonceSlot, simulate


class Relayer:
    """Checks signed actions against the policy and the chain, then sends them from the relayer account."""

    def __init__(
        self, w3: Web3, board: Contract, pins: PinStore, limits: Limits, policy: Policy, *, key: str | None = None
    ) -> None:
        self.w3 = w3
        self.board = board
        self.pins = pins
        self.limits = limits
        self.policy = policy
        self.chain_id = w3.eth.chain_id
        self.account: LocalAccount | None = Account.from_key(key) if key else None
        self._sender: str | None = None
        self.budget = Budget(limits, policy, self.chain_id, lambda: self.sender)
        self.errors = ContractErrors(board.abi)
        self.heads = HeadCache(w3)
        self.nonce_slot = NonceSlot(board)

    @property
    def sender(self) -> str:
        """The address that pays for relayed transactions."""
        if self.account is not None:
            return str(self.account.address)
        if self._sender is None:
            accounts = self.w3.eth.accounts
            if len(accounts) < 2:
                raise RelayError(f"no relayer account: set {RELAYER_KEY_ENV}", status_code=503)
            self._sender = str(accounts[1])
        return self._sender

    def head(self) -> Head:
        """The head block's time and the node's fees, cached for a second."""
        return self.heads.head()

    def relay(self, kind: str, body: dict[str, Any], client: str = "unknown") -> str:
        """Check and send one request body (``kind`` post, vote or batch) from ``client``; returns the tx hash."""
        budget = self.budget
        request_items = items(kind, body, self.chain_id, self.board.address)
        budget.refused_before((item.digest, item.signature, item.prefix) for item in request_items)
        head = self.head()
        check_fee(head, self.policy.max_fee_per_gas)
        actions: list[SignedAction] = []
        for item in request_items:
            try:
                actions.append(check_item(item, head.timestamp, self.pins))
            except RelayError as exc:
                budget.remember_refused(item.digest, item.signature, item.prefix, exc)
                raise
        taken: list[Charge] = []
        try:
            budget.check(actions, client, taken)
            snapshot, overrides = nonces.check_nonces(self.w3, self.board, budget, actions)
            call = self._call(kind, actions)
            gas = simulate(call, self.sender, overrides, len(actions), self.nonce_slot, self.errors)
            shares = budget.charge(actions, gas, taken)
            # settled once mined: a send charged at the fixed bound gets back what it did not use
            tx = self._send(call, (gas, shares, bool(overrides)), head, actions, snapshot, client)
        except RelayError:
            budget.refund(taken)
            raise
        budget.mark_seen(nonces.signers_of(actions))
        return tx

    def explain(self, data: bytes) -> str:
        """A sentence for the contract's revert data."""
        return self.errors.explain(data)

    def _call(self, kind: str, actions: list[SignedAction]) -> Any:
        if kind == "batch":
            posts = [a.struct for a in actions if a.kind == "post"]
            votes = [a.struct for a in actions if a.kind == "vote"]
            return self.board.functions.batch(posts, votes)
        return getattr(self.board.functions, "postBySig" if kind == "post" else "voteBySig")(actions[0].struct)

    def _send(
        self,
        call: Any,
        charged: tuple[int, dict[str, int], bool],
        head: Head,
        actions: list[SignedAction],
        snapshot: nonces.Snapshot,
        client: str,
    ) -> str:
        """Under the relayer's lock (across instances): recheck pending nonces, choose the tx nonce, send, record."""
        with self.budget.send_lock():
            if self.limits.get(nonces.pending_keys(self.board.address, actions)) != snapshot:
                raise RelayError(
                    "another action by the same signer was relayed meanwhile: fetch the nonce and sign again",
                    status_code=409,
                )
            self.budget.settle(lambda txs: receipts(self.w3, txs))
            # a send that reverted since the first look refuses its items: these may be some of them
            self.budget.refused_before((a.digest, a.signature, a.prefix) for a in actions)
            gas, shares, bound = charged
            nonce = nonces.next_tx_nonce(self.w3, self.limits, self.chain_id, self.sender)
            fees = fee_fields(head, self.policy.max_fee_per_gas)
            data = call._encode_transaction_data()
            tx = {"from": self.sender, "to": self.board.address, "data": data, "nonce": nonce, "gas": gas, **fees}
            tx_hex = transmit(self.w3, self.account, tx, self.errors)
            nonces.record_sent(self.limits, self.board.address, self.chain_id, self.sender, actions, tx_hex, nonce)
            self.budget.add_sent(
                tx, tx_hex, shares, bound=bound, client=client, actions=actions, board=self.board.address
            )
            return tx_hex

    def upkeep(self) -> list[str]:
        """Settle mined sends, and send again the stuck and dropped ones (``resend``); the hashes sent again."""
        with self.budget.send_lock():
            self.budget.settle(lambda txs: receipts(self.w3, txs))
            if not self.budget.unsettled():
                return []
            head = self.heads.head(fresh=True)
            send = lambda tx: transmit(self.w3, self.account, tx, self.errors)  # noqa: E731
            return resend(self.w3, self.budget, head, self.policy.max_fee_per_gas, send)
