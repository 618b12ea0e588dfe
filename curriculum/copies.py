"""Groups of copies held sparsely: only the rows that have a copy, so memory grows with the copies, not the rows."""

from __future__ import annotations

import numpy as np

__all__ = ["CopyGroups"]


def _index_dtype(num_rows: int) -> type:
    return np.int32 if num_rows <= np.iinfo(np.int32).max else np.int64


class CopyGroups:
    r"""
    The groups of rows that are copies of one another, from each row's first row (the first row of its group,
    which points to itself). Only the rows of groups with two rows or more are held: `members` (sorted), each one's
    group, and each group's first row and size. A dataset with 1% copies holds under 1 byte per row instead of the
    8 of a per-row array; the per-row views ([`first`], [`sizes`]) are computed when asked for.

    Args:
        first (`np.ndarray`):
            Per row, the first row of its group (an integer array, `first[first] == first`).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.copies import CopyGroups
    >>> copies = CopyGroups(np.array([0, 1, 0, 3, 1, 0]))
    >>> copies.members.tolist(), copies.num_groups
    ([0, 1, 2, 4, 5], 3)
    >>> copies.first().tolist(), copies.sizes().tolist()
    ([0, 1, 0, 3, 1, 0], [3, 2, 3, 1, 2, 3])
    ```
    """

    def __init__(self, first: np.ndarray) -> None:
        first = np.asarray(first)
        self.num_rows = n = len(first)
        dtype = _index_dtype(n)
        counts = np.bincount(first, minlength=n) if n else np.zeros(0, dtype=np.int64)
        self.members = np.flatnonzero(counts[first] > 1).astype(dtype) if n else np.zeros(0, dtype=dtype)
        firsts, group = np.unique(first[self.members], return_inverse=True)
        self.group = group.reshape(-1).astype(dtype)  # each member's group, 0 to len(firsts) - 1
        self.firsts = firsts.astype(dtype)  # each group's first row, increasing
        self.counts = counts[firsts].astype(dtype)  # each group's rows
        self.num_groups = n - self.members.size + firsts.size  # singletons count as groups of one

    def __len__(self) -> int:
        return self.num_rows

    @property
    def has_copies(self) -> bool:
        """Whether some row has a copy."""
        return bool(self.members.size)

    def first(self) -> np.ndarray:
        """Per row, the first row of its group, as int64 (a new array)."""
        out = np.arange(self.num_rows, dtype=np.int64)
        out[self.members] = self.firsts[self.group]
        return out

    def sizes(self) -> np.ndarray:
        """Per row, the number of rows of its group, as int64 (a new array)."""
        out = np.ones(self.num_rows, dtype=np.int64)
        out[self.members] = self.counts[self.group]
        return out

    def copies(self) -> np.ndarray:
        """Boolean mask of the rows that are a copy of an earlier row (a new array)."""
        out = np.zeros(self.num_rows, dtype=bool)
        out[self.members] = self.firsts[self.group] != self.members
        return out

    def group_sum(self, values: np.ndarray) -> np.ndarray:
        """Per row, the sum of float64 `values` over its group (a new array; each sum in row order)."""
        out = np.array(values, dtype=np.float64)
        if self.members.size:
            out[self.members] = np.bincount(self.group, weights=out[self.members], minlength=self.firsts.size)[self.group]
        return out

    def group_mean(self, values: np.ndarray) -> np.ndarray:
        """For the `members`, the mean of the finite float64 `values` of their group (NaN where it has none)."""
        values = np.asarray(values, dtype=np.float64)[self.members]
        seen = np.isfinite(values)
        total = np.bincount(self.group[seen], weights=values[seen], minlength=self.firsts.size)
        count = np.bincount(self.group[seen], minlength=self.firsts.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / count)[self.group]
