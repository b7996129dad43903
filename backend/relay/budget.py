"""What the relayer may spend, and every ``relay:*`` key of the shared limits store.

Counted in ``backend.limits`` (shared by every process on one database): new signers per
client an hour, gas per signer a day, the relayer's gas an hour. A request's charges are
listed as they are taken, so that a later refusal gives them all back. No module but this
one builds a ``relay:*`` key: the route, the nonce records and ``/api/status`` call the
functions below.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from backend.limits import Limits
from backend.relay.checks import SignedAction
from backend.relay.errors import RelayError, at, wait_words

DAY = 86_400.0
HOUR = 3_600.0
SEEN_TTL = 30 * DAY  # a signer relayed for within this long is not "new"
PENDING_TTL = HOUR  # a relayed tx not mined in an hour no longer holds its signers' nonces
TX_NONCE_TTL = DAY
REFUSED_TTL = 600.0  # seconds a refusal for good (bad signature, expired, nonce used) is answered from memory
REVERTED_TTL = DAY  # items of a relayed tx that reverted on chain are refused this long
REFUSED_BRIEFLY_TTL = 10.0  # the same for a refusal the chain or the pin store may lift (missing post, not pinned)
MIN_ITEM_GAS = 30_000  # no post or vote costs less: a signer or budget with less left is refused before simulating


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


# --- the keys ---------------------------------------------------------------------------------------------


def client_rate_key(client: str) -> str:
    """The bucket of relay requests from ``client`` (``limits.client_key``)."""
    return f"relay:client:{client}"


def refused_body_key(raw: bytes) -> str:
    """The remembered refusal of these exact request bytes."""
    return f"relay:refused:body:{hashlib.sha256(raw).hexdigest()}"


def refused_item_key(digest: bytes, signature: str) -> str:
    """The remembered refusal for good of one item: what was signed (its EIP-712 digest) and the signature.

    Never the signature alone: a copy with a changed field (a past deadline) is refused, and must not
    make the genuine item refused too. Hashed, to fit the store's 200-character keys.
    """
    signed = hashlib.sha256(digest + signature.lower().encode()).hexdigest()
    return f"relay:refused:item:{signed}"


def gas_key(chain_id: int, relayer: str) -> str:
    """The bucket of the relayer's hourly gas budget."""
    return f"relay:gas:{chain_id}:{relayer}"


def pending_key(board: str, signer: str) -> str:
    """The relayer's last pending tx for ``signer`` on ``board``: {"nonce": next, "tx": hash}."""
    return f"relay:pending:{board}:{signer}"


def tx_nonce_key(chain_id: int, relayer: str) -> str:
    """The relayer's last send: {"nonce": its tx nonce, "tx": hash}."""
    return f"relay:txnonce:{chain_id}:{relayer}"


def send_lock_key(chain_id: int, relayer: str) -> str:
    """The lock held across processes while the relayer chooses a tx nonce and sends."""
    return f"relay:send:{chain_id}:{relayer}"


def _seen_key(signer: str) -> str:
    return f"relay:seen:{signer}"


def _new_signers_key(client: str) -> str:
    return f"relay:new-signers:{client}"


def _signer_gas_key(signer: str) -> str:
    return f"relay:signer-gas:{signer}"


def _sent_key(chain_id: int, relayer: str) -> str:
    return f"relay:sent:{chain_id}:{relayer}"


def _sent_items_key(tx: str) -> str:
    return f"relay:sent-items:{tx}"


def _sent_tx_key(tx: str) -> str:
    return f"relay:sent-tx:{tx}"


def _reverted_gas_key(client: str) -> str:
    return f"relay:reverted-gas:{client}"


def gas_left(limits: Limits, policy: Policy, chain_id: int, relayer: str) -> int:
    """Gas the relayer may still spend this hour (for ``/api/status``)."""
    return int(limits.left(gas_key(chain_id, relayer), policy.gas_per_hour, HOUR))


def signer_gas_left(limits: Limits, policy: Policy, signer: str) -> float:
    """Gas ``signer`` may still be relayed for today."""
    return limits.left(_signer_gas_key(signer), policy.signer_gas_per_day, DAY)


def reverted_gas_left(limits: Limits, policy: Policy, client: str) -> float:
    """Gas of relayed transactions that may still revert on chain today for ``client`` before it is refused."""
    return limits.left(_reverted_gas_key(client), policy.signer_gas_per_day, DAY)


Signed = tuple[bytes, str, str]  # an item's EIP-712 digest, signature and place in its batch ("batch item 3: ")


Charge = tuple[str, float, float, float]  # (key, cost, limit, window): given back if the request is refused later


class Budget:
    """The relayer's limits: refusals remembered, new signers, gas per signer and per hour, sends settled."""

    def __init__(self, limits: Limits, policy: Policy, chain_id: int, relayer: Callable[[], str]) -> None:
        self.limits = limits
        self.policy = policy
        self.chain_id = chain_id
        self._relayer = relayer  # the sender, known once the node is asked

    @property
    def gas_key(self) -> str:
        """The limits key of the relayer's hourly gas budget."""
        return gas_key(self.chain_id, self._relayer())

    @contextmanager
    def send_lock(self) -> Iterator[None]:
        """Held across processes while choosing the tx nonce and sending."""
        with self.limits.lock(send_lock_key(self.chain_id, self._relayer())):
            yield

    # --- refusals remembered ------------------------------------------------------------------------

    def refused_before(self, items: Iterable[Signed]) -> None:
        """Refuse at once an item (digest and signature) refused for good lately, or sent in a tx that reverted."""
        keys = {refused_item_key(digest, signature): prefix for digest, signature, prefix in items}
        refused = self.limits.get(keys)
        for key, prefix in keys.items():  # the first refused item of the request names the refusal
            if key in refused:
                raise RelayError(prefix + refused[key]["detail"], refused[key]["status"], permanent=True)

    def remember_refused(self, digest: bytes, signature: str, prefix: str, exc: RelayError) -> None:
        """Remember a refusal for good of one item, without its place in this batch."""
        if exc.permanent and signature:
            refusal = {"status": exc.status_code, "detail": exc.detail.removeprefix(prefix)}
            self.limits.put({refused_item_key(digest, signature): refusal}, ttl=REFUSED_TTL)

    # --- charges --------------------------------------------------------------------------------------

    def check(self, actions: list[SignedAction], client: str, taken: list[Charge]) -> None:
        """New signers per client (charged now), and enough gas left for each signer and the budget (charged later).

        A client whose relayed transactions reverted on chain (``settle`` charges it their gas) is refused
        once that reaches a signer's daily gas: it pays for the batches that an action mined first made fail.
        """
        policy = self.policy
        counts = _counts(actions)
        reverted_left = reverted_gas_left(self.limits, policy, client)
        if reverted_left < MIN_ITEM_GAS:  # spent: refused whatever the size of this request
            wait = _refill_wait(MIN_ITEM_GAS, reverted_left, policy.signer_gas_per_day, DAY)
            raise RelayError(
                f"relayed transactions from your address reverted on chain: at most {policy.signer_gas_per_day} "
                "gas of them a day" + wait_words(wait, MIN_ITEM_GAS),
                status_code=429,
                retry_after=wait,
            )
        known = self.limits.get(_seen_key(signer) for signer in counts)
        new = [signer for signer in counts if _seen_key(signer) not in known]
        if new:
            key = _new_signers_key(client)
            wait = self.limits.take(key, len(new), policy.new_signers_per_hour, HOUR)
            if wait > 0:
                raise RelayError(
                    f"too many new signers from your address: at most {policy.new_signers_per_hour} an hour"
                    + wait_words(wait, len(new)),
                    status_code=429,
                    retry_after=wait,
                )
            taken.append((key, len(new), policy.new_signers_per_hour, HOUR))
        keys = {_signer_gas_key(signer): signer for signer in counts}
        left = self.limits.left_many(keys, policy.signer_gas_per_day, DAY)
        for key, signer in keys.items():
            need = counts[signer] * MIN_ITEM_GAS
            if left[key] < need:
                self._signer_over(signer, _refill_wait(need, left[key], policy.signer_gas_per_day, DAY), need)
        need = len(actions) * MIN_ITEM_GAS
        budget_left = self.limits.left(self.gas_key, policy.gas_per_hour, HOUR)
        if budget_left < need:
            self._budget_spent(_refill_wait(need, budget_left, policy.gas_per_hour, HOUR), need)

    def charge(self, actions: list[SignedAction], gas: int, taken: list[Charge]) -> dict[str, int]:
        """Charge the estimate: each signer its share (by items), and the relayer's hourly budget all of it."""
        policy = self.policy
        counts = _counts(actions)
        shares: dict[str, int] = {}
        for signer, count in counts.items():
            share = shares[signer] = math.ceil(gas * count / len(actions))
            key = _signer_gas_key(signer)
            wait = self.limits.take(key, share, policy.signer_gas_per_day, DAY)
            if wait > 0:
                self._signer_over(signer, wait, share)
            taken.append((key, share, policy.signer_gas_per_day, DAY))
        wait = self.limits.take(self.gas_key, gas, policy.gas_per_hour, HOUR)
        if wait > 0:
            self._budget_spent(wait, gas)
        taken.append((self.gas_key, gas, policy.gas_per_hour, HOUR))
        return shares

    def refund(self, taken: list[Charge]) -> None:
        """Give back every charge of a refused request."""
        for key, cost, limit, window in taken:
            self.limits.refund(key, cost, limit, window)

    def mark_seen(self, signers: Iterable[str]) -> None:
        """The signers were relayed for: not new for thirty days."""
        self.limits.put({_seen_key(signer): 1 for signer in signers}, ttl=SEEN_TTL)

    # --- sends, settled once mined ----------------------------------------------------------------------

    def add_sent(
        self,
        fields: dict[str, Any],
        tx: str,
        shares: dict[str, int],
        *,
        bound: bool,
        client: str,
        actions: list[SignedAction],
        board: str,
    ) -> None:
        """Record a send of ``fields`` (its gas a fixed ``bound``, or the estimate), to settle once mined (locked)."""
        key = _sent_key(self.chain_id, self._relayer())
        unsettled = self.limits.get([key]).get(key, [])
        entry = {
            "gas": fields["gas"], "shares": shares, "tx": tx, "at": time.time(), "bound": bound, "client": client,
            "sender": fields["from"], "board": board,
        }  # fmt: skip
        items = [refused_item_key(action.digest, action.signature) for action in actions]
        unsigned = {name: value for name, value in fields.items() if name != "from"}
        self.limits.put({_sent_items_key(tx): items, _sent_tx_key(tx): unsigned}, PENDING_TTL)
        self.limits.put({key: [*unsettled, entry]}, PENDING_TTL)

    def unsettled(self) -> list[dict[str, Any]]:
        """The sends not settled yet (under the send lock)."""
        key = _sent_key(self.chain_id, self._relayer())
        return list(self.limits.get([key]).get(key, []))

    def sent_tx(self, tx: str) -> dict[str, Any] | None:
        """The fields ``tx`` was sent with (to, data, gas, nonce, fees), to send it again."""
        return self.limits.get([_sent_tx_key(tx)]).get(_sent_tx_key(tx))

    def replaced(self, entry: dict[str, Any], tx: str, fields: dict[str, Any]) -> None:
        """``entry``'s transaction was sent again as ``tx`` (same nonce): every record of it now names ``tx``."""
        old = entry["tx"]
        key = _sent_key(self.chain_id, self._relayer())
        unsettled = [{**e, "tx": tx, "at": time.time()} if e["tx"] == old else e for e in self.unsettled()]
        items = self.limits.get([_sent_items_key(old)]).get(_sent_items_key(old), [])
        self.limits.put({_sent_items_key(tx): items, _sent_tx_key(tx): fields}, PENDING_TTL)
        self.limits.put({key: unsettled}, PENDING_TTL)
        pending = [pending_key(entry["board"], signer) for signer in entry["shares"]]
        last = tx_nonce_key(self.chain_id, self._relayer())
        records = self.limits.get([*pending, last])
        for name, record in records.items():
            if record.get("tx") == old:
                self.limits.put({name: {**record, "tx": tx}}, TX_NONCE_TTL if name == last else PENDING_TTL)

    def settle(self, receipts: Callable[[list[str]], list[Any]]) -> None:
        """Settle the sends ``receipts`` has mined (under the send lock).

        A send charged at the bound gets back what it did not use. A send that reverted (it passed simulation,
        then an action of one of its signers was mined first) keeps its charge, is charged to the client that
        sent it, and its items are refused from now on: nobody may replay them at the relayer's cost.
        """
        key = _sent_key(self.chain_id, self._relayer())
        unsettled = self.limits.get([key]).get(key)
        if not unsettled:
            return
        policy, left = self.policy, []
        for entry, receipt in zip(unsettled, receipts([entry["tx"] for entry in unsettled]), strict=True):
            if receipt is None:
                if time.time() - entry["at"] < PENDING_TTL:  # still pending; a dropped one is forgotten
                    left.append(entry)
                continue
            used = int(receipt["gasUsed"], 16)
            if int(receipt.get("status", "0x1"), 16) == 0:
                self._reverted(entry, used)
            unused = entry["gas"] - used
            if not entry["bound"] or unused <= 0:
                continue
            self.limits.refund(self.gas_key, unused, policy.gas_per_hour, HOUR)
            for signer, share in entry["shares"].items():
                self.limits.refund(
                    _signer_gas_key(signer), unused * share / entry["gas"], policy.signer_gas_per_day, DAY
                )
        self.limits.put({key: left}, PENDING_TTL)

    def _reverted(self, entry: dict[str, Any], used: int) -> None:
        """Charge a reverted send's gas to its client; refuse its items for a day."""
        key, limit = _reverted_gas_key(entry["client"]), self.policy.signer_gas_per_day
        self.limits.take(key, min(used, self.limits.left(key, limit, DAY)), limit, DAY)  # never more than is left
        items = self.limits.get([_sent_items_key(entry["tx"])]).get(_sent_items_key(entry["tx"]), [])
        detail = (
            f"its relayed transaction {entry['tx']} reverted on chain (an action of one of its signers was mined"
            " first): sign it again"
        )
        self.limits.put({item: {"status": 400, "detail": detail} for item in items}, ttl=REVERTED_TTL)

    # --- refusals -------------------------------------------------------------------------------------

    def _signer_over(self, signer: str, wait: float, need: int) -> None:
        limit = self.policy.signer_gas_per_day
        raise RelayError(
            f"relay limit for {signer} reached: at most {limit} gas a day" + wait_words(wait, need),
            status_code=429,
            retry_after=wait,
        )

    def _budget_spent(self, wait: float, need: int) -> None:
        limit = self.policy.gas_per_hour
        if math.isinf(wait):
            detail = f"relay budget is {limit} gas an hour; this request needs {need}: send fewer items"
            raise RelayError(detail, status_code=503)
        refill = at(time.time() + wait)
        detail = f"relay budget for this hour is spent: it refills enough for this request at {refill}"
        raise RelayError(detail, status_code=503, retry_after=wait)


def _counts(actions: list[SignedAction]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in actions:
        counts[action.signer] = counts.get(action.signer, 0) + 1
    return counts


def _refill_wait(need: float, left: float, limit: float, window: float) -> float:
    """Seconds until a bucket of ``limit`` per ``window`` holding ``left`` holds ``need``; inf if it never can."""
    return math.inf if need > limit else (need - left) * window / limit
