"""Group (task) labels as integer codes: by first appearance, missing labels one group, in the narrowest dtype."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MISSING", "encode_groups", "group_names", "narrow_codes"]


MISSING = "<missing>"
_MISSING_KEY = object()  # the one key of every missing label (None, NaN): NaN != NaN would make each its own group


def _key(label: object) -> object:
    """A label's dictionary key: missing values (None and any float NaN) all share one."""
    return _MISSING_KEY if label is None or label != label else label


def encode_groups(labels: Sequence) -> np.ndarray:
    """Integer codes for arbitrary (hashable) group labels, in order of first appearance; missing labels (None,
    `float("nan")`, `np.nan`) all take one code. An unhashable label (a list) is a `ValueError` naming its row.

    Example:

    ```python
    >>> from curriculum.groups import encode_groups
    >>> encode_groups(["math", None, float("nan"), "code", float("nan")]).tolist()
    [0, 1, 1, 2, 1]
    ```
    """
    codes: dict = {}
    try:
        return np.fromiter((codes.setdefault(_key(x), len(codes)) for x in labels), dtype=np.int64, count=len(labels))
    except TypeError:  # a list or a dict: no group
        row, label = next((i, x) for i, x in enumerate(labels) if not _hashable(x))
        raise ValueError(
            f"a group label must be one value (a string, a number, a boolean or None), but row {row} holds a "
            f"{type(label).__name__} ({label!r:.60})"
        ) from None


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def group_names(labels: Sequence) -> list[str]:
    """The name of each code of [`encode_groups`]`(labels)`: `str(label)`, and `"<missing>"` for missing labels.

    Example:

    ```python
    >>> from curriculum.groups import group_names
    >>> group_names(["math", None, float("nan"), "code"])
    ['math', '<missing>', 'code']
    ```
    """
    return [MISSING if key is _MISSING_KEY else str(key) for key in dict.fromkeys(_key(x) for x in labels)]


def narrow_codes(codes: Any) -> np.ndarray:
    """Integer group codes in the narrowest unsigned dtype that holds them (uint8 up to 256 groups), int64 when some
    are negative."""
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        codes = codes.astype(np.int64)
    if codes.size == 0 or int(codes.min()) < 0:
        return codes.astype(np.int64, copy=False)
    high = int(codes.max())
    for dtype in (np.uint8, np.uint16, np.uint32):
        if high <= np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)
