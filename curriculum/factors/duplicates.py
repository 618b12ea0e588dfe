"""Duplicate weighting: each copy of a row with `copies` copies gets copies^(-alpha) of the sampling weight."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Factor, RowData

__all__ = ["DuplicateWeights"]


class DuplicateWeights(Factor):
    """The groups of copies of the rows and their weights, on whenever the rows share scores (`share_scores` other
    than `"none"`). A group of copies is the rows with one prompt (`duplicate_key="prompt"`, when the prompts are
    known) or one content; `copies_of[i]` is the first row of row i's group, `duplicate[i]` whether row i shares its
    score with an earlier row. Static: it observes nothing and has no state."""

    name = "duplicates"

    def __init__(self, canonical: np.ndarray, copies_of: np.ndarray | None, alpha: float) -> None:
        num_rows = len(canonical)
        self.duplicate = canonical != np.arange(num_rows)
        self.copies_of = first = canonical if copies_of is None else np.asarray(copies_of, dtype=np.int64)
        per_first = np.bincount(first, minlength=num_rows)
        self.distinct = int(np.count_nonzero(per_first))  # groups of copies
        copies = per_first[first]
        # 1 / copies exactly for the default alpha = 1 (a power can differ in the last bit).
        self.weights = 1.0 / copies if alpha == 1.0 else copies.astype(np.float64) ** -alpha

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "DuplicateWeights | None":
        if rows.sharing is None:
            return None
        return cls(rows.sharing.canonical, rows.copies_of, config.duplicate_alpha)

    def row_factor(self, scores: Any) -> np.ndarray:
        return self.weights
