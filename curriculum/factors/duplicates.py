"""Duplicate weighting: each copy of a row with `copies` copies gets copies^(-alpha) of the sampling weight."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..copies import CopyGroups
from .base import Factor, RowData

__all__ = ["DuplicateWeights"]


class DuplicateWeights(Factor):
    """The groups of copies of the rows and their weights, on whenever the rows share scores (`share_scores` other
    than `"none"`). A group of copies is the rows with one prompt (`duplicate_key="prompt"`, when the prompts are
    known) or one content; `copies_of[i]` is the first row of row i's group, `duplicate[i]` whether row i shares its
    score with an earlier row. Both groupings are held sparsely ([`~curriculum.copies.CopyGroups`]) and the per-row
    arrays computed when asked for. Static: it observes nothing and has no state."""

    name = "duplicates"

    def __init__(self, shared: CopyGroups, copies_of: np.ndarray | None, alpha: float) -> None:
        self.shared = shared  # the rows sharing one score (one content)
        self.copies = shared if copies_of is None else CopyGroups(copies_of)
        self.alpha = alpha
        self.distinct = self.copies.num_groups  # groups of copies

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "DuplicateWeights | None":
        if rows.sharing is None:
            return None
        return cls(rows.sharing.copies, rows.copies_of, config.duplicate_alpha)

    @property
    def copies_of(self) -> np.ndarray:
        """Per row, the first row of its group of copies (a new int64 array)."""
        return self.copies.first()

    @property
    def duplicate(self) -> np.ndarray:
        """Per row, whether it shares its score with an earlier row (a new boolean array)."""
        return self.shared.copies()

    @property
    def weights(self) -> np.ndarray:
        """Per row, copies^(-alpha) with `copies` the rows of its group (a new float64 array)."""
        c = self.copies
        # 1 / copies exactly for the default alpha = 1 (a power can differ in the last bit).
        per_group = 1.0 / c.counts if self.alpha == 1.0 else c.counts.astype(np.float64) ** -self.alpha
        out = np.ones(c.num_rows)
        out[c.members] = per_group[c.group]
        return out

    def row_factor(self, scores: Any) -> np.ndarray:
        return self.weights
