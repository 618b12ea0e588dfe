"""Difficulty in [0, 1]: the quantile rank of a per-row signal, within groups, with a prior for unseen rows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .scores import ScoreTable
from .sharing import ScoreSharing

__all__ = ["Difficulty", "encode_groups", "quantile_rank"]


def quantile_rank(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Quantile rank in [0, 1] of each value within its group; NaN stays NaN, ties share their mean rank.

    A group with a single finite value ranks it 0.5. O(n log n).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.difficulty import quantile_rank
    >>> quantile_rank(np.array([3.0, 1.0, np.nan, 2.0, 5.0]), np.array([0, 0, 0, 1, 1])).tolist()
    [1.0, 0.0, nan, 0.0, 1.0]
    ```
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(values))
    if idx.size == 0:
        return out
    v = values[idx]
    g = np.zeros(idx.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)[idx]
    order = np.lexsort((v, g))
    sv, sg = v[order], g[order]
    n = idx.size
    pos = np.arange(n, dtype=np.float64)
    # Mean position of each run of ties (same group and value).
    new_run = np.r_[True, (np.diff(sv) != 0) | (np.diff(sg) != 0)]
    run = np.cumsum(new_run) - 1
    run_mean = np.bincount(run, weights=pos) / np.bincount(run)
    # Start and size of each group in sorted order.
    new_group = np.r_[True, np.diff(sg) != 0]
    group_id = np.cumsum(new_group) - 1
    group_start = np.flatnonzero(new_group)
    group_size = np.bincount(group_id)
    size = group_size[group_id]
    rank = np.where(size > 1, (run_mean[run] - group_start[group_id]) / np.maximum(size - 1, 1), 0.5)
    out[idx[order]] = rank
    return out


def encode_groups(labels: Sequence) -> np.ndarray:
    """Integer codes for arbitrary (hashable) group labels, in order of first appearance."""
    codes: dict = {}
    return np.fromiter((codes.setdefault(x, len(codes)) for x in labels), dtype=np.int64, count=len(labels))


class Difficulty:
    r"""
    Computes every row's difficulty from a [`ScoreTable`].

    A row trained on takes the quantile rank of its signal among the trained rows of its group. A row never trained
    on takes the quantile rank of its prior value within its group if a prior is given, else 0.5 (the median).

    Args:
        signal (`str`, *optional*, defaults to `"loss"`):
            `"loss"`, `"confidence"` (ranks 1 - confidence), `"learnability"` (first loss - current loss) or
            `"rho"` (current loss - `reference`).
        groups (`np.ndarray` or `None`, *optional*):
            Integer group code per row (see [`encode_groups`]); ranks are computed within each group.
        prior (`np.ndarray` or `None`, *optional*):
            Numeric prior per row, higher = harder (for example an offline score column).
        reference (`np.ndarray` or `None`, *optional*):
            Reference loss per row, for `signal="rho"`.
        sharing ([`~curriculum.sharing.ScoreSharing`] or `None`, *optional*):
            Shares the signal between duplicates and passes it on to unseen near-duplicates before ranking.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import ScoreTable
    >>> from curriculum.difficulty import Difficulty
    >>> table = ScoreTable(3)
    >>> table.update(np.array([0, 1]), np.array([1.0, 3.0]), np.array([0.5, 0.1]))
    >>> Difficulty("loss")(table).tolist()
    [0.0, 1.0, 0.5]
    ```
    """

    def __init__(
        self,
        signal: str = "loss",
        groups: np.ndarray | None = None,
        prior: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        sharing: ScoreSharing | None = None,
    ):
        if signal == "rho" and reference is None:
            raise ValueError("signal='rho' needs a per-row reference loss (reference=...)")
        self.signal = signal
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.sharing = sharing
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.prior_rank = None
        if prior is not None:
            prior = np.asarray(prior, dtype=np.float64)
            self.prior_rank = np.nan_to_num(quantile_rank(prior, self.groups), nan=0.5)

    def values(self, table: ScoreTable, rows: np.ndarray | None = None) -> np.ndarray:
        """The raw signal (of `rows`, default all): NaN for rows never trained on."""
        if self.signal == "rho":
            reference = self.reference if rows is None else self.reference[rows]
            return table.signal("loss", rows) - reference
        return table.signal(self.signal, rows)

    def __call__(self, table: ScoreTable) -> np.ndarray:
        values = self.values(table)
        if self.sharing is not None:
            values = self.sharing.share(values)
        rank = quantile_rank(values, self.groups)
        unseen = np.isnan(rank)
        if self.prior_rank is not None:
            rank[unseen] = self.prior_rank[unseen]
        else:
            rank[unseen] = 0.5
        return rank
