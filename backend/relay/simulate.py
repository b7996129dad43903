"""Simulation: run the call against the pending state before paying for it; the gas it needs, or why it fails.

An action that follows a pending relayed one of the same signer is simulated with ``eth_call`` and a
state override of the signer's slot in the Board's ``nonces`` mapping (found once by probing), because
``eth_estimateGas`` takes no state override on every node (Ganache 7 refuses a third parameter).
"""

from __future__ import annotations

import time
from typing import Any

from eth_typing import HexStr
from eth_utils.crypto import keccak
from requests import RequestException
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, Web3Exception, Web3RPCError
from web3.types import StateOverride

from backend.relay.errors import ContractErrors, RelayError

# the gas an action simulated with an override is given: above any signed action's gas (bench/gas.py)
BOUND_TX_GAS, BOUND_ITEM_GAS = 60_000, 150_000
_UNPROBED = -1
PROBE_RETRIES = (0.25, 0.5, 1.0)  # seconds before each new try of a probe call the node did not answer
RATE_LIMITED_CODES = {429, -32005}  # JSON-RPC error codes of hosted nodes for "too many requests"
_TRANSIENT_WORDS = ("rate limit", "too many", "timeout", "timed out", "try again", "unavailable", "busy")


class NonceSlot:
    """The storage slot of the Board's ``nonces`` mapping, found once by overriding candidates and reading back."""

    def __init__(self, board: Contract) -> None:
        self.board = board
        self._slot: int | None = _UNPROBED  # None: the node takes no state override

    def override(self, nonces: dict[str, int]) -> StateOverride | None:
        """An eth_call state override setting ``nonces[signer]``; None when the node takes no overrides."""
        slot = self.find()
        if slot is None:
            return None
        diff = {
            mapping_slot(signer, slot): HexStr("0x" + nonce.to_bytes(32, "big").hex())
            for signer, nonce in nonces.items()
        }
        return {self.board.address: {"stateDiff": diff}}

    def find(self) -> int | None:
        """The slot, probed on first use; RelayError 503 while the node does not answer (probed again next time)."""
        if self._slot == _UNPROBED:
            probe = Web3.to_checksum_address(keccak(text="indelible nonce slot probe")[-20:])
            found: int | None = None
            for slot in range(16):
                override: StateOverride = {
                    self.board.address: {"stateDiff": {mapping_slot(probe, slot): HexStr("0x" + "00" * 31 + "2a")}}
                }
                try:
                    if self._probe(probe, override) == 42:
                        found = slot
                        break
                except (Web3Exception, ValueError):
                    break  # the node refuses state overrides
            self._slot = found
        return self._slot

    def _probe(self, probe: str, override: StateOverride) -> int:
        """One probe call, tried again after a timeout or a rate limit; 503 if the node never answers it."""
        attempt = 0
        while True:
            try:
                return int(self.board.functions.nonces(probe).call({}, "latest", override))
            except (RequestException, Web3RPCError) as exc:
                if not transient(exc):
                    raise
                if attempt == len(PROBE_RETRIES):
                    raise RelayError(
                        f"the node did not answer the relayer's storage probe ({type(exc).__name__}): try again",
                        status_code=503,
                        retry_after=5,
                    ) from exc
                time.sleep(PROBE_RETRIES[attempt])
                attempt += 1


def transient(exc: Exception) -> bool:
    """Whether the node failed to answer (timeout, connection, HTTP error, rate limit), not refused the call."""
    if isinstance(exc, RequestException):
        return True
    if isinstance(exc, Web3RPCError):
        error = (exc.rpc_response or {}).get("error")
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message", "") if isinstance(error, dict) else exc).lower()
        return code in RATE_LIMITED_CODES or any(word in message for word in _TRANSIENT_WORDS)
    return False


def simulate(
    call: Any, sender: str, overrides: dict[str, int], items: int, slot: NonceSlot, errors: ContractErrors
) -> int:
    """Run the call against the pending state; the gas it needs, or RelayError with the contract's reason."""
    try:
        if not overrides:
            try:
                return int(call.estimate_gas({"from": sender}, "pending"))
            except (ContractCustomError, ContractLogicError):
                call.call({"from": sender}, "pending")  # Ganache's estimate drops the revert data; a call has it
                raise
        override = slot.override(overrides)
        if override is None:
            raise RelayError(
                "this node cannot simulate an action that follows a pending one: send it after that is mined",
                status_code=409,
            )
        call.call({"from": sender}, "pending", override)
        return BOUND_TX_GAS + BOUND_ITEM_GAS * items
    except ContractCustomError as exc:
        raise errors.refusal(exc) from exc
    except ContractLogicError as exc:
        raise RelayError(f"the contract refused it: {exc.message or exc}") from exc


def mapping_slot(key: str, slot: int) -> HexStr:
    """The storage slot of ``mapping(address => ...)[key]`` declared at ``slot`` (Solidity's layout)."""
    return Web3.to_hex(keccak(bytes.fromhex(key[2:].rjust(64, "0")) + slot.to_bytes(32, "big")))
