"""EIP-712 checks and submission of signed posts, votes and batches.

The relayer only pays gas: the contract recovers the signer from the signature
and refuses any altered field, so the relayer cannot change what was signed,
and anyone else may submit the same message. Before sending, we check what we
can cheaply (signature, deadline, nonce, pinned content), then simulate the call
with eth_call and turn the contract's custom error into a 400 message.

The relayer account is ``INDELIBLE_RELAYER_KEY`` (a hex private key) when set,
else, on a dev chain, the node's unlocked account 1 (Ganache's second account).
It must hold ether: when it cannot pay for gas, relays answer 503 and send nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound, Web3Exception

from backend.content.cid import digest_to_cid, hex_to_digest
from backend.content.store import PinStore

DOMAIN_NAME = "Indelible"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
POST_TYPE = [
    {"name": "author", "type": "address"},
    {"name": "digest", "type": "bytes32"},
    {"name": "parentId", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
VOTE_TYPE = [
    {"name": "voter", "type": "address"},
    {"name": "postId", "type": "uint256"},
    {"name": "direction", "type": "int8"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
EIP712_TYPES = {"EIP712Domain": EIP712_DOMAIN_TYPE, "Post": POST_TYPE, "Vote": VOTE_TYPE}
PRIMARY_TYPES = {"post": "Post", "vote": "Vote"}
# secp256k1 order / 2: a larger s is the malleable twin the contract refuses
HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
RELAYER_KEY_ENV = "INDELIBLE_RELAYER_KEY"


class RelayError(Exception):
    """A signed action we will not send; ``detail`` says why, ``status_code`` is the HTTP status."""

    def __init__(self, detail: str, status_code: int = 400) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


def domain(chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The Board's EIP-712 domain on this chain."""
    return {
        "name": DOMAIN_NAME,
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": Web3.to_checksum_address(verifying_contract),
    }


def typed_data(kind: str, message: dict[str, Any], chain_id: int, verifying_contract: str) -> dict[str, Any]:
    """The full EIP-712 document a wallet signs for a ``post`` or ``vote`` message."""
    primary = PRIMARY_TYPES[kind]
    return {
        "types": {"EIP712Domain": EIP712_DOMAIN_TYPE, primary: EIP712_TYPES[primary]},
        "primaryType": primary,
        "domain": domain(chain_id, verifying_contract),
        "message": message,
    }


def sign(account: LocalAccount, kind: str, message: dict[str, Any], chain_id: int, contract: str) -> str:
    """Sign a message as a wallet would (for tests, scripts and benchmarks): 0x + r + s + v."""
    signed = account.sign_message(encode_typed_data(full_message=typed_data(kind, message, chain_id, contract)))
    return "0x" + bytes(signed.signature).hex()


def split_signature(signature: str) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a 65-byte hex signature, v as 27/28; RelayError when malformed."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    if len(raw) != 65:
        raise RelayError(f"invalid signature: expected 65 bytes, got {len(raw)}")
    r, s, v = raw[:32], raw[32:64], raw[64]
    if v < 27:
        v += 27
    if v not in (27, 28):
        raise RelayError(f"invalid signature: v must be 27 or 28, got {raw[64]}")
    if int.from_bytes(s, "big") > HALF_ORDER:
        raise RelayError("invalid signature: s is in the upper half of the curve order (malleable)")
    return v, r, s


def recover_signer(kind: str, message: dict[str, Any], signature: str, chain_id: int, contract: str) -> str:
    """The checksum address that signed ``message``; RelayError when none can be recovered."""
    v, r, s = split_signature(signature)
    signable = encode_typed_data(full_message=typed_data(kind, message, chain_id, contract))
    try:
        return str(Account.recover_message(signable, vrs=(v, r, s)))
    except Exception as exc:  # eth-keys raises several types for points off the curve
        raise RelayError("invalid signature: no signer can be recovered from it") from exc


@dataclass(frozen=True)
class SignedAction:
    """One checked post or vote, ready to pass to the contract as its struct."""

    kind: str
    signer: str
    nonce: int
    struct: tuple[Any, ...]


def _post_message(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "author": Web3.to_checksum_address(item["author"]),
        "digest": item["digest"].lower(),
        "parentId": int(item.get("parentId", 0)),
        "nonce": int(item["nonce"]),
        "deadline": int(item["deadline"]),
    }


def _vote_message(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "voter": Web3.to_checksum_address(item["voter"]),
        "postId": int(item["postId"]),
        "direction": int(item["direction"]),
        "nonce": int(item["nonce"]),
        "deadline": int(item["deadline"]),
    }


_ERROR_MESSAGES = {
    "PostNotFound": lambda a: f"post {a[0]} does not exist",
    "ParentNotFound": lambda a: f"parent post {a[0]} does not exist",
    "ZeroDigest": lambda a: "digest must not be zero",
    "InvalidDirection": lambda a: f"direction must be -1, 0 or 1, got {a[0]}",
    "SignatureExpired": lambda a: f"signature expired: deadline {a[0]} has passed",
    "InvalidSignature": lambda a: f"invalid signature: not signed by {a[0]}",
    "InvalidNonce": lambda a: f"invalid nonce for {a[0]}: expected {a[1]}, got {a[2]}",
}


class Relayer:
    """Checks signed actions against the chain and sends them from the relayer account."""

    def __init__(self, w3: Web3, board: Contract, pins: PinStore, *, key: str | None = None) -> None:
        self.w3 = w3
        self.board = board
        self.pins = pins
        self.chain_id = w3.eth.chain_id
        self.account: LocalAccount | None = Account.from_key(key) if key else None
        self._lock = threading.Lock()
        self._last_sent: tuple[int, bytes] | None = None  # (tx nonce, tx hash) of our own key's last send
        self._errors = {
            keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4]: e
            for e in board.abi
            if e.get("type") == "error"
        }

    @property
    def sender(self) -> str:
        """The address that pays for relayed transactions."""
        if self.account is not None:
            return str(self.account.address)
        accounts = self.w3.eth.accounts
        if len(accounts) < 2:
            raise RelayError(f"no relayer account: set {RELAYER_KEY_ENV}", status_code=503)
        return str(accounts[1])

    def relay(self, kind: str, body: dict[str, Any]) -> str:
        """Check and send one request body (``kind`` post, vote or batch); returns the tx hash."""
        with self._lock:  # one at a time: nonces and the relayer's own tx nonce move with each send
            now = self._now()  # one head block read for every deadline in the request
            if kind == "batch":
                posts = [self._check("post", item, now, f"batch item {i}: ") for i, item in enumerate(body["posts"])]
                offset = len(posts)
                votes = [
                    self._check("vote", item, now, f"batch item {offset + i}: ") for i, item in enumerate(body["votes"])
                ]
                if not posts and not votes:
                    raise RelayError("batch is empty: give at least one post or vote", status_code=422)
                self._check_batch_nonces([*posts, *votes])
                call = self.board.functions.batch([p.struct for p in posts], [v.struct for v in votes])
            else:
                action = self._check(kind, body, now, "")
                self._check_nonce(action, self._nonce_of(action.signer), "")
                name = "postBySig" if kind == "post" else "voteBySig"
                call = getattr(self.board.functions, name)(action.struct)
            self._simulate(call)
            return self._send(call)

    def _check(self, kind: str, item: dict[str, Any], now: int, prefix: str) -> SignedAction:
        message = _post_message(item) if kind == "post" else _vote_message(item)
        claimed = message["author" if kind == "post" else "voter"]
        try:
            signer = recover_signer(kind, message, item["signature"], self.chain_id, self.board.address)
        except RelayError as exc:
            raise RelayError(prefix + exc.detail) from exc
        if signer != claimed:
            raise RelayError(f"{prefix}invalid signature: not signed by {claimed}")
        if message["deadline"] < now:
            raise RelayError(f"{prefix}signature expired: deadline {message['deadline']} has passed")
        v, r, s = split_signature(item["signature"])
        if kind == "post":
            self._require_pinned(message["digest"], prefix)
            fields = (claimed, hex_to_digest(message["digest"]), message["parentId"])
        else:
            fields = (claimed, message["postId"], message["direction"])
        return SignedAction(kind, claimed, message["nonce"], (*fields, message["nonce"], message["deadline"], v, r, s))

    def _require_pinned(self, digest: str, prefix: str) -> None:
        raw = hex_to_digest(digest)
        if raw == bytes(32):
            raise RelayError(f"{prefix}digest must not be zero")
        cid = digest_to_cid(raw)
        if self.pins.get(cid) is None:
            raise RelayError(f"{prefix}content {cid} is not pinned here: upload it first (POST /api/content)")

    def _check_batch_nonces(self, actions: list[SignedAction]) -> None:
        expected: dict[str, int] = {}
        for index, action in enumerate(actions):
            if action.signer not in expected:
                expected[action.signer] = self._nonce_of(action.signer)
            self._check_nonce(action, expected[action.signer], f"batch item {index}: ")
            expected[action.signer] += 1

    @staticmethod
    def _check_nonce(action: SignedAction, expected: int, prefix: str) -> None:
        if action.nonce != expected:
            raise RelayError(f"{prefix}invalid nonce for {action.signer}: expected {expected}, got {action.nonce}")

    def _nonce_of(self, signer: str) -> int:
        return int(self.board.functions.nonces(signer).call())

    def _now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def _simulate(self, call: Any) -> None:
        try:
            call.call({"from": self.sender})
        except ContractCustomError as exc:
            raise RelayError(self.explain(_revert_data(exc))) from exc
        except ContractLogicError as exc:
            raise RelayError(f"the contract refused it: {exc.message or exc}") from exc

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

    def _send(self, call: Any) -> str:
        try:
            if self.account is None:
                tx_hash = call.transact({"from": self.sender})
            else:
                nonce = self._tx_nonce(self.account.address)
                tx = call.build_transaction({"from": self.account.address, "nonce": nonce})
                signed = self.account.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                self._last_sent = (nonce, bytes(tx_hash))
        except ContractCustomError as exc:  # the chain moved between simulation and sending
            raise RelayError(self.explain(_revert_data(exc))) from exc
        except (ContractLogicError, Web3Exception, ValueError) as exc:
            if "insufficient funds" in str(exc):  # geth, anvil and Ganache all say it so
                raise RelayError(f"relayer {self.sender} cannot pay for gas: fund it", status_code=503) from exc
            raise RelayError(f"the node refused the transaction: {exc}", status_code=502) from exc
        return Web3.to_hex(tx_hash)

    def _tx_nonce(self, address: str) -> int:
        """The relayer's next tx nonce: the node's pending count, or one past our last send if the node skipped it.

        Ganache 7 leaves its pool out of the "pending" count, so two sends before a
        block would share a nonce; a last send the node no longer knows (dropped, or
        a replaced dev chain) must not leave a gap, so then the node's count wins.
        """
        pending = self.w3.eth.get_transaction_count(address, "pending")
        if self._last_sent is not None:
            nonce, tx_hash = self._last_sent
            if nonce >= pending and self._node_knows(tx_hash):
                return nonce + 1
        return pending

    def _node_knows(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True


def _revert_data(exc: ContractCustomError) -> bytes:
    data = exc.data if isinstance(exc.data, str) else exc.args[0] if exc.args else ""
    text = str(data)
    return bytes.fromhex(text.removeprefix("0x")) if text.startswith("0x") else b""
