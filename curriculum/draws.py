"""Drawing rows from sampling weights: independent draws, or without replacement one pass over the rows at a time."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_rows", "draw_without_replacement"]


# Below this many candidate rows a draw takes exponential keys of all of them (O(candidates), cheap there); from it
# on, a block-wise successive draw that touches only the blocks it draws from. Both draw the same distribution.
_KEYS_BELOW = 1 << 20
_BLOCK = 1 << 14  # rows per block of the block-wise draw
_ROUNDS = 8  # rounds of the block-wise draw before the rest is drawn with keys (very skewed weights)


def draw_without_replacement(
    probs: np.ndarray, size: int, rng: np.random.Generator, taken: np.ndarray, budget_left: int | None = None
) -> np.ndarray:
    """`size` rows drawn one after another without replacement with probabilities proportional to `probs`, among
    the rows with `probs > 0` not yet `taken`; `taken` is updated in place, and cleared (a new pass) when every such
    row is taken. With `budget_left` (the samples still to draw in the run, from this call's first one), a pass
    that this budget completes anyway is drawn uniformly instead: the weights decide which rows only where the
    budget ends within the pass. `probs` may be overwritten.

    Below `_KEYS_BELOW` candidates, exponential keys (Efraimidis and Spirakis 2006): each candidate gets log(u) / p
    with u uniform in (0, 1), and the rows with the largest keys, in decreasing order, are a sequential weighted
    draw without replacement; O(candidates). From there on, a block-wise successive draw: independent draws from
    the candidates' weights (a block by the blocks' sums, then a row within it), of which the first occurrences,
    in order, are a sequential draw without replacement; the rows drawn leave the weights between rounds. It
    costs one pass over the rows plus O(size x block) and gives the same distribution.

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
    candidate = np.empty(probs.shape, dtype=bool)  # the one mask of the rows' size (fresh memory is slow to touch)
    while filled < size:
        np.greater(probs, 0, out=candidate)
        np.logical_not(taken, out=taken)
        np.logical_and(candidate, taken, out=candidate)  # positive and not taken
        np.logical_not(taken, out=taken)
        count = int(np.count_nonzero(candidate))
        if count == 0:
            if not (probs > 0).any():
                raise ValueError("no row can be drawn: every probability is 0")
            taken[:] = False  # every row of the pass is drawn: a new pass
            continue
        k = min(size - filled, count)
        uniform = budget_left is not None and budget_left - filled >= count  # the budget completes this pass
        if count < _KEYS_BELOW or 4 * k > count:
            chosen = _keyed(np.flatnonzero(candidate), None if uniform else probs, k, rng)
        else:
            # This round ends the call (k < count), so `probs` can hold the candidates' weights.
            if uniform:
                np.copyto(probs, candidate)
            else:
                np.multiply(probs, candidate, out=probs)
            chosen = _successive(probs, k, rng)
        taken[chosen] = True
        out[filled : filled + k] = chosen
        filled += k
    return out


def _keyed(candidates: np.ndarray, probs: np.ndarray | None, k: int, rng: np.random.Generator) -> np.ndarray:
    """`k` of `candidates` drawn in sequence without replacement, proportionally to `probs` (uniformly without):
    the largest exponential keys, in decreasing order."""
    keys = np.log(rng.random(candidates.size))
    if probs is not None:
        keys /= probs[candidates]
    top = np.argpartition(keys, candidates.size - k)[candidates.size - k :] if k < candidates.size else np.arange(k)
    return candidates[top[np.argsort(-keys[top], kind="stable")]]


def _successive(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """`k` rows drawn in sequence without replacement, proportionally to `weights` (overwritten: the rows drawn
    are zeroed), at least `k` of them positive. Each round draws the rows still needed independently, a block by
    the blocks' sums and then a row by the block's cumulative sum, and keeps the first occurrences of rows not
    drawn before, in order: with the rows drawn zeroed between rounds, each kept row is a draw from the weights of
    the rows not drawn yet. After `_ROUNDS` rounds the rest is drawn with keys."""
    starts = np.arange(0, weights.size, _BLOCK)
    sums = np.add.reduceat(weights, starts)
    chosen: list[np.ndarray] = []
    need = k
    for _ in range(_ROUNDS):
        cdf = np.cumsum(sums)
        blocks = np.minimum(np.searchsorted(cdf, rng.random(need) * cdf[-1], side="right"), starts.size - 1)
        u = rng.random(need)
        rows = np.empty(need, dtype=np.int64)
        by_block = np.argsort(blocks, kind="stable")  # the draws of each block together
        touched, first = np.unique(blocks[by_block], return_index=True)
        for block, lo_draw, hi_draw in zip(touched.tolist(), first.tolist(), np.r_[first[1:], need].tolist()):
            at = by_block[lo_draw:hi_draw]
            lo = block * _BLOCK
            within = np.cumsum(weights[lo : lo + _BLOCK])
            pick = np.searchsorted(within, u[at] * within[-1], side="right")
            rows[at] = lo + np.minimum(pick, within.size - 1)
        rows = rows[weights[rows] > 0]  # never a zero weight, unless by a rounding edge: then that draw is void
        _, first = np.unique(rows, return_index=True)
        new = rows[np.sort(first)][:need]
        chosen.append(new)
        need -= new.size
        if need == 0:
            return np.concatenate(chosen)
        weights[new] = 0.0
        for block in np.unique(new // _BLOCK).tolist():  # their blocks' sums again, exactly 0 once empty
            sums[block] = weights[block * _BLOCK : (block + 1) * _BLOCK].sum()
    rest = np.flatnonzero(weights > 0)
    chosen.append(_keyed(rest, weights, need, rng))
    return np.concatenate(chosen)


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
