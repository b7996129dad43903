"""Decode: raw Board logs -> small typed events (pure; no web3 formatting, no I/O).

The event layout is fixed by the contract's interface: indexed arguments are
topics, the rest are 32-byte words of ``data``. Anything that does not fit
raises MalformedLog, which the caller logs with the tx hash and skips.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

log = logging.getLogger(__name__)

POST_CREATED = "0x" + keccak(text="PostCreated(uint256,uint256,address,bytes32)").hex()
VOTE_CAST = "0x" + keccak(text="VoteCast(uint256,address,int8,uint128,uint128)").hex()
NONCE_USED = "0x" + keccak(text="NonceUsed(address,uint256)").hex()
# the events the index stores, and so the only ones asked of the node (NonceUsed: /api/nonces answers from the index)
TOPICS = (POST_CREATED, VOTE_CAST, NONCE_USED)
_HASH = re.compile(r"0x[0-9a-f]{64}")  # a block or tx hash as stored (HASH columns are 66 characters)
# ids and tallies are stored in signed 64-bit columns (BIGINT); the contract counts up from 1, so a value past
# this is a forged log that would fail the range's transaction in the driver: refuse it here as malformed
_STORABLE_BITS = 63
_STORABLE = 1 << _STORABLE_BITS


class MalformedLog(ValueError):
    """A log that is not one of Board's events as the interface defines them."""


@dataclass(frozen=True)
class LogPosition:
    """Where a log sits on chain: its identity for idempotent writes and rollbacks."""

    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class PostCreated:
    """A post; ``parent_id`` 0 is a top-level post."""

    at: LogPosition
    post_id: int
    parent_id: int
    author: str
    digest: bytes


@dataclass(frozen=True)
class VoteCast:
    """A vote and the post's tallies after it."""

    at: LogPosition
    post_id: int
    voter: str
    direction: int
    upvotes: int
    downvotes: int


@dataclass(frozen=True)
class NonceUsed:
    """A signed action spent ``nonce`` of ``signer``: the signer's next one is ``nonce + 1``."""

    at: LogPosition
    signer: str
    nonce: int


Event = PostCreated | VoteCast | NonceUsed


@lru_cache(maxsize=65536)
def _address(topic: str) -> str:
    raw = bytes.fromhex(topic[2:])
    if len(raw) != 32 or any(raw[:12]):
        raise MalformedLog(f"topic {topic} is not an address")
    return to_checksum_address(raw[12:])


def _uint(topic: str, bits: int = 256) -> int:
    value = int(topic, 16)
    if value >= 1 << bits:
        raise MalformedLog(f"{topic} does not fit uint{bits}")
    return value


def _expect_words(digits: str, count: int) -> None:
    """MalformedLog unless ``digits`` (data without 0x) is ``count`` 32-byte words of hex digits."""
    if len(digits) != 64 * count:
        raise MalformedLog(f"data has {len(digits) // 2} bytes, expected {32 * count}")


def _signed(word: str) -> int:
    value = int(word, 16)
    return value - (1 << 256) if value >> 255 else value


def position(log: dict[str, Any]) -> LogPosition:
    """The log's block, tx and index; ValueError for a hash that is not 0x + 64 hex (no row could hold it)."""
    at = LogPosition(
        int(log["blockNumber"], 16), str(log["blockHash"]).lower(), str(log["transactionHash"]).lower(),
        int(log["logIndex"], 16),
    )  # fmt: skip
    if not (_is_hash(at.block_hash) and _is_hash(at.tx_hash)):
        raise ValueError(f"block hash {at.block_hash[:80]!r} or tx hash {at.tx_hash[:80]!r} is not 0x + 64 hex")
    return at


# hashes seen valid lately: a range's logs share a few block and transaction hashes (hundreds of logs each)
_HASHES: set[str] = set()
_HASHES_KEPT = 4096


def _is_hash(text: str) -> bool:
    """``text`` is 0x + 64 lower-case hex digits (remembered in _HASHES when it is)."""
    if text in _HASHES:
        return True
    if not _HASH.fullmatch(text):
        return False
    if len(_HASHES) >= _HASHES_KEPT:
        _HASHES.clear()
    _HASHES.add(text)
    return True


def decode_log(log: dict[str, Any]) -> Event:
    """One raw ``eth_getLogs`` entry as an event; MalformedLog when it does not fit."""
    try:
        topics = [str(t).lower() for t in log["topics"]]
        at = position(log)
        data = str(log["data"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedLog(f"log fields missing or malformed: {exc}") from exc
    if not topics:
        raise MalformedLog("log without topics")
    try:
        return _decode(topics, data, at)
    except (ValueError, IndexError) as exc:
        raise MalformedLog(str(exc)) from exc


def _decode(topics: list[str], data: str, at: LogPosition) -> Event:
    kind, count = topics[0], len(topics)
    digits = data[2:] if data.startswith("0x") else data
    if kind == POST_CREATED and count == 4:
        _expect_words(digits, 1)
        post_id, parent_id = _uint(topics[1], _STORABLE_BITS), _uint(topics[2], _STORABLE_BITS)
        return PostCreated(at, post_id, parent_id, _address(topics[3]), bytes.fromhex(digits))
    if kind == VOTE_CAST and count == 3:
        _expect_words(digits, 3)
        direction = _signed(digits[:64])
        if direction not in (-1, 0, 1):
            raise MalformedLog(f"vote direction {direction} is not -1, 0 or 1")
        upvotes, downvotes = int(digits[64:128], 16), int(digits[128:], 16)
        if upvotes >= _STORABLE or downvotes >= _STORABLE:
            raise MalformedLog(f"tally does not fit int{_STORABLE_BITS + 1}")
        return VoteCast(at, _uint(topics[1], _STORABLE_BITS), _address(topics[2]), direction, upvotes, downvotes)
    if kind == NONCE_USED and count == 2:
        _expect_words(digits, 1)
        return NonceUsed(at, _address(topics[1]), _uint("0x" + digits, _STORABLE_BITS))
    raise MalformedLog(f"unknown event topic {kind} with {count} topics")


def decode_logs(logs: list[dict[str, Any]]) -> tuple[list[Event], int]:
    """The events of a range's raw logs, and how many were malformed (each logged with its tx hash, then skipped)."""
    events: list[Event] = []
    malformed = 0
    for raw in logs:
        if raw.get("removed"):
            continue
        try:
            events.append(decode_log(raw))
        except MalformedLog as exc:
            malformed += 1
            log.warning("skipping malformed log in tx %s: %s", raw.get("transactionHash"), exc)
    return events, malformed
