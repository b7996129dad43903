"""The reader's lens: whose votes fold and rank posts for this one reader (docs/ranking.md).

A lens is chosen per request (query parameters, or the pages' ``lens`` cookie) and never stored by
the server. ``default`` counts only votes of voters active before the post; ``all`` counts every
vote; ``never`` ranks like ``default`` and folds nothing. ``fold`` is the reader's own threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

LensName = Literal["default", "all", "never"]
LENS_NAMES: tuple[str, ...] = get_args(LensName)
LENS_COOKIE = "lens"  # holds only the lens's name
FOLD_MIN, FOLD_MAX = -1_000_000_000, 1_000_000_000  # a reader's fold threshold

EXPLAIN = {
    "default": "Votes count only when the voter was active on the Board before the post was written.",
    "all": "Every vote counts, however new the account that cast it.",
    "never": "Nothing is folded; posts are ranked as under the default lens.",
}


@dataclass(frozen=True)
class ReaderLens:
    """One reader's lens: its name and the score at or below which posts fold (None: nothing folds)."""

    name: LensName
    threshold: int | None

    @property
    def counted(self) -> bool:
        """Whether rankings and folds use the counted tallies (every lens but ``all``)."""
        return self.name != "all"


def make_lens(name: str, fold: int | None, default_threshold: int) -> ReaderLens:
    """The lens named ``name`` (one of LENS_NAMES) with the reader's ``fold`` threshold, or the board's."""
    chosen: LensName = "all" if name == "all" else "never" if name == "never" else "default"
    if chosen == "never":
        return ReaderLens(chosen, None)
    return ReaderLens(chosen, default_threshold if fold is None else fold)
