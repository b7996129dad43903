"""Ranking functions: pure, so that the indexer stores them and docs/ranking.md can cite them.

``hot`` and ``controversial`` follow reddit's published formulas; ``wilson`` is
the lower bound of the Wilson score interval used to order replies ("best").
"""

from __future__ import annotations

import math

# 80% confidence, as reddit's "best" sort
WILSON_Z = 1.281551565545
# seconds for a tenfold score to be worth the same as being 12.5 hours newer
HOT_DECAY_SECONDS = 45000


def hot(upvotes: int, downvotes: int, created_at: int) -> float:
    """sign(s) * log10(max(|s|, 1)) + t / 45000, with s = up - down and t = created_at in seconds."""
    score = upvotes - downvotes
    sign = (score > 0) - (score < 0)
    return sign * math.log10(max(abs(score), 1)) + created_at / HOT_DECAY_SECONDS


def controversial(upvotes: int, downvotes: int) -> float:
    """(up + down) ** (min / max): many votes split evenly rank highest; 0 when either side is 0."""
    if upvotes <= 0 or downvotes <= 0:
        return 0.0
    balance = min(upvotes, downvotes) / max(upvotes, downvotes)
    return float((upvotes + downvotes) ** balance)


def wilson(upvotes: int, downvotes: int, z: float = WILSON_Z) -> float:
    """Lower bound of the Wilson score interval for the share of upvotes; 0 with no votes."""
    n = upvotes + downvotes
    if n <= 0:
        return 0.0
    phat = upvotes / n
    z2 = z * z
    centre = phat + z2 / (2 * n)
    spread = z * math.sqrt((phat * (1 - phat) + z2 / (4 * n)) / n)
    return (centre - spread) / (1 + z2 / n)
