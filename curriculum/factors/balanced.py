"""Balanced filtering: weight each prompt by the chance that its group of completions has a non-zero advantage."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..pass_rate import balanced_weight, predicted_pass_rate
from .base import Factor, RowData

__all__ = ["BalancedFiltering"]

# The least factor: a prompt predicted all-pass or all-fail keeps a thousandth of the best one's kernel weight.
FLOOR = 1e-3


class BalancedFiltering(Factor):
    """With `signal="pass_rate"` and `balanced_filtering` (the default): a prompt's weight is multiplied by
    `1 - p^G - (1 - p)^G`, `p` its predicted pass rate ([`~curriculum.pass_rate.predicted_pass_rate`]) and `G` the
    completions per prompt. A prompt every completion solves, or none does, gives GRPO a group with zero advantage:
    its generation is spent for no gradient (Bae et al. 2025: the expected improvement is bounded below by p(1-p))."""

    name = "balanced"

    def __init__(self, rows: RowData) -> None:
        self.rows = rows

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "BalancedFiltering | None":
        if config.signal != "pass_rate" or not config.balanced_filtering or rows.num_generations < 2:
            return None
        return cls(rows)

    def row_factor(self, scores: Any) -> np.ndarray:
        r = self.rows
        p = predicted_pass_rate(scores, r.num_generations, r.groups, r.sharing)
        return np.maximum(balanced_weight(p, r.num_generations), FLOOR)
