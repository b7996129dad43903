"""Opaque listing cursors: base64url of compact JSON naming the listing and the last row seen.

Decoded, a cursor reads ``{"listing": ..., "tier": 0, "key": sort key, "id": last id}``
(plus ``"window"``, the start of a top window, and ``"shown"``, replies shown before,
where they apply): the keyset a listing resumes after, so new posts arriving between
pages never make a page skip or repeat a post. The code handles the payload by the
short names of ``_NAMES`` (one letter each); only the encoded form spells them out.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

# payload name in code -> the name a decoded cursor shows
_NAMES = {"l": "listing", "t": "tier", "k": "key", "i": "id", "w": "window", "n": "shown"}
_SHORT = {name: short for short, name in _NAMES.items()}

MALFORMED_CURSOR = "cursor: malformed; pass next_cursor back exactly as it was given"


class BadCursor(ValueError):
    """A cursor that this listing did not make; the message says what is wrong (a 422)."""


def encode_cursor(payload: dict[str, Any]) -> str:
    """Opaque cursor: base64url of compact JSON, without padding."""
    raw = json.dumps({_NAMES.get(k, k): v for k, v in payload.items()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, listing: str) -> dict[str, Any]:
    """The payload of ``cursor``, checked to belong to ``listing``; BadCursor otherwise."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(MALFORMED_CURSOR) from exc
    if not isinstance(payload, dict) or not set(payload) <= set(_SHORT):
        raise BadCursor(MALFORMED_CURSOR)
    payload = {_SHORT[name]: value for name, value in payload.items()}
    if payload.get("l") != listing:
        raise BadCursor(f"cursor: made for another listing, not {listing}")
    if not (is_int(payload.get("i")) and payload.get("t") in (0, 1) and _is_number(payload.get("k", 0))):
        raise BadCursor(MALFORMED_CURSOR)
    if "w" in payload and not is_int(payload["w"]):
        raise BadCursor(MALFORMED_CURSOR)
    return payload


def is_int(value: Any) -> bool:
    """True for an int that fits a signed 64-bit column (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62


def _is_number(value: Any) -> bool:
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))
