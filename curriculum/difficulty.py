"""Difficulty in [0, 1]: the quantile rank of a per-row signal, within groups, with a prior for unseen rows."""

from __future__ import annotations

import numpy as np

from .blocks import for_blocks
from .buckets import _float_key, bucket_rank_into, bucketed, key_values
from .groups import MISSING, encode_groups, group_names, narrow_codes  # noqa: F401 (their home before)
from .pass_rate import predicted_pass_rate
from .scores import ScoreTable
from .sharing import ScoreSharing

__all__: list[str] = []


# Keys are built and scanned in blocks of this many rows: the temporaries stay in cache and memory stays flat.
_BLOCK = 1 << 16


def quantile_rank(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Quantile rank in [0, 1] of each value within its group; NaN stays NaN, ties share their mean rank.

    A group with a single finite value ranks it 0.5. O(n log n): one SIMD sort of 64-bit (group, value, position)
    keys when they fit in 64 bits (float32 values and up to 2**(32 - log2 n) groups), a few otherwise. From 2**24
    finite values on (in up to 16 groups), O(n) without a sort ([`~curriculum.buckets.bucket_rank_into`]): values
    that agree in their sign, exponent and leading 14 mantissa bits (within about 6e-5 relative) count as ties.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.difficulty import quantile_rank
    >>> quantile_rank(np.array([3.0, 1.0, np.nan, 2.0, 5.0]), np.array([0, 0, 0, 1, 1])).tolist()
    [1.0, 0.0, nan, 0.0, 1.0]
    ```
    """
    values = np.asarray(values)
    out = np.full(values.shape, np.nan)
    _rank_into(out, values, None if groups is None else np.asarray(groups, dtype=np.int64))
    return out


def _integer_codes(codes: object) -> np.ndarray:
    """`codes` as an integer array, without a copy when they already are one (any integer dtype)."""
    codes = np.asarray(codes)
    return codes if np.issubdtype(codes.dtype, np.integer) else codes.astype(np.int64)


def _rank_into(out: np.ndarray, values: np.ndarray, groups: np.ndarray | None) -> None:
    """Write the quantile rank of every finite value into `out`, leaving the other entries as they are."""
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    rows = np.flatnonzero(np.isfinite(values))
    n = rows.size
    if n == 0:
        return
    if bucketed(n, groups):
        bucket_rank_into(out, values, groups, rows)
        return
    order, new_run, new_group = sorted_runs(values, groups, rows)
    # Per run of ties (sorted positions s to e - 1): its mean position (s + e - 1) / 2, minus its group's start, over
    # its group's size - 1 (0.5 for a group of one). Positions are integers below 2**53: exact in float64.
    starts = np.flatnonzero(new_run)
    del new_run
    rank = starts.astype(np.float64)
    rank[:-1] += starts[1:]
    rank[-1] += n
    rank -= 1.0
    rank *= 0.5
    if new_group is None:
        group_starts = np.zeros(1, dtype=np.int64)
    else:
        group_starts = np.flatnonzero(new_group)
        del new_group
    sizes = np.diff(group_starts, append=n)
    first_run = np.searchsorted(starts, group_starts)  # runs of group j: first_run[j] to first_run[j + 1] - 1
    offsets, scales = group_starts.astype(np.float64), np.maximum(sizes - 1, 1).astype(np.float64)
    every = n == values.size  # then `rows` is the identity

    def normalize(lo: int, hi: int) -> None:
        block = rank[lo:hi]
        group = np.searchsorted(first_run, np.arange(lo, hi), side="right") - 1
        block -= offsets[group]
        block /= scales[group]
        block[sizes[group] == 1] = 0.5

    def scatter(lo: int, hi: int) -> None:
        # Sorted positions lo to hi - 1 lie in runs r0 to r1: repeat each run's rank over its part of the block.
        r0, r1 = np.searchsorted(starts, [lo, hi - 1], side="right") - 1
        bounds = starts[r0 : r1 + 2].clip(lo, hi)
        if bounds.size == r1 - r0 + 1:
            bounds = np.append(bounds, hi)
        # Straight into `out` at the rows' positions (no intermediate array of the ranked rows).
        out[order[lo:hi] if every else rows[order[lo:hi]]] = np.repeat(rank[r0 : r1 + 1], np.diff(bounds))

    for_blocks(starts.size, normalize)  # blocks of runs
    for_blocks(n, scatter)  # blocks of sorted positions: each writes its own rows


def sorted_runs(
    values: np.ndarray, groups: np.ndarray | None, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The order of `values[rows]` by (group, value), ties in any order, and where its runs and groups start.

    A least-significant-digit radix sort over 64-bit words: each pass sorts `(digit << b) | position` with NumPy's
    SIMD sort, `b` the bits of a position, so that a pass is stable. One pass covers float32 values with up to
    2**(64 - 32 - b) groups (b = 25 for 30M rows). Equal keys mean exactly equal values (-0.0 and 0.0 alike), the
    ties of `==`.

    Args:
        values (`np.ndarray`):
            float32 or float64 values, finite at `rows`.
        groups (`np.ndarray` or `None`):
            Integer group code per value (any integer dtype), or `None` for one group.
        rows (`np.ndarray`):
            Positions (int64) of the values to sort.

    Returns:
        `tuple`: `order` (int64 permutation of `range(len(rows))`), `new_run` (bool, True where a run of equal
        (group, value) starts in sorted order) and `new_group` (bool, True where a group starts; `None` without
        groups).
    """
    n = rows.size
    value_bits = 32 if values.dtype == np.float32 else 64
    low, group_bits = 0, 0
    if groups is not None and n:
        # The range of all codes (a superset of those of `rows`): no gathered copy, the same order.
        low, high = int(groups.min()), int(groups.max())
        group_bits = (high - low).bit_length()
    position_bits = max(1, (n - 1).bit_length())
    width = 64 - position_bits
    total = value_bits + group_bits
    key = np.empty(n, dtype=np.uint64)
    order = None
    for offset in range(0, total, width):
        source = rows if order is None else rows[order]

        def build(lo: int, hi: int) -> None:
            block = _key_bits(values, groups, source[lo:hi], value_bits, low, offset, width)
            block <<= np.uint64(position_bits)
            block |= np.arange(lo, hi, dtype=np.uint64)
            key[lo:hi] = block

        for_blocks(n, build)
        del source
        key.sort()
        if total <= width:
            new_run, new_group = _boundaries(key, position_bits, value_bits if group_bits else None)
        key &= np.uint64((1 << position_bits) - 1)
        permutation = key.view(np.int64)
        if order is None:
            order = permutation if total <= width else permutation.copy()  # `key` is overwritten by the next pass
        else:
            order = order[permutation]
    if total > width:
        del key
        new_run, new_group = _boundaries_of(values, groups if group_bits else None, rows[order])
    if groups is not None and new_group is None:
        new_group = np.zeros(n, dtype=bool)
        new_group[:1] = True
    return order, new_run, new_group


def sort_within_groups(values: np.ndarray, groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` sorted by (group, value), as float64 (with -0.0 as 0.0, its equal).

    For float32 values and groups spanning at most 2**32 codes, one SIMD sort of `(group << 32) | value` keys, the
    values read back from them; otherwise the order of [`sorted_runs`].
    """
    n = rows.size
    low, high = (int(groups.min()), int(groups.max())) if n else (0, 0)
    if values.dtype != np.float32 or (high - low).bit_length() > 32:
        return values[rows[sorted_runs(values, groups, rows)[0]]].astype(np.float64)
    key = np.empty(n, dtype=np.uint64)

    def build(lo: int, hi: int) -> None:
        key[lo:hi] = _key_bits(values, groups, rows[lo:hi], 32, low, 0, 64)

    for_blocks(n, build)
    key.sort()
    out = np.empty(n)

    def decode(lo: int, hi: int) -> None:
        out[lo:hi] = key_values(key[lo:hi].astype(np.uint32))  # the low 32 bits: the value's key

    for_blocks(n, decode)
    return out


def _key_bits(
    values: np.ndarray, groups: np.ndarray | None, rows: np.ndarray, value_bits: int, low: int, offset: int, width: int
) -> np.ndarray:
    """Bits `offset` to `offset + width` of the key `((group - low) << value_bits) | value bits` of `rows`."""
    key = _float_key(values[rows])
    if offset >= value_bits:
        key[:] = 0
    elif offset:
        key >>= np.uint64(offset)
    if groups is not None and offset + width > value_bits:
        codes = groups[rows].astype(np.uint64)
        codes -= np.uint64(low % (1 << 64))  # modulo 2**64: the order of any int64 range is kept
        if offset <= value_bits:
            codes <<= np.uint64(value_bits - offset)
        else:
            codes >>= np.uint64(offset - value_bits)
        key |= codes
    key &= np.uint64((1 << width) - 1)
    return key


def _boundaries(key: np.ndarray, position_bits: int, value_bits: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Run and group starts from sorted `(group, value, position)` keys (groups above `value_bits` if given)."""
    n = key.size
    new_run = np.empty(n, dtype=bool)
    new_group = None if value_bits is None else np.empty(n, dtype=bool)

    def scan(lo: int, hi: int) -> None:
        top = key[max(lo - 1, 0) : hi] >> np.uint64(position_bits)
        new_run[lo:hi] = _changes(top, lo)
        if new_group is not None:
            top >>= np.uint64(value_bits)
            new_group[lo:hi] = _changes(top, lo)

    for_blocks(n, scan)
    return new_run, new_group


def _boundaries_of(
    values: np.ndarray, groups: np.ndarray | None, sorted_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run and group starts of `sorted_rows`, rows sorted by (group, value), comparing the values themselves."""
    n = sorted_rows.size
    new_run = np.empty(n, dtype=bool)
    new_group = None if groups is None else np.empty(n, dtype=bool)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        window = sorted_rows[max(lo - 1, 0) : hi]
        new_run[lo:hi] = _changes(values[window], lo)
        if new_group is not None:
            new_group[lo:hi] = _changes(groups[window], lo)
            new_run[lo:hi] |= new_group[lo:hi]
    return new_run, new_group


def _changes(window: np.ndarray, lo: int) -> np.ndarray:
    """Whether each element differs from the one before it, for a window that starts one element before block `lo`
    (except the first block, whose first element starts everything)."""
    return np.r_[True, window[1:] != window[:-1]] if lo == 0 else window[1:] != window[:-1]


class Difficulty:
    r"""
    Computes every row's difficulty from a [`ScoreTable`].

    A row trained on takes the quantile rank of its signal among the trained rows of its group. A row never trained
    on takes the quantile rank of its prior value within its group if a prior is given, else 0.5 (the median).

    Args:
        signal (`str`, *optional*, defaults to `"loss"`):
            `"loss"`, `"confidence"` (ranks 1 - confidence), `"learnability"` (first loss - current loss) or
            `"rho"` (current loss - `reference`); or `"pass_rate"`: 1 - the predicted pass rate
            ([`~curriculum.pass_rate.predicted_pass_rate`]), not ranked.
        groups (`np.ndarray` or `None`, *optional*):
            Integer group code per row (see [`encode_groups`]); ranks are computed within each group.
        prior (`np.ndarray` or `None`, *optional*):
            Numeric prior per row, higher = harder (for example an offline score column).
        reference (`np.ndarray` or `None`, *optional*):
            Reference loss per row, for `signal="rho"`.
        sharing ([`~curriculum.sharing.ScoreSharing`] or `None`, *optional*):
            Shares the signal between duplicates and passes it on to unseen near-duplicates before ranking.
        num_generations (`int`, *optional*, defaults to `1`):
            Completions per prompt and visit, for `signal="pass_rate"`.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import ScoreTable
    >>> from curriculum.difficulty import Difficulty
    >>> table = ScoreTable(3)
    >>> table.update(np.array([0, 1]), np.array([1.0, 3.0]), np.array([0.5, 0.1]))
    >>> Difficulty("loss")(table).tolist()
    [0.0, 1.0, 0.5]
    ```
    """

    def __init__(
        self,
        signal: str = "loss",
        groups: np.ndarray | None = None,
        prior: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        sharing: ScoreSharing | None = None,
        num_generations: int = 1,
    ):
        if signal == "rho" and reference is None:
            raise ValueError("signal='rho' needs a per-row reference loss (reference=...)")
        self.signal = signal
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.sharing = sharing
        self.num_generations = num_generations
        self.groups = None if groups is None else _integer_codes(groups)  # kept in their (narrow) dtype
        self.prior_rank = None
        if prior is not None:
            prior = np.asarray(prior, dtype=np.float64)
            self.prior_rank = np.nan_to_num(quantile_rank(prior, self.groups), nan=0.5)

    def values(self, table: ScoreTable, rows: np.ndarray | None = None) -> np.ndarray:
        """The raw signal (of `rows`, default all): NaN for rows never trained on."""
        if self.signal == "rho":
            reference = self.reference if rows is None else self.reference[rows]
            return table.signal("loss", rows) - reference
        return table.signal("confidence" if self.signal == "pass_rate" else self.signal, rows)

    def __call__(self, table: ScoreTable) -> np.ndarray:
        if self.signal == "pass_rate":  # not a rank: 1 - the predicted pass rate, so that a target of 0.5 means p = 1/2
            return 1.0 - predicted_pass_rate(table, self.num_generations, self.groups, self.sharing)
        values = self.values(table)
        if self.sharing is not None:
            values = self.sharing.share(values)
        # Unseen rows (non-finite signal) keep their prior rank, else the median.
        rank = np.full(len(values), 0.5) if self.prior_rank is None else self.prior_rank.copy()
        _rank_into(rank, np.asarray(values), self.groups)
        return rank
