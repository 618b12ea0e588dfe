"""Drawing rows from sampling weights: independent draws, or without replacement one pass over the rows at a time."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_rows", "draw_without_replacement"]


def draw_without_replacement(
    probs: np.ndarray, size: int, rng: np.random.Generator, taken: np.ndarray, budget_left: int | None = None
) -> np.ndarray:
    """`size` rows drawn one after another without replacement with probabilities proportional to `probs`, among
    the rows with `probs > 0` not yet `taken`; `taken` is updated in place, and cleared (a new pass) when every such
    row is taken. Exponential keys (Efraimidis and Spirakis 2006): each candidate gets log(u) / p with u uniform in
    (0, 1), and the rows with the largest keys, in decreasing order, are a sequential weighted draw without
    replacement. With `budget_left` (the samples still to draw in the run, from this call's first one), a pass
    that this budget completes anyway is drawn uniformly instead (equal keys): the weights decide which rows only
    where the budget ends within the pass. O(rows) per call.

    Example:

    ```python
    >>> import numpy as np
    >>> taken = np.zeros(4, dtype=bool)
    >>> rows = draw_without_replacement(np.array([0.1, 0.2, 0.3, 0.4]), 6, np.random.default_rng(0), taken)
    >>> sorted(rows[:4].tolist()), int(taken.sum())  # every row once, then a new pass
    ([0, 1, 2, 3], 2)
    ```
    """
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        candidates = np.flatnonzero((probs > 0) & ~taken)
        if candidates.size == 0:
            if not (probs > 0).any():
                raise ValueError("no row can be drawn: every probability is 0")
            taken[:] = False  # every row of the pass is drawn: a new pass
            continue
        k = min(size - filled, candidates.size)
        keys = np.log(rng.random(candidates.size))
        if budget_left is None or budget_left - filled < candidates.size:
            keys /= probs[candidates]  # the budget ends within this pass: the weights choose its rows
        top = np.argpartition(keys, candidates.size - k)[candidates.size - k :] if k < candidates.size else np.arange(k)
        chosen = candidates[top[np.argsort(-keys[top], kind="stable")]]
        taken[chosen] = True
        out[filled : filled + k] = chosen
        filled += k
    return out


def draw_rows(
    probs: np.ndarray, size: int, rng: np.random.Generator, taken: np.ndarray | None, budget_left: int | None
) -> np.ndarray:
    """`size` rows drawn from `probs` (overwritten): independently when `taken` is None (`replacement=True`), else
    without replacement among the rows not `taken` in the pass (updated in place; see [`draw_without_replacement`]):
    a pass ends when every row that can be drawn has been. With `budget_left` (`pass_order="shuffled"`, the default)
    a pass that the rest of the budget will complete anyway is drawn uniformly (shuffled, as the Trainer would): the
    weights then could only change when each row is trained, and ordering by them bunches the rows they disfavour at
    the end of every pass. They decide which rows a pass that the budget leaves unfinished trains on."""
    if taken is None:
        cdf = np.cumsum(probs, out=probs)  # in place: no second array of the dataset's size
        cdf /= cdf[-1]
        return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), probs.size - 1)
    return draw_without_replacement(probs, size, rng, taken, budget_left)
