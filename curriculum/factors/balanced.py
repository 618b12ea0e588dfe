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
    its generation is spent for no gradient (Bae et al. 2025: the expected improvement is bounded below by p(1-p)).
    With task shares, each task's share is also multiplied by its rows' mean factor (then renormalised): a task that
    every completion solves, or none does, gives its share to the tasks whose groups train, down to what
    `uniform_mix` gives every row."""

    name = "balanced"

    def __init__(self, rows: RowData) -> None:
        self.rows = rows
        self._last: np.ndarray | None = None  # the row factor of the current refresh, for `share_factor`

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "BalancedFiltering | None":
        if config.signal != "pass_rate" or not config.balanced_filtering or rows.num_generations < 2:
            return None
        return cls(rows)

    def row_factor(self, scores: Any) -> np.ndarray:
        r = self.rows
        p = predicted_pass_rate(scores, r.num_generations, r.groups, r.sharing)
        self._last = np.maximum(balanced_weight(p, r.num_generations), FLOOR)
        return self._last

    def share_factor(self, scores: Any) -> np.ndarray | None:
        r = self.rows
        if r.groups is None:
            return None
        weights = self._last if self._last is not None else self.row_factor(scores)
        total = np.bincount(r.groups, weights=weights, minlength=r.num_groups)
        return total / np.maximum(np.bincount(r.groups, minlength=r.num_groups), 1)
