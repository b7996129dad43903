"""The relay's wording: ``RelayError`` (an HTTP status and a sentence), and the contract's custom errors in words."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_typing import ABIError
from eth_utils.crypto import keccak
from web3.exceptions import ContractCustomError

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


class ContractErrors:
    """The Board's custom errors by selector, told as sentences."""

    def __init__(self, abi: Sequence[Any]) -> None:
        self._errors: dict[bytes, ABIError] = {
            keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4]: e
            for e in abi
            if e["type"] == "error"
        }

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

    def refusal(self, exc: ContractCustomError) -> RelayError:
        """The 400 for a custom error the node reported."""
        return RelayError(self.explain(revert_data(exc)))


def revert_data(exc: ContractCustomError) -> bytes:
    """The raw revert data web3 carries in ``exc`` (empty when it has none)."""
    data = exc.data if isinstance(exc.data, str) else exc.args[0] if exc.args else ""
    text = str(data)
    return bytes.fromhex(text.removeprefix("0x")) if text.startswith("0x") else b""


def gwei(wei: int) -> str:
    """``wei`` in gwei, for messages."""
    return f"{wei / 10**9:.9g} gwei"


def at(timestamp: float) -> str:
    """A wall-clock time for messages."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def wait_words(wait: float, need: float) -> str:
    """The end of a 429's sentence: when to try again, or that the request can never fit."""
    if math.isinf(wait):
        return f"; this request needs {need:g}, more than that: send fewer items"
    return f"; try again in {math.ceil(wait)} s"
