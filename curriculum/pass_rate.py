"""Predicted pass rate of every prompt: its own rollouts shrunk to its task's mean; unseen prompts from neighbours."""

from __future__ import annotations

import numpy as np

from .scores import ScoreTable
from .sharing import ScoreSharing

__all__ = ["balanced_weight", "predicted_pass_rate"]

# Pseudo-completions of the task mean added to a prompt's own: one all-fail or all-pass group of 8 does not read as
# a pass rate of exactly 0 or 1.
PRIOR_COMPLETIONS = 2.0


def predicted_pass_rate(
    table: ScoreTable, num_generations: int, groups: np.ndarray | None = None, sharing: ScoreSharing | None = None,
) -> np.ndarray:
    """Each prompt's predicted pass rate in [0, 1], from the running pass rates in `table` (its `confidence`).

    A prompt rolled out `v` times has `n = v x num_generations` completions; its running pass rate `r` is shrunk
    towards its task's mean `m`: `(n r + k m) / (n + k)`, `k = PRIOR_COMPLETIONS`. The task's mean is that of its
    rolled-out prompts' running pass rates with one more prompt at the mean over all tasks, itself the mean over all
    rolled-out prompts with one more at 1/2: never exactly 0 or 1. A prompt never rolled
    out takes the score its rolled-out duplicates and near-duplicates lend it through `sharing` (the similarity-
    weighted estimate of DOTS), shrunk as if from one group, else its task's mean.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import ScoreTable
    >>> from curriculum.pass_rate import predicted_pass_rate
    >>> table = ScoreTable(4)
    >>> table.update(np.array([0, 2]), 1 - np.array([1.0, 0.5]), np.array([1.0, 0.5]))
    >>> predicted_pass_rate(table, 8, groups=np.array([0, 0, 1, 1])).round(3).tolist()
    [0.967, 0.833, 0.517, 0.583]
    ```
    """
    rate = table.confidence.astype(np.float64)
    seen = np.isfinite(rate)
    # Means with one pseudo-prompt at 1/2: never exactly 0 or 1, so that no prompt's weight vanishes.
    overall = (float(rate[seen].sum()) + 0.5) / (int(seen.sum()) + 1)
    if groups is None:
        prior = np.full(rate.size, overall)
    else:
        codes = np.asarray(groups, dtype=np.int64)
        size = int(codes.max()) + 1 if codes.size else 0
        total = np.bincount(codes[seen], weights=rate[seen], minlength=size)
        count = np.bincount(codes[seen], minlength=size)
        prior = ((total + overall) / (count + 1))[codes]
    completions = table.count.astype(np.float64) * num_generations
    if sharing is not None:
        lent = sharing.share(rate)
        borrowed = ~seen & np.isfinite(lent)
        rate = np.where(borrowed, lent, rate)
        completions = np.where(borrowed, float(num_generations), completions)
        seen |= borrowed
    out = prior.copy()
    out[seen] = (completions[seen] * rate[seen] + PRIOR_COMPLETIONS * prior[seen]) / (
        completions[seen] + PRIOR_COMPLETIONS
    )
    return out


def balanced_weight(pass_rate: np.ndarray, num_generations: int) -> np.ndarray:
    """The probability that a group of `num_generations` completions with pass rate `p` neither all pass nor all
    fail, `1 - p^G - (1 - p)^G`: the chance that its advantages are not all zero (0 for G = 1).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.pass_rate import balanced_weight
    >>> balanced_weight(np.array([0.0, 0.5, 1.0]), 2).tolist()
    [0.0, 0.5, 0.0]
    ```
    """
    p = np.asarray(pass_rate, dtype=np.float64)
    return 1.0 - p**num_generations - (1.0 - p) ** num_generations
