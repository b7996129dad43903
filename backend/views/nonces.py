"""A signer's next EIP-712 nonce, as the index sees it at its checkpoint, plus the relayer's own pending actions.

The index stores every ``NonceUsed`` (``backend.db.models``), so the next nonce is the largest spent
one + 1, at the index's block; the node is not asked. A relayed action the index does not hold yet
(pending, or mined above the checkpoint) is known from the relayer's record of what it sent: its
nonce wins while it is ahead of the index's, and the index wins once it has caught up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.db import queries
from backend.db.write import get_meta


class IndexNotReady(RuntimeError):
    """The index is not (yet) of the deployment the route answers for."""


def nonce_document(session: Session, signer: str, board: str, pending: tuple[int, str] | None) -> dict[str, Any]:
    """The nonce ``signer``'s next signed action must carry on ``board``; ``pending``: (next nonce, tx) relayed."""
    meta = get_meta(session.connection())
    if meta.get("contract_address", "").lower() != board.lower() or "indexed_block" not in meta:
        raise IndexNotReady(f"the index has not caught up with the Board at {board} yet: try again in a few seconds")
    last = queries.last_nonce(session, signer)
    indexed = 0 if last is None else last + 1
    ahead = pending is not None and pending[0] > indexed  # older entries lost to the index: it has their actions
    return {
        "address": signer,
        "nonce": pending[0] if ahead and pending else indexed,
        "indexed_nonce": indexed,
        "indexed_block": int(meta["indexed_block"]),
        "pending_tx": pending[1] if ahead and pending else None,
    }
