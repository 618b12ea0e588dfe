"""Revisit penalty: rows (or groups of copies) visited more than the mean are drawn less."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Factor, RowData

__all__ = ["RevisitPenalty"]


class RevisitPenalty(Factor):
    """Each row's factor exp(-revisit_penalty x v / max(1, v_mean)), on with `revisit_penalty > 0`: v the visits of
    its group of copies (the row alone without score sharing), v_mean the mean of v over the groups."""

    name = "revisit"

    def __init__(self, penalty: float, num_rows: int, duplicates: Any = None) -> None:
        self.penalty = penalty
        self.duplicates = duplicates
        self.distinct = num_rows if duplicates is None else duplicates.distinct

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "RevisitPenalty | None":
        if config.revisit_penalty <= 0:
            return None
        return cls(config.revisit_penalty, rows.num_rows, built.get("duplicates"))

    def row_factor(self, scores: Any) -> np.ndarray:
        visits = scores.count.astype(np.float64)
        mean = float(visits.sum()) / self.distinct
        if self.duplicates is not None:
            visits = self.duplicates.copies.group_sum(visits)
        visits *= -self.penalty / max(1.0, mean)
        return np.exp(visits, out=visits)
