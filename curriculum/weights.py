"""Sampling weights: a kernel around the target difficulty, mixed with a uniform floor."""

from __future__ import annotations

import numpy as np

from .blocks import _BLOCK, for_blocks

__all__: list[str] = []

KERNELS = ("laplace", "gaussian")
# exp(-x) stays a normal float64 (above 1e-304) for x up to this: below it, one shift for all rows is safe.
_MAX_EXPONENT = 700.0


def sampling_weights(
    difficulty: np.ndarray,
    target: float,
    kernel: str = "laplace",
    width: float = 0.15,
    uniform_mix: float = 0.1,
    groups: np.ndarray | None = None,
    group_shares: np.ndarray | None = None,
    row_weights: np.ndarray | None = None,
    eligible: np.ndarray | None = None,
) -> np.ndarray:
    """Probability of drawing each row: `(1 - uniform_mix) * k(d - target) / sum(k) + uniform_mix / N`.

    The kernel part is normalised first, so `uniform_mix` is exactly the share of draws that ignore difficulty.
    With `groups` and `group_shares`, the kernel is normalised within each group and group g receives the share
    `group_shares[g]` of the kernel part (task balance). `row_weights` multiplies each row's kernel value (for
    example 1 / copies, so that a group of duplicates weighs like one row). With `eligible` (a boolean mask), the
    other rows get probability 0, in the kernel part and the uniform part (`uniform_mix / N` then counts only the
    eligible rows), and a group without an eligible row passes its share to the others in proportion.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.weights import sampling_weights
    >>> w = sampling_weights(np.array([0.0, 0.5, 1.0]), target=1.0, width=0.1, uniform_mix=0.0)
    >>> int(w.argmax()), round(float(w.sum()), 6)
    (2, 1.0)
    >>> w = sampling_weights(np.array([0.0, 1.0, 0.5]), 1.0, uniform_mix=0.0, groups=np.array([0, 0, 1]),
    ...                      group_shares=np.array([0.25, 0.75]))
    >>> round(float(w[2]), 6)
    0.75
    ```
    """
    if width <= 0:
        raise ValueError(f"width should be > 0, but got width={width}")
    if not 0.0 <= uniform_mix <= 1.0:
        raise ValueError(f"uniform_mix should be in [0, 1], but got uniform_mix={uniform_mix}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel should be one of {list(KERNELS)}, but got kernel={kernel!r}")
    difficulty = np.asarray(difficulty, dtype=np.float64)
    n = difficulty.size
    k = np.subtract(difficulty, target)
    np.abs(k, out=k)  # the distance to the target
    if eligible is not None:
        eligible = np.asarray(eligible, dtype=bool)
        if not eligible.any():
            raise ValueError("no row is eligible to be drawn: eligible should be True for at least one row")
        k[~eligible] = np.inf  # weight exp(-inf) = 0
    scale = width if kernel == "laplace" else 2.0 * width**2
    # Shift by the minimum distance so that the largest weight is exp(0) = 1: no underflow to 0. One shift for all
    # rows when no weight can underflow (the usual case: distances in [0, 1], width 0.25), else one per group, its
    # own minimum, so that no group's weights all underflow. In place, with the operations of
    # exp(-(d - shift) / width) and exp(-(d**2 - shift**2) / (2 * width**2)).
    low = float(k.min())  # the ineligible rows are inf
    high = float(k.max() if eligible is None else np.max(k, where=eligible, initial=-np.inf))
    if kernel == "gaussian":
        low, high = low**2, high**2
    per_group_shift = groups is not None and (high - low) / scale > _MAX_EXPONENT
    if groups is not None:
        groups = np.asarray(groups)
        if groups.size and (int(groups.min()) < 0 or int(groups.max()) >= len(group_shares)):
            raise IndexError(f"group codes should be in [0, {len(group_shares)}), but got codes in "
                             f"[{int(groups.min())}, {int(groups.max())}]")  # mode="wrap" below is plain indexing
    if per_group_shift:
        shift = np.full(len(group_shares), np.inf)
        np.minimum.at(shift, groups, k)
        if eligible is not None:
            shift[np.isinf(shift)] = 0.0  # groups without an eligible row (inf - inf would be NaN)
        if kernel == "gaussian":
            shift = shift**2
    else:
        shift = low
    weights = None if row_weights is None else np.asarray(row_weights)

    def kernel_pass(lo: int, hi: int) -> None:
        block = k[lo:hi]
        if kernel == "gaussian":
            np.square(block, out=block)
        block -= np.take(shift, groups[lo:hi], mode="wrap") if per_group_shift else shift
        np.negative(block, out=block)
        block /= scale
        np.exp(block, out=block)
        if weights is not None:
            block *= weights if weights.ndim == 0 else weights[lo:hi]

    for_blocks(n, kernel_pass)
    if groups is not None:
        per_group = _group_sums(groups, k, len(group_shares))
        if eligible is not None:
            per_group[per_group == 0.0] = 1.0  # a group without an eligible row: its rows stay 0
        shares = np.asarray(group_shares, dtype=np.float64)

        def share_pass(lo: int, hi: int) -> None:
            block = k[lo:hi]
            codes = groups[lo:hi]
            block *= np.take(shares, codes, mode="wrap")
            block /= np.take(per_group, codes, mode="wrap")

        for_blocks(n, share_pass)
    total = k.sum()
    floor = uniform_mix / (n if eligible is None else int(np.count_nonzero(eligible)))

    def floor_pass(lo: int, hi: int) -> None:
        block = k[lo:hi]
        block /= total
        block *= 1.0 - uniform_mix
        if eligible is None:
            block += floor
        else:
            block[eligible[lo:hi]] += floor

    for_blocks(n, floor_pass)
    return k


# Up to this many groups, per-group sums are taken block by block in threads (a block's partial sums per group,
# added in block order: the same bits with any number of threads, and one block's below _BLOCK rows).
_BLOCKWISE_GROUPS = 4096


def _group_sums(groups: np.ndarray, values: np.ndarray, num_groups: int) -> np.ndarray:
    """`np.bincount(groups, weights=values, minlength=num_groups)`, without a converted copy of the codes."""
    if num_groups > _BLOCKWISE_GROUPS or values.size <= _BLOCK:
        return np.bincount(groups, weights=values, minlength=num_groups)
    partial = np.zeros((-(-values.size // _BLOCK), num_groups))

    def block_sums(lo: int, hi: int) -> None:
        partial[lo // _BLOCK] = np.bincount(groups[lo:hi], weights=values[lo:hi], minlength=num_groups)

    for_blocks(values.size, block_sums)
    return partial.sum(axis=0)


def task_shares(
    confidence: np.ndarray,
    groups: np.ndarray,
    num_groups: int,
    gamma: float = 1.0,
    min_share: float = 0.0,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """Share of the sampling mass of each task: `min_share + (1 - T * min_share) * (1 / c_t)^gamma / Z`.

    `c_t` is the mean confidence of the task's rows trained on (NaN = not yet); a task with none takes
    `prior[t]` if given and finite, else the mean over all trained rows (1.0 before any).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.weights import task_shares
    >>> conf = np.array([0.8, 0.8, 0.2, 0.2])
    >>> task_shares(conf, np.array([0, 0, 1, 1]), 2, gamma=1.0).round(3).tolist()
    [0.2, 0.8]
    ```
    """
    if not 0.0 <= min_share * num_groups <= 1.0:
        raise ValueError(f"min_share x tasks should be <= 1, but got min_share={min_share} with {num_groups} tasks")
    confidence = np.asarray(confidence)
    if confidence.dtype not in (np.float32, np.float64):
        confidence = confidence.astype(np.float64)
    # Only the trained rows are gathered (and widened to float64, exactly): O(rows) with few temporaries.
    seen = np.flatnonzero(np.isfinite(confidence))
    seen_groups = np.asarray(groups)[seen]
    seen_confidence = confidence[seen].astype(np.float64, copy=False)
    del seen
    counts = np.bincount(seen_groups, minlength=num_groups)
    sums = np.bincount(seen_groups, weights=seen_confidence, minlength=num_groups)
    fallback = float(seen_confidence.mean()) if seen_confidence.size else 1.0
    mean = np.full(num_groups, fallback)
    if prior is not None:
        prior = np.asarray(prior, dtype=np.float64)
        mean = np.where(np.isfinite(prior), prior, mean)
    mean = np.where(counts > 0, sums / np.maximum(counts, 1), mean)
    raw = np.clip(mean, 1e-6, 1.0) ** -gamma
    return min_share + (1.0 - num_groups * min_share) * raw / raw.sum()


def normalized_entropy(p: np.ndarray) -> float:
    """Entropy of a distribution divided by log(N): 1 for uniform, near 0 when concentrated on a few rows.

    Summed block by block (float32 logs, float64 sums), so no temporary of the dataset's size is made.
    """
    n = p.size
    if n <= 1:
        return 1.0
    parts = np.zeros((n + _BLOCK - 1) // _BLOCK)

    def entropy_pass(lo: int, hi: int) -> None:
        block = p[lo:hi].astype(np.float32)  # float32 logs: a metric, 10x faster than float64
        block = block[block > 0]
        parts[lo // _BLOCK] = np.sum(block * np.log(block), dtype=np.float64)

    for_blocks(n, entropy_pass)
    return -float(parts.sum()) / float(np.log(n))
