"""Score sharing: duplicate rows share one score, unseen rows inherit the scores of scored near-duplicates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .copies import CopyGroups
from .minhash import Neighbors, _check_neighbor_args, _is_int, _neighbors
from .text import _first_occurrence, _keys

__all__: list[str] = []


class ScoreSharing:
    r"""
    Shares per-row scores between exact duplicates and passes them on to unseen near-duplicates.

    [`share`] maps a per-row signal (NaN = row never trained on) to a new one in two steps:

    1. every row takes the mean of the observed signals of its duplicate group, so copies share one score and an
       unseen copy of a trained row gets that row's score;
    2. a row still without a score takes the similarity-weighted mean of the scores of its group's scored
       neighbours, if there are any; otherwise it stays NaN.

    O(hops x (rows + edges)) per call, vectorised.

    Args:
        canonical (`np.ndarray`):
            Per row, the index of its group's canonical row, which points to itself (see [`duplicate_groups`]).
        neighbors ([`Neighbors`] or `tuple` of 3 `np.ndarray`, *optional*):
            `(indptr, indices, weights)` of a sparse neighbour graph (see [`near_duplicate_neighbors`]); weights
            should be non-negative, for example similarities.
        hops (`int`, *optional*, defaults to `1`):
            Times step 2 is repeated: with `hops=2` a row can also inherit, through a row that just inherited, the
            score of a neighbour's neighbour (useful in large clusters of near-copies, where each row keeps only a
            few neighbours).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.sharing import ScoreSharing
    >>> canonical = np.array([0, 1, 0, 3])  # rows 0 and 2 are copies
    >>> neighbors = (np.array([0, 1, 1, 1, 2]), np.array([3, 0]), np.array([0.9, 0.9]))  # rows 0 and 3 are similar
    >>> ScoreSharing(canonical, neighbors).share(np.array([2.0, np.nan, 4.0, np.nan])).tolist()
    [3.0, nan, 3.0, 3.0]
    ```
    """

    def __init__(
        self, canonical: np.ndarray, neighbors: Neighbors | tuple[np.ndarray, ...] | None = None, hops: int = 1
    ) -> None:
        if not _is_int(hops, 1):
            raise ValueError(f"hops should be a positive integer, but got hops={hops!r}")
        self.hops = int(hops)
        canonical = np.asarray(canonical)
        if canonical.ndim != 1 or not np.issubdtype(canonical.dtype, np.integer):
            raise ValueError(f"canonical should be a 1-D integer array, got shape {canonical.shape} {canonical.dtype}")
        n = len(canonical)
        canonical = canonical.astype(np.int64)
        if n and (canonical.min() < 0 or canonical.max() >= n):
            raise ValueError(f"canonical rows should be in [0, {n}), got [{canonical.min()}, {canonical.max()}]")
        if (canonical[canonical] != canonical).any():
            bad = int(np.flatnonzero(canonical[canonical] != canonical)[0])
            raise ValueError(
                f"a canonical row should point to itself, but row {bad} points to {canonical[bad]}, which points to "
                f"{canonical[canonical[bad]]}; build canonical with duplicate_groups"
            )
        self.copies = CopyGroups(canonical)  # the rows with a copy only: no per-row array is kept
        self.source = self.indices = self.weights = None
        if neighbors is not None:
            indptr, indices, weights = (np.asarray(a) for a in neighbors)
            if indptr.shape != (n + 1,) or indptr[0] != 0 or (np.diff(indptr) < 0).any():
                raise ValueError(f"neighbors' indptr should be non-decreasing from 0, of length {n + 1} (rows + 1)")
            if indices.shape != (indptr[-1],) or weights.shape != indices.shape:
                raise ValueError(
                    f"neighbors' indices and weights should both have indptr[-1]={indptr[-1]} entries, got "
                    f"{indices.shape} and {weights.shape}"
                )
            if indices.size and (indices.min() < 0 or indices.max() >= n):
                raise ValueError(f"neighbors' indices should be in [0, {n}), got [{indices.min()}, {indices.max()}]")
            weights = weights.astype(np.float64)
            if not (np.isfinite(weights) & (weights >= 0)).all():
                raise ValueError("neighbors' weights should be finite and non-negative")
            # Each edge counts for the group of its source row.
            self.source = canonical[np.repeat(np.arange(n), np.diff(indptr))]
            self.indices = indices.astype(np.int64)
            self.weights = weights

    def __len__(self) -> int:
        return len(self.copies)

    @property
    def canonical(self) -> np.ndarray:
        """Per row, the index of its group's canonical row (a new int64 array)."""
        return self.copies.first()

    @property
    def has_duplicates(self) -> bool:
        """Whether some rows are copies of one another."""
        return self.copies.has_copies

    @property
    def num_groups(self) -> int:
        """Number of distinct duplicate groups."""
        return self.copies.num_groups

    @property
    def num_edges(self) -> int:
        """Number of (directed) neighbour edges."""
        return 0 if self.indices is None else len(self.indices)

    def share(self, signal: np.ndarray) -> np.ndarray:
        """Return a new float64 per-row signal: `signal` (NaN or inf = never trained on) with scores shared within
        duplicate groups, then lent to unscored rows by their scored neighbours."""
        signal = np.asarray(signal, dtype=np.float64)
        n = len(self)
        if signal.shape != (n,):
            raise ValueError(f"signal should have shape ({n},) (one value per row), got {signal.shape}")
        out = signal.copy()
        out[~np.isfinite(out)] = np.nan
        if self.has_duplicates:
            out[self.copies.members] = self.copies.group_mean(out)
        if self.indices is None or not self.indices.size:
            return out
        canonical = self.canonical
        for _ in range(self.hops):
            value = out[self.indices]
            ok = np.isfinite(value) & (self.weights > 0)
            num = np.bincount(self.source[ok], weights=self.weights[ok] * value[ok], minlength=n)
            den = np.bincount(self.source[ok], weights=self.weights[ok], minlength=n)
            num, den = num[canonical], den[canonical]
            fill = np.isnan(out) & (den > 0)
            if not fill.any():
                break
            out[fill] = num[fill] / den[fill]
        return out


def build_sharing(
    texts: Sequence[str], near_duplicates: bool = False, threshold: float = 0.8, hops: int = 1, **minhash: int
) -> ScoreSharing:
    """[`ScoreSharing`] for a dataset's texts: exact-duplicate groups, plus the near-duplicate graph of
    [`near_duplicate_neighbors`] (similarities as weights) when `near_duplicates` is true; `minhash` are that
    function's `num_perm`, `bands`, `seed`, `max_neighbors` and `shingle`.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.sharing import build_sharing
    >>> sharing = build_sharing(["Hello world", "hello   WORLD.", "Goodbye"])
    >>> sharing.share(np.array([1.5, np.nan, np.nan])).tolist()
    [1.5, 1.5, nan]
    ```
    """
    keys = _keys(texts)
    canonical = _first_occurrence(keys)
    neighbors = None
    if near_duplicates:
        p = {"num_perm": 64, "bands": 16, "seed": 0, "max_neighbors": 8, "shingle": 5}
        if set(minhash) - set(p):
            raise TypeError(f"build_sharing() got unknown MinHash arguments {sorted(set(minhash) - set(p))}; use {list(p)}")
        p.update(minhash)
        _check_neighbor_args(threshold, p["num_perm"], p["shingle"], p["bands"], p["max_neighbors"], p["seed"])
        neighbors = _neighbors(
            keys, canonical, threshold, p["num_perm"], p["shingle"], p["bands"], p["seed"], p["max_neighbors"]
        )
    return ScoreSharing(canonical, neighbors, hops=hops)
