"""Drawing rows from sampling weights without replacement: one pass over the rows at a time, weighted keys."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_without_replacement"]


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
