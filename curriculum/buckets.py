"""Order-preserving integer keys of floats, and the value buckets that rank many values in one counting pass."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .blocks import for_each

__all__: list[str] = []

# From this many ranked values on, ranks come from buckets of values (one counting pass) instead of a sort: values
# within about 2**-14 (relative) of each other in one bucket share their mean rank, a 1/10,000 of a value that
# moves a row by less than the finest kernel width could see.
_BUCKETED_FROM = 1 << 24
_BUCKETED_GROUPS = 16  # one counting pass per group: with more groups, the sort
_BUCKET_MANTISSA = 14
_MAX_BUCKETS = 1 << 22


def _float_key(values: np.ndarray) -> np.ndarray:
    """uint64 integers in the order of the finite `values` (float32 or float64), equal exactly when the values are
    equal: the IEEE bits with the sign bit set for positive values and all bits flipped for negative ones."""
    bits = (values + 0.0).view(np.uint32 if values.dtype == np.float32 else np.uint64)  # new array; -0.0 -> 0.0
    sign = bits.dtype.type(1 << (bits.dtype.itemsize * 8 - 1))
    negative = bits >= sign
    np.invert(bits, out=bits, where=negative)
    np.bitwise_or(bits, sign, out=bits, where=~negative)
    return bits.astype(np.uint64, copy=False)


def key_values(bits: np.ndarray) -> np.ndarray:
    """The values of [`_float_key`] keys held in their values' width (uint32 for float32, uint64 for float64),
    decoded in place: a float32 or float64 view of `bits`."""
    sign = bits.dtype.type(1 << (bits.dtype.itemsize * 8 - 1))
    positive = bits >= sign
    np.bitwise_xor(bits, sign, out=bits, where=positive)
    np.invert(bits, out=bits, where=~positive)
    return bits.view(np.float32 if bits.dtype == np.uint32 else np.float64)


def bucketed(count: int, groups: np.ndarray | None) -> bool:
    """Whether `count` finite values (with these group codes) are ranked by value buckets rather than sorted."""
    if count < _BUCKETED_FROM:
        return False
    return groups is None or 0 <= int(groups.min()) <= int(groups.max()) < _BUCKETED_GROUPS


def value_buckets(values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """Per finite value of `values[rows]`, its bucket (int64 from 0, in value order): its sign, exponent and
    `_BUCKET_MANTISSA` leading mantissa bits (fewer only if the values span more than `_MAX_BUCKETS` buckets); and
    a function from bucket numbers to the least value of each bucket (as float64)."""
    float32 = values.dtype == np.float32
    key = _float_key(values[rows])  # in value order; 32 bits for float32 values, 64 for float64
    shift = (23 if float32 else 52) - _BUCKET_MANTISSA
    key >>= np.uint64(shift)
    low = key.min() if key.size else np.uint64(0)
    key -= low
    span = int(key.max()).bit_length() if key.size else 0
    extra = max(0, span - (_MAX_BUCKETS.bit_length() - 1))
    key >>= np.uint64(extra)

    def least(buckets: np.ndarray) -> np.ndarray:
        bits = ((np.asarray(buckets, dtype=np.uint64) << np.uint64(extra)) + low) << np.uint64(shift)
        return key_values(bits.astype(np.uint32) if float32 else bits).astype(np.float64)

    return key.view(np.int64), least


def bucket_rank_into(out: np.ndarray, values: np.ndarray, groups: np.ndarray | None, rows: np.ndarray) -> None:
    """Write the quantile rank of `values[rows]` within their groups into `out` at `rows`, without a sort: the
    values of one bucket ([`value_buckets`]) share their mean rank, as exact ties do. One counting pass per group,
    the groups in threads."""
    bucket, _ = value_buckets(values, rows)
    buckets = int(bucket.max()) + 1
    codes = None if groups is None else groups[rows]

    def rank_group(group: int | None) -> None:
        mine = slice(None) if group is None else np.flatnonzero(codes == group)
        b = bucket[mine]
        counts = np.bincount(b, minlength=buckets)
        below = np.cumsum(counts) - counts
        # A run of equal buckets at sorted positions s to s + c - 1: mean position s + (c - 1) / 2, over size - 1.
        rank = below[b] + (counts[b] - 1) * 0.5
        rank /= max(b.size - 1, 1)
        if b.size == 1:
            rank[:] = 0.5
        out[rows[mine]] = rank

    for_each([None] if codes is None else np.flatnonzero(np.bincount(codes)).tolist(), rank_group)  # codes present
