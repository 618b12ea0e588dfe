r"""
The THTB combination (*The Harder The Better*): a quality filter, then intrinsic and extrinsic hardness in one score.

The recipe: drop the rows whose judge quality is under a threshold, then rank the remaining rows by hardness, whose
intrinsic half is the judge's Bloom level and discipline count and whose extrinsic half is the response/instruction
length relation (IREI, the `length` score) and the TF-IDF cluster hardness (the `cluster` score).

The weighting used here is this package's choice, not a transcription of the paper's: every component is
rank-normalised to [0, 1] over the rows that pass the filter (ties share their average rank; rank normalisation
makes the components' own scales irrelevant, so Bloom's 1-6 and the discipline count need no further
normalisation), each half is the mean of its components, and `thtb` is the mean of the two halves:

    thtb = 1/2 * (rank(bloom) + rank(disciplines)) / 2 + 1/2 * (rank(length) + rank(cluster)) / 2

A missing component (NaN: an answer that did not parse, or a component not given) is left out of its half's mean
and a missing half out of the final mean; a row with no component at all gets NaN. A row under the quality
threshold, or whose quality is missing, gets NaN: `select_top` ranks NaN last, so `curriculum select --by thtb`
never picks it while filtered-in rows remain, and as a curriculum `prior_column` it has no prior (the neutral
middle rank).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["THTB_PARTS", "rank01", "thtb_scores"]

# The components of each half of the hardness, as score names.
THTB_PARTS = {"intrinsic": ("bloom", "disciplines"), "extrinsic": ("length", "cluster")}
DEFAULT_QUALITY_THRESHOLD = 5.0


def rank01(values: Any, mask: np.ndarray | None = None) -> np.ndarray:
    """
    Rank of each finite value among the finite values (inside `mask`), scaled to [0, 1]; ties share their average
    rank; NaN elsewhere, and 0.5 for a lone value.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.scoring.thtb import rank01
    >>> rank01(np.array([3.0, 1.0, np.nan, 3.0, 2.0])).tolist()
    [0.8333333333333334, 0.0, nan, 0.8333333333333334, 0.3333333333333333]
    ```
    """
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values) if mask is None else np.isfinite(values) & mask
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return out
    if len(rows) == 1:
        out[rows] = 0.5
        return out
    v = values[rows]
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=np.float64)
    uniq, inverse = np.unique(v, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq))
    out[rows] = (sums / counts)[inverse] / (len(v) - 1)
    return out


def _nanmean(columns: list[np.ndarray], n: int) -> np.ndarray:
    if not columns:
        return np.full(n, np.nan)
    stack = np.vstack(columns)
    present = np.isfinite(stack)
    counts = present.sum(axis=0)
    total = np.where(present, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def thtb_scores(
    components: Mapping[str, Any], quality: Any = None, quality_threshold: float = DEFAULT_QUALITY_THRESHOLD
) -> np.ndarray:
    """
    The THTB hardness of each row (higher = harder, in [0, 1]; NaN for a row filtered out), from its component
    scores (see the module docstring for the formula).

    Args:
        components (`Mapping[str, array]`):
            Any of `"bloom"`, `"disciplines"` (intrinsic), `"length"`, `"cluster"` (extrinsic), one value per row;
            at least one.
        quality (`array`, *optional*):
            The judge's quality (1-10) of each row; `None`: no quality filter.
        quality_threshold (`float`, *optional*, defaults to `5.0`):
            Rows whose quality is under it (or missing) are filtered out.

    Example:

    ```python
    >>> from curriculum.scoring.thtb import thtb_scores
    >>> thtb_scores({"bloom": [1, 6, 3, 6], "length": [0.1, 0.9, 0.5, 0.2]}, quality=[9, 8, 7, 2]).tolist()
    [0.0, 1.0, 0.5, nan]
    ```
    """
    known = [name for part in THTB_PARTS.values() for name in part]
    unknown = [k for k in components if k not in known]
    if unknown or not components:
        raise ValueError(f"components should be some of {known}, but got {sorted(components)}")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in components.items()}
    n = len(next(iter(arrays.values())))
    for k, v in arrays.items():
        if v.shape != (n,):
            raise ValueError(f"component {k!r} should hold one value per row ({n}), but has shape {v.shape}")
    if isinstance(quality_threshold, bool) or not isinstance(quality_threshold, (int, float)):
        raise ValueError(f"quality_threshold should be a number, but got quality_threshold={quality_threshold!r}")
    keep = np.ones(n, dtype=bool)
    if quality is not None:
        q = np.asarray(quality, dtype=np.float64)
        if q.shape != (n,):
            raise ValueError(f"quality should hold one value per row ({n}), but has shape {q.shape}")
        keep = np.isfinite(q) & (q >= quality_threshold)
    halves = []
    for part in THTB_PARTS.values():
        ranked = [rank01(arrays[name], keep) for name in part if name in arrays]
        if ranked:
            halves.append(_nanmean(ranked, n))
    out = _nanmean(halves, n)
    out[~keep] = np.nan
    return out
