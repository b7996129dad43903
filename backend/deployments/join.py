"""Join a Board by its address alone: prove the code there is our Board, find its deployment block, record it.

A stranger knows a node URL and a Board address, not our ``deployments.json``. Before indexing an address no
record names, the node compares the runtime code there with the compiled Board (``code.check_code``).
Identical executable code with other metadata is accepted, and recorded as such, because the code alone decides
behaviour. The immutables masked there are then checked one by one: ``eip712Domain()`` must name our domain,
version, chain and the address itself (so a Board built from another source version is refused whether its code
or only its EIP-712 version differs), and every immutable read out of the code must hold the value it must have
for this address and chain (``code.expected_immutables``): Board's code copied with the cached address or
separator of another Board would accept that Board's signatures, while ``eip712Domain()`` names it honestly.
Last, ``DOMAIN_SEPARATOR()`` must equal the separator computed here.
"""

from __future__ import annotations

import logging
from typing import Any

from eth_abi.abi import decode
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3

from backend import eip712
from backend.config import Settings
from backend.deployments.code import (
    IMMUTABLE_MEANINGS,
    check_code,
    immutable_references,
    load_artifact,
    wrong_immutables,
)
from backend.deployments.records import (
    DeploymentError,
    genesis_hash,
    load_records,
    make_record,
    record_deployment,
    records_locked,
)

log = logging.getLogger(__name__)

EIP712_DOMAIN_SELECTOR = "0x84b0196e"  # eip712Domain() of ERC-5267
DOMAIN_SEPARATOR_SELECTOR = "0x" + Web3.keccak(text="DOMAIN_SEPARATOR()")[:4].hex()
EIP712_DOMAIN_TYPES = ["bytes1", "string", "string", "uint256", "address", "bytes32", "uint256[]"]


class JoinError(DeploymentError):
    """The code at the address is not a Board this node can index; the message names what was found."""


def eip712_domain(w3: Web3, address: ChecksumAddress, block: int) -> tuple[str, str, int, str] | None:
    """(name, version, chain id, verifying contract) from ``eip712Domain()`` at ``block``, or None when it has none."""
    try:
        raw = w3.eth.call({"to": address, "data": HexStr(EIP712_DOMAIN_SELECTOR)}, block)
        fields = decode(EIP712_DOMAIN_TYPES, bytes(raw))
    except Exception:  # no such function, or it returns something else: not an EIP-712 contract of ours
        return None
    return str(fields[1]), str(fields[2]), int(fields[3]), Web3.to_checksum_address(fields[4])


def domain_separator_at(w3: Web3, address: ChecksumAddress, block: int) -> bytes | None:
    """What ``DOMAIN_SEPARATOR()`` returns at ``block``, or None when the call fails."""
    try:
        raw = bytes(w3.eth.call({"to": address, "data": HexStr(DOMAIN_SEPARATOR_SELECTOR)}, block))
    except Exception:  # a revert or no such function: the caller refuses it as not ours
        return None
    return raw if len(raw) == 32 else None


def deployment_block(w3: Web3, address: ChecksumAddress, head: int) -> int:
    """The first block whose state holds code at ``address``: binary search over ``eth_getCode``."""
    low, high = 0, head  # code is there at ``high``, and (if anywhere) not before ``low``
    while low < high:
        middle = (low + high) // 2
        if len(w3.eth.get_code(address, middle)) > 0:
            high = middle
        else:
            low = middle + 1
    return low


def creation_transaction(w3: Web3, address: ChecksumAddress, block_number: int) -> str:
    """The transaction of ``block_number`` that created ``address``, or "" (created by another contract)."""
    block = w3.eth.get_block(block_number, full_transactions=True)
    for tx in block["transactions"]:
        if isinstance(tx, bytes) or tx.get("to") is not None:
            continue
        receipt = w3.eth.get_transaction_receipt(tx["hash"])
        if (receipt.get("contractAddress") or "").lower() == address.lower():
            return Web3.to_hex(tx["hash"])
    return ""


def inspect(w3: Web3, given: str) -> dict[str, Any]:
    """Check that ``address`` holds our Board and find its deployment: the record to write, with ``joined``.

    Raises JoinError naming what was found when it is not.
    """
    if not Web3.is_address(given):
        raise JoinError(f"{given!r} is not an address (0x and 40 hex digits)")
    address = Web3.to_checksum_address(given)
    chain_id = int(w3.eth.chain_id)
    head = int(w3.eth.block_number)
    code = bytes(w3.eth.get_code(address, head))
    where = f"at {address} on chain {chain_id} (block {head})"
    if not code:
        raise JoinError(f"no code {where}: nothing is deployed there, or it is an account; check the address and chain")
    check = check_code(code)
    domain = eip712_domain(w3, address, head)
    if not check.matches:
        if domain is not None and domain[0] == eip712.DOMAIN_NAME:
            raise JoinError(
                f"the code {where} is a Board compiled from another source version (EIP-712 domain "
                f"{domain[0]!r} version {domain[1]!r}; its code differs from this node's from byte "
                f"{check.first_difference}): this node runs version {eip712.DOMAIN_VERSION}"
            )
        raise JoinError(
            f"other code {where}: {len(code)} bytes, keccak {check.code_hash}; it is not a Board (it differs from "
            f"Board's compiled code from byte {check.first_difference})"
        )
    expected_domain = (eip712.DOMAIN_NAME, eip712.DOMAIN_VERSION, chain_id, address)
    if domain != expected_domain:
        # the masked immutables are EIP-712's name, version, chain id and address: they must be ours
        raise JoinError(
            f"the code {where} is a Board compiled from another source version: its EIP-712 domain is {domain}, "
            f"this node's is {expected_domain}"
        )
    wrong = wrong_immutables(code, chain_id, address)
    if wrong:
        # Board's code with one of EIP-712's cached values of another deployment: eip712Domain() reads the live
        # chain id and address(this), but signatures are checked against the cached separator
        name, found, expected = wrong[0]
        raise JoinError(
            f"the code {where} is Board's code with a wrong immutable: {name} ({IMMUTABLE_MEANINGS[name]}) is "
            f"{found}, but must be {expected} for this address and chain; it is a look-alike that would accept "
            f"signatures made for another Board"
            + (f" (wrong too: {', '.join(n for n, _, _ in wrong[1:])})" if len(wrong) > 1 else "")
        )
    separator = domain_separator_at(w3, address, head)
    if separator != eip712.domain_separator(chain_id, address):
        raise JoinError(
            f"the Board {where} answers DOMAIN_SEPARATOR() with {Web3.to_hex(separator) if separator else None}, "
            f"not {Web3.to_hex(eip712.domain_separator(chain_id, address))}, this address and chain's"
        )
    if not check.metadata_matches:
        log.warning("the Board %s has Board's executable code but other metadata (source hash): joining", where)
    block_number = deployment_block(w3, address, head)
    block = w3.eth.get_block(block_number)
    return make_record(
        w3,
        address=address,
        block_number=block_number,
        block_hash=Web3.to_hex(block["hash"]),
        tx_hash=creation_transaction(w3, address, block_number),
        abi=load_artifact()["abi"],
        code_check={
            "code_hash": check.code_hash,
            "immutables_masked": check.masked,
            "immutables_checked": sorted(immutable_references()),  # each holds what this address and chain need
            "metadata": "same" if check.metadata_matches else "differs",
        },
    )


def join(w3: Web3, settings: Settings, address: str) -> tuple[dict[str, Any], bool]:
    """The record of the Board at ``address`` on the node's chain, joined and recorded unless already there.

    Returns (record, newly recorded).
    """
    path = settings.deployments_path
    chain_id, genesis = int(w3.eth.chain_id), genesis_hash(w3)
    with records_locked(path):
        for record in reversed(load_records(path)):
            same_chain = int(record["chain_id"]) == chain_id and record.get("genesis_hash", genesis) == genesis
            if same_chain and str(record["address"]).lower() == address.lower():
                return record, False
        record = inspect(w3, address)
        record_deployment(path, record)
    log.info("joined the Board at %s on chain %s, deployed in block %s", address, chain_id, record["block_number"])
    return record, True
