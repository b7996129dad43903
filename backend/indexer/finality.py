"""Which block the indexer may index up to: the head less confirmations, or the node's ``safe``/``finalized`` block.

``INDELIBLE_FINALITY`` picks the rule. Chains with proof-of-stake finality (and the L2s that
follow one) name their ``safe`` and ``finalized`` blocks; on a node that does not know the tag
the rule falls back to the head less ``INDELIBLE_CONFIRMATIONS`` and says so. Whatever the rule,
a reorg that replaces indexed blocks is still followed: the indexer checks its tip's hash.
"""

from __future__ import annotations

import logging

from backend.config import FINALITY_RULES
from backend.indexer.rpc import Rpc, RpcError

log = logging.getLogger(__name__)

RULES = FINALITY_RULES


class Finality:
    """The target block of each step, by the operator's rule."""

    def __init__(self, rule: str, confirmations: int) -> None:
        if rule not in RULES:
            raise ValueError(f"INDELIBLE_FINALITY must be one of {', '.join(RULES)}, not {rule!r}")
        self.rule = rule
        self.confirmations = confirmations
        self.tag_missing = False  # the node did not know the tag: the head less confirmations is used instead

    @property
    def in_force(self) -> str:
        """The rule as /status states it."""
        fallback = f"head minus {self.confirmations} confirmations"
        if self.rule == "confirmations":
            return fallback
        if self.tag_missing:
            return f"{fallback} (the node has no '{self.rule}' block)"
        return f"the node's '{self.rule}' block"

    def target(self, rpc: Rpc, head: int) -> int:
        """The highest block to index now, ``head`` being the node's latest."""
        if self.rule == "confirmations" or self.tag_missing:
            return head - self.confirmations
        try:
            header = rpc.call("eth_getBlockByNumber", self.rule, False)
        except RpcError as exc:
            if exc.code is None:
                raise  # the node is down or busy: not an answer about the tag
            header = None
        if not isinstance(header, dict) or "number" not in header:
            log.warning("the node has no %r block: indexing up to the head minus %d", self.rule, self.confirmations)
            self.tag_missing = True
            return head - self.confirmations
        return min(head, int(header["number"], 16))
