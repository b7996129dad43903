"""The relayer: checks signed posts, votes and batches against its policy, then pays the gas to send them.

The relayer only pays gas: the contract recovers the signer from the signature
and refuses any altered field, so the relayer cannot change what was signed,
and anyone else may submit the same message. Before sending, we check what we
can cheaply (refusals remembered, deadline, signature, pinned content), then the
policy (new signers per client, gas per signer a day, the relayer's gas an hour,
the fee cap; counted in ``backend.limits``), then every signer's nonce in one
JSON-RPC batch (following the relayer's own pending transactions), then simulate
the call against the pending state and turn the contract's custom error into a
400 message. Only choosing the tx nonce and sending hold a lock (across processes).
docs/architecture.md ("The relay") lists the steps.

The relayer account is ``INDELIBLE_RELAYER_KEY`` (a hex private key) when set,
else, on a dev chain, the node's unlocked account 1 (Ganache's second account).
It must hold ether: when it cannot pay for gas, relays answer 503 and send nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ABIError, HexStr
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, StateOverride

from backend.content.cid import digest_to_cid, hex_to_digest
from backend.content.pins import PinStore
from backend.eip712 import InvalidSignature, post_message, recover_signer, split_signature, vote_message
from backend.limits import Limits

RELAYER_KEY_ENV = "INDELIBLE_RELAYER_KEY"


class RelayError(Exception):
    """A signed action we will not send; ``detail`` says why, ``status_code`` is the HTTP status.

    ``permanent``: the same bytes can never succeed (bad signature, expired, nonce used), so the refusal
    is remembered longer; ``retry_after``: seconds until a limit lets it through (429/503).
    """

    def __init__(
        self, detail: str, status_code: int = 400, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignedAction:
    """One checked post or vote, ready to pass to the contract as its struct."""

    kind: str
    signer: str
    nonce: int
    struct: tuple[Any, ...]
    signature: str = ""
    prefix: str = ""


_ERROR_MESSAGES: dict[str, Callable[[tuple[Any, ...]], str]] = {
    "PostNotFound": lambda a: f"post {a[0]} does not exist",
    "ParentNotFound": lambda a: f"parent post {a[0]} does not exist",
    "PostMismatch": lambda a: (
        f"post {a[0]} is not the post you voted on: its digest is 0x{a[1].hex()}, you signed 0x{a[2].hex()}"
        " (the chain reorganised or another post took that id)"
    ),
    "ParentMismatch": lambda a: (
        f"post {a[0]} is not the post you replied to: its digest is 0x{a[1].hex()}, you signed 0x{a[2].hex()}"
        " (the chain reorganised or another post took that id)"
        if a[0]
        else f"a top-level post (parentId 0) must have a zero parentDigest, got 0x{a[2].hex()}"
    ),
    "ZeroDigest": lambda a: "digest must not be zero",
    "InvalidDirection": lambda a: f"direction must be -1, 0 or 1, got {a[0]}",
    "SignatureExpired": lambda a: f"signature expired: deadline {a[0]} has passed",
    "InvalidSignature": lambda a: f"invalid signature: not signed by {a[0]}",
    "InvalidNonce": lambda a: f"invalid nonce for {a[0]}: expected {a[1]}, got {a[2]}",
}


DAY = 86_400.0
HOUR = 3_600.0
SEEN_TTL = 30 * DAY  # a signer relayed for within this long is not "new"
PENDING_TTL = HOUR  # a relayed tx not mined in an hour no longer holds its signers' nonces
TX_NONCE_TTL = DAY
MIN_ITEM_GAS = 30_000  # no post or vote costs less: a signer or budget with less left is refused before simulating
# eth_estimateGas takes no state override on every node (Ganache 7 refuses a third parameter), so an action that
# follows a pending one is simulated with eth_call and given this limit, above any signed action's gas (bench/gas.py)
BOUND_TX_GAS, BOUND_ITEM_GAS = 60_000, 150_000
HEAD_CACHE = 1.0  # seconds a head block, gas price and tip are reused across requests


@dataclass(frozen=True)
class Policy:
    """What the relayer may spend: gas per signer a day, new signers per client an hour, gas an hour, fee cap."""

    signer_gas_per_day: int
    new_signers_per_hour: int
    gas_per_hour: int
    max_fee_per_gas: int  # wei

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """The policy of ``INDELIBLE_RELAY_*``."""
        return cls(
            signer_gas_per_day=settings.relay_signer_gas_per_day,
            new_signers_per_hour=settings.relay_new_signers_per_hour,
            gas_per_hour=settings.relay_gas_per_hour,
            max_fee_per_gas=int(settings.relay_max_fee_gwei * 10**9),
        )


@dataclass(frozen=True)
class Head:
    """The node's head block time and fees, read in one batch."""

    timestamp: int
    base_fee: int | None
    gas_price: int
    tip: int

    @property
    def fee(self) -> int:
        """What one unit of gas costs now: base fee plus tip, or the legacy gas price."""
        return self.base_fee + self.tip if self.base_fee is not None else self.gas_price


def _gwei(wei: int) -> str:
    return f"{wei / 10**9:.9g} gwei"


def _at(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


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
        self._head: tuple[float, Head] | None = None
        self._head_lock = threading.Lock()
        self._nonce_slot: int | None = -1  # -1: not probed yet; None: the node takes no state override
        self._errors: dict[bytes, ABIError] = {
            keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4]: e
            for e in board.abi
            if e["type"] == "error"
        }

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

    @property
    def budget_key(self) -> str:
        """The limits key of the relayer's hourly gas budget."""
        return f"relay:gas:{self.chain_id}:{self.sender}"

    def relay(self, kind: str, body: dict[str, Any], client: str = "unknown") -> str:
        """Check and send one request body (``kind`` post, vote or batch) from ``client``; returns the tx hash."""
        items = self._items(kind, body)
        self._refused_before(items)
        head = self.head()
        if head.fee > self.policy.max_fee_per_gas:
            detail = f"relay paused: gas price above policy ({_gwei(head.fee)} > {_gwei(self.policy.max_fee_per_gas)})"
            raise RelayError(detail, status_code=503, retry_after=60)
        actions: list[SignedAction] = []
        for item_kind, prefix, item in items:
            try:
                actions.append(self._check(item_kind, item, head.timestamp, prefix))
            except RelayError as exc:
                self._remember_refused_item(item.get("signature", ""), prefix, exc)
                raise
        taken: list[tuple[str, float, float, float]] = []  # (key, cost, limit, window): refunded if refused later
        try:
            self._check_policy(actions, client, taken)
            snapshot, overrides = self._check_nonces(actions)
            call = self._call(kind, actions)
            gas = self._simulate(call, overrides, len(actions))
            shares = self._charge(actions, gas, taken)
            bound = {"gas": gas, "shares": shares} if overrides else None  # settled to gasUsed once mined
            return self._send(call, gas, head, actions, snapshot, bound)
        except RelayError:
            for key, cost, limit, window in taken:
                self.limits.refund(key, cost, limit, window)
            raise

    # --- cheap checks --------------------------------------------------------------------------------

    @staticmethod
    def _items(kind: str, body: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        if kind != "batch":
            return [(kind, "", body)]
        posts = [("post", item) for item in body["posts"]]
        votes = [("vote", item) for item in body["votes"]]
        if not posts and not votes:
            raise RelayError("batch is empty: give at least one post or vote", status_code=422)
        return [(k, f"batch item {i}: ", item) for i, (k, item) in enumerate([*posts, *votes])]

    def _refused_before(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Refuse at once an item whose signature was refused for good in the last ten minutes."""
        keys = {f"relay:refused:sig:{item['signature'].lower()}": prefix for _, prefix, item in items}
        for key, refusal in self.limits.get(keys).items():
            raise RelayError(keys[key] + refusal["detail"], refusal["status"], permanent=True)

    def _remember_refused_item(self, signature: str, prefix: str, exc: RelayError) -> None:
        if exc.permanent and signature:
            detail = exc.detail.removeprefix(prefix)
            refusal = {"status": exc.status_code, "detail": detail}
            self.limits.put({f"relay:refused:sig:{signature.lower()}": refusal}, ttl=REFUSED_TTL)

    def head(self) -> Head:
        """The head block's time and the node's fees, cached for a second."""
        with self._head_lock:
            now = time.monotonic()
            if self._head is not None and now - self._head[0] < HEAD_CACHE:
                return self._head[1]
            block, price, tip = self._batch(
                [("eth_getBlockByNumber", ["latest", False]), ("eth_gasPrice", []), ("eth_maxPriorityFeePerGas", [])]
            )
            if not isinstance(block, dict) or price is None:
                raise RelayError("the node did not give its head block and gas price", status_code=502)
            base_fee = int(block["baseFeePerGas"], 16) if block.get("baseFeePerGas") else None
            gas_price = int(price, 16)
            tip_wei = int(tip, 16) if tip is not None else max(gas_price - (base_fee or 0), 0)
            head = Head(int(block["timestamp"], 16), base_fee, gas_price, tip_wei)
            self._head = (now, head)
            return head

    def _batch(self, requests: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of one JSON-RPC batch, in order; None for a call the node answered with an error."""
        # the relayer's Web3 is made on an HTTP provider (chain.connect), which batches
        provider = cast(JSONBaseProvider, self.w3.provider)
        answers = provider.make_batch_request([(RPCEndpoint(method), params) for method, params in requests])
        if not isinstance(answers, list):  # the node refused the whole batch
            raise RelayError(f"the node refused a batch request: {answers}", status_code=502)
        return [answer.get("result") if isinstance(answer, dict) else None for answer in answers]

    def _check(self, kind: str, item: dict[str, Any], now: int, prefix: str) -> SignedAction:
        message = post_message(item) if kind == "post" else vote_message(item)
        claimed = message["author" if kind == "post" else "voter"]
        if message["deadline"] < now:
            raise RelayError(f"{prefix}signature expired: deadline {message['deadline']} has passed", permanent=True)
        try:
            signer = recover_signer(kind, message, item["signature"], self.chain_id, self.board.address)
        except InvalidSignature as exc:
            raise RelayError(prefix + str(exc), permanent=True) from exc
        if signer != claimed:
            raise RelayError(f"{prefix}invalid signature: not signed by {claimed}", permanent=True)
        v, r, s = split_signature(item["signature"])
        if kind == "post":
            self._require_pinned(message["digest"], prefix)
            parent = hex_to_digest(message["parentDigest"])
            fields = (claimed, hex_to_digest(message["digest"]), message["parentId"], parent)
        else:
            fields = (claimed, message["postId"], hex_to_digest(message["postDigest"]), message["direction"])
        struct = (*fields, message["nonce"], message["deadline"], v, r, s)
        return SignedAction(kind, claimed, message["nonce"], struct, item["signature"], prefix)

    def _require_pinned(self, digest: str, prefix: str) -> None:
        raw = hex_to_digest(digest)
        if raw == bytes(32):
            raise RelayError(f"{prefix}digest must not be zero", permanent=True)
        cid = digest_to_cid(raw)
        if self.pins.get(cid) is None:
            raise RelayError(f"{prefix}content {cid} is not pinned here: upload it first (POST /api/content)")

    # --- policy ----------------------------------------------------------------------------------------

    def _check_policy(self, actions: list[SignedAction], client: str, taken: list[Any]) -> None:
        """New signers per client (charged now), and enough gas left for each signer and the budget (charged later)."""
        policy = self.policy
        counts: dict[str, int] = {}
        for action in actions:
            counts[action.signer] = counts.get(action.signer, 0) + 1
        known = self.limits.get(f"relay:seen:{signer}" for signer in counts)
        new = [signer for signer in counts if f"relay:seen:{signer}" not in known]
        if new:
            key = f"relay:new-signers:{client}"
            wait = self.limits.take(key, len(new), policy.new_signers_per_hour, HOUR)
            if wait > 0:
                raise RelayError(
                    f"too many new signers from your address: at most {policy.new_signers_per_hour} an hour"
                    + self._wait_words(wait, len(new), policy.new_signers_per_hour),
                    status_code=429,
                    retry_after=wait,
                )
            taken.append((key, len(new), policy.new_signers_per_hour, HOUR))
        keys = {f"relay:signer-gas:{signer}": signer for signer in counts}
        left = self.limits.left_many(keys, policy.signer_gas_per_day, DAY)
        for key, signer in keys.items():
            need = counts[signer] * MIN_ITEM_GAS
            if left[key] < need:
                self._signer_over(signer, _refill_wait(need, left[key], policy.signer_gas_per_day, DAY), need)
        need = len(actions) * MIN_ITEM_GAS
        budget_left = self.limits.left(self.budget_key, policy.gas_per_hour, HOUR)
        if budget_left < need:
            self._budget_spent(_refill_wait(need, budget_left, policy.gas_per_hour, HOUR), need)

    def _charge(self, actions: list[SignedAction], gas: int, taken: list[Any]) -> dict[str, int]:
        """Charge the estimate: each signer its share (by items), and the relayer's hourly budget all of it."""
        policy = self.policy
        counts: dict[str, int] = {}
        for action in actions:
            counts[action.signer] = counts.get(action.signer, 0) + 1
        shares: dict[str, int] = {}
        for signer, count in counts.items():
            share = shares[signer] = math.ceil(gas * count / len(actions))
            key = f"relay:signer-gas:{signer}"
            wait = self.limits.take(key, share, policy.signer_gas_per_day, DAY)
            if wait > 0:
                self._signer_over(signer, wait, share)
            taken.append((key, share, policy.signer_gas_per_day, DAY))
        wait = self.limits.take(self.budget_key, gas, policy.gas_per_hour, HOUR)
        if wait > 0:
            self._budget_spent(wait, gas)
        taken.append((self.budget_key, gas, policy.gas_per_hour, HOUR))
        return shares

    def _signer_over(self, signer: str, wait: float, need: int) -> None:
        limit = self.policy.signer_gas_per_day
        raise RelayError(
            f"relay limit for {signer} reached: at most {limit} gas a day" + self._wait_words(wait, need, limit),
            status_code=429,
            retry_after=wait,
        )

    def _budget_spent(self, wait: float, need: int) -> None:
        limit = self.policy.gas_per_hour
        if math.isinf(wait):
            detail = f"relay budget is {limit} gas an hour; this request needs {need}: send fewer items"
            raise RelayError(detail, status_code=503)
        refill = _at(time.time() + wait)
        detail = f"relay budget for this hour is spent: it refills enough for this request at {refill}"
        raise RelayError(detail, status_code=503, retry_after=wait)

    @staticmethod
    def _wait_words(wait: float, need: float, limit: float) -> str:
        if math.isinf(wait):
            return f"; this request needs {need:g}, more than that: send fewer items"
        return f"; try again in {math.ceil(wait)} s"

    # --- nonces and simulation ---------------------------------------------------------------------------

    def _pending_key(self, signer: str) -> str:
        return pending_key(self.board.address, signer)

    def _check_nonces(self, actions: list[SignedAction]) -> tuple[dict[str, Any], dict[str, int]]:
        """Each action's nonce must follow the signer's chain nonce, or the nonce after our pending tx of theirs.

        Returns the pending entries read (rechecked under the send lock) and the signers whose nonce
        must be overridden to simulate (their pending nonce is ahead of the chain's).
        """
        signers = list(dict.fromkeys(action.signer for action in actions))
        snapshot = self.limits.get(self._pending_key(signer) for signer in signers)
        requests: list[tuple[str, Any]] = [
            ("eth_call", [{"to": self.board.address, "data": self._nonces_data(signer)}, "latest"])
            for signer in signers
        ]
        pending_hashes = [entry["tx"] for entry in snapshot.values()]
        requests += [("eth_getTransactionByHash", [tx]) for tx in pending_hashes]
        results = self._batch(requests)  # one round trip for every signer
        if any(result is None for result in results[: len(signers)]):
            raise RelayError("the node did not answer the signers' nonces", status_code=502)
        chain = {signer: int(result, 16) for signer, result in zip(signers, results, strict=False)}
        in_pool = {tx: found for tx, found in zip(pending_hashes, results[len(signers) :], strict=True)}
        expected = dict(chain)
        overrides: dict[str, int] = {}
        dropped: dict[str, Any] = {}  # pending entries whose tx the node no longer knows
        for signer in signers:
            key = self._pending_key(signer)
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
                self._forget_dropped(dropped)
                detail = f"{action.prefix}invalid nonce for {action.signer}: expected {want}, got {action.nonce}"
                refused = RelayError(detail, permanent=action.nonce < chain[action.signer])
                self._remember_refused_item(action.signature, action.prefix, refused)
                raise refused
            expected[action.signer] += 1
        return snapshot, overrides

    def _forget_dropped(self, entries: dict[str, Any]) -> None:
        """Forget pending entries of txs the node dropped (or a reorg removed), unless replaced meanwhile."""
        if not entries:
            return
        with self.limits.lock(f"relay:send:{self.chain_id}:{self.sender}"):
            current = self.limits.get(entries)
            self.limits.forget(key for key, entry in entries.items() if current.get(key) == entry)

    def _nonces_data(self, signer: str) -> str:
        return str(self.board.functions.nonces(signer)._encode_transaction_data())

    def _call(self, kind: str, actions: list[SignedAction]) -> Any:
        if kind == "batch":
            posts = [a.struct for a in actions if a.kind == "post"]
            votes = [a.struct for a in actions if a.kind == "vote"]
            return self.board.functions.batch(posts, votes)
        return getattr(self.board.functions, "postBySig" if kind == "post" else "voteBySig")(actions[0].struct)

    def _simulate(self, call: Any, overrides: dict[str, int], items: int) -> int:
        """Run the call against the pending state; the gas it needs, or RelayError with the contract's reason."""
        try:
            if not overrides:
                try:
                    return int(call.estimate_gas({"from": self.sender}, "pending"))
                except (ContractCustomError, ContractLogicError):
                    call.call(
                        {"from": self.sender}, "pending"
                    )  # Ganache's estimate drops the revert data; a call has it
                    raise
            override = self._nonce_override(overrides)
            if override is None:
                raise RelayError(
                    "this node cannot simulate an action that follows a pending one: send it after that is mined",
                    status_code=409,
                )
            call.call({"from": self.sender}, "pending", override)
            return BOUND_TX_GAS + BOUND_ITEM_GAS * items
        except ContractCustomError as exc:
            raise RelayError(self.explain(_revert_data(exc))) from exc
        except ContractLogicError as exc:
            raise RelayError(f"the contract refused it: {exc.message or exc}") from exc

    def _nonce_override(self, nonces: dict[str, int]) -> StateOverride | None:
        """An eth_call state override setting ``nonces[signer]``; None when the node takes no overrides."""
        slot = self._find_nonce_slot()
        if slot is None:
            return None
        diff = {
            _mapping_slot(signer, slot): HexStr("0x" + nonce.to_bytes(32, "big").hex())
            for signer, nonce in nonces.items()
        }
        return {self.board.address: {"stateDiff": diff}}

    def _find_nonce_slot(self) -> int | None:
        """The storage slot of the Board's ``nonces`` mapping, found once by overriding candidates and reading back."""
        if self._nonce_slot == -1:
            probe = Web3.to_checksum_address(keccak(text="indelible nonce slot probe")[-20:])
            self._nonce_slot = None
            for slot in range(16):
                override: StateOverride = {
                    self.board.address: {"stateDiff": {_mapping_slot(probe, slot): HexStr("0x" + "00" * 31 + "2a")}}
                }
                try:
                    if int(self.board.functions.nonces(probe).call({}, "latest", override)) == 42:
                        self._nonce_slot = slot
                        break
                except (Web3Exception, ValueError):
                    break  # the node refuses state overrides
        return self._nonce_slot

    def explain(self, data: bytes) -> str:
        """A sentence for the contract's revert data (a custom error, maybe nested in BatchItemFailed)."""
        error = self._errors.get(data[:4])
        if error is None:
            return f"the contract refused it (revert data 0x{data.hex()})"
        args = abi_decode([i["type"] for i in error["inputs"]], data[4:])
        if error["name"] == "BatchItemFailed":
            return f"batch item {args[0]}: {self.explain(args[1])}"
        describe = _ERROR_MESSAGES.get(error["name"])
        return describe(args) if describe else f"the contract refused it: {error['name']}{tuple(args)}"

    # --- sending -------------------------------------------------------------------------------------

    def _send(
        self,
        call: Any,
        gas: int,
        head: Head,
        actions: list[SignedAction],
        snapshot: dict[str, Any],
        bound: dict[str, Any] | None,
    ) -> str:
        """Under the relayer's lock (across instances): recheck pending nonces, choose the tx nonce, send, record."""
        signers = list(dict.fromkeys(action.signer for action in actions))
        keys = [self._pending_key(signer) for signer in signers]
        with self.limits.lock(f"relay:send:{self.chain_id}:{self.sender}"):
            if self.limits.get(keys) != snapshot:
                raise RelayError(
                    "another action by the same signer was relayed meanwhile: fetch the nonce and sign again",
                    status_code=409,
                )
            self._settle()
            nonce = self._tx_nonce()
            tx: dict[str, Any] = {"from": self.sender, "nonce": nonce, "gas": gas, **self._fees(head)}
            try:
                if self.account is None:
                    tx_hash = bytes(call.transact(tx))
                else:
                    signed = self.account.sign_transaction(call.build_transaction(tx))
                    tx_hash = bytes(self.w3.eth.send_raw_transaction(signed.raw_transaction))
            except ContractCustomError as exc:  # the chain moved between simulation and sending
                raise RelayError(self.explain(_revert_data(exc))) from exc
            except (ContractLogicError, Web3Exception, ValueError) as exc:
                if "insufficient funds" in str(exc):  # geth, anvil and Ganache all say it so
                    raise RelayError(f"relayer {self.sender} cannot pay for gas: fund it", status_code=503) from exc
                raise RelayError(f"the node refused the transaction: {exc}", status_code=502) from exc
            tx_hex = Web3.to_hex(tx_hash)
            self.limits.put({self._tx_nonce_key: {"nonce": nonce, "tx": tx_hex}}, ttl=TX_NONCE_TTL)
            next_nonces: dict[str, int] = {}
            for action in actions:
                next_nonces[action.signer] = action.nonce + 1
            self.limits.put(
                {self._pending_key(s): {"nonce": n, "tx": tx_hex} for s, n in next_nonces.items()}, PENDING_TTL
            )
            if bound is not None:
                unsettled = self.limits.get([self._bounds_key]).get(self._bounds_key, [])
                entry = {**bound, "tx": tx_hex, "at": time.time()}
                self.limits.put({self._bounds_key: [*unsettled, entry]}, PENDING_TTL)
        self.limits.put({f"relay:seen:{signer}": 1 for signer in signers}, ttl=SEEN_TTL)
        return tx_hex

    @property
    def _bounds_key(self) -> str:
        return f"relay:bounds:{self.chain_id}:{self.sender}"

    def _settle(self) -> None:
        """Give back what sends charged at the fixed gas bound did not use, once they are mined (under the lock)."""
        unsettled = self.limits.get([self._bounds_key]).get(self._bounds_key)
        if not unsettled:
            return
        policy, left = self.policy, []
        receipts = self._batch([("eth_getTransactionReceipt", [entry["tx"]]) for entry in unsettled])
        for entry, receipt in zip(unsettled, receipts, strict=True):
            if receipt is None:
                if time.time() - entry["at"] < PENDING_TTL:  # still pending; a dropped one is forgotten
                    left.append(entry)
                continue
            unused = entry["gas"] - int(receipt["gasUsed"], 16)
            if unused <= 0:
                continue
            self.limits.refund(self.budget_key, unused, policy.gas_per_hour, HOUR)
            for signer, share in entry["shares"].items():
                key = f"relay:signer-gas:{signer}"
                self.limits.refund(key, unused * share / entry["gas"], policy.signer_gas_per_day, DAY)
        self.limits.put({self._bounds_key: left}, PENDING_TTL)

    def _fees(self, head: Head) -> dict[str, int]:
        """Fee fields that never pay more than the policy's maximum per gas."""
        cap = self.policy.max_fee_per_gas
        if head.base_fee is None:
            return {"gasPrice": min(head.gas_price, cap)}
        max_fee = min(cap, 2 * head.base_fee + head.tip)  # room for the base fee to rise, as web3 does
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(head.tip, max_fee)}

    @property
    def _tx_nonce_key(self) -> str:
        return f"relay:txnonce:{self.chain_id}:{self.sender}"

    def _tx_nonce(self) -> int:
        """The relayer's next tx nonce: the node's pending count, or one past our last send if the node skipped it.

        Ganache 7 leaves its pool out of the "pending" count, so two sends before a
        block would share a nonce; a last send the node no longer knows (dropped, or
        a replaced dev chain) must not leave a gap, so then the node's count wins.
        The last send is kept in the shared store, so every instance sees it.
        """
        pending = self.w3.eth.get_transaction_count(Web3.to_checksum_address(self.sender), "pending")
        last = self.limits.get([self._tx_nonce_key]).get(self._tx_nonce_key)
        if last is not None and last["nonce"] >= pending and self._node_knows(last["tx"]):
            return int(last["nonce"]) + 1
        return pending

    def _node_knows(self, tx_hash: str) -> bool:
        answer = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionByHash"), [tx_hash])
        return answer.get("result") is not None


REFUSED_TTL = 600.0  # seconds a refusal for good (bad signature, expired, nonce used) is answered from memory
REFUSED_BRIEFLY_TTL = 10.0  # the same for a refusal the chain or the pin store may lift (missing post, not pinned)


def pending_key(board: str, signer: str) -> str:
    """The limits key of the relayer's last pending tx for ``signer`` on ``board``: {"nonce": next, "tx": hash}."""
    return f"relay:pending:{board}:{signer}"


def pending_nonce(limits: Limits, board: str, signer: str) -> tuple[int, str] | None:
    """The nonce after the relayer's last relayed action of ``signer``, and its tx, as recorded (no node asked)."""
    key = pending_key(board, signer)
    entry = limits.get([key]).get(key)
    return None if entry is None else (int(entry["nonce"]), str(entry["tx"]))


def _refill_wait(need: float, left: float, limit: float, window: float) -> float:
    """Seconds until a bucket of ``limit`` per ``window`` holding ``left`` holds ``need``; inf if it never can."""
    return math.inf if need > limit else (need - left) * window / limit


def _mapping_slot(key: str, slot: int) -> HexStr:
    """The storage slot of ``mapping(address => ...)[key]`` declared at ``slot`` (Solidity's layout)."""
    return Web3.to_hex(keccak(bytes.fromhex(key[2:].rjust(64, "0")) + slot.to_bytes(32, "big")))


def _revert_data(exc: ContractCustomError) -> bytes:
    data = exc.data if isinstance(exc.data, str) else exc.args[0] if exc.args else ""
    text = str(data)
    return bytes.fromhex(text.removeprefix("0x")) if text.startswith("0x") else b""
