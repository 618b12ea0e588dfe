"""Text keys for duplicate detection: normalisation, first occurrences and 128-bit digests (with an Arrow fast path)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__: list[str] = []

_SPACES = re.compile(r"\s+")


def normalize_text(s: str) -> str:
    """Canonical form of a text for duplicate detection: NFKC, lowercase, whitespace runs collapsed to one space,
    and punctuation (Unicode category P*) and spaces stripped from both ends.

    Example:

    ```python
    >>> from curriculum.text import normalize_text
    >>> normalize_text("  Hello,\\n\\tWORLD!! ")
    'hello, world'
    ```
    """
    if not isinstance(s, str):
        raise TypeError(
            f"texts should be strings, but got {type(s).__name__}: render each row to one string first "
            "(for example join the prompt and the completion)"
        )
    s = _SPACES.sub(" ", unicodedata.normalize("NFKC", s).lower())
    start, end = 0, len(s)
    while start < end and _is_edge(s[start]):
        start += 1
    while end > start and _is_edge(s[end - 1]):
        end -= 1
    return s[start:end]


def _is_edge(c: str) -> bool:
    return c == " " or unicodedata.category(c)[0] == "P"


def _keys(texts: Sequence[str]) -> list[str]:
    # A text with nothing left after normalisation (only spaces and punctuation) is keyed by its raw form; no
    # non-empty normalised text can equal it, since normalised texts never start with a space or punctuation.
    return [normalize_text(t) or t for t in texts]


def _first_occurrence(keys: Sequence[str]) -> np.ndarray:
    first: dict[str, int] = {}
    return np.fromiter((first.setdefault(k, i) for i, k in enumerate(keys)), dtype=np.int64, count=len(keys))


def duplicate_groups(texts: Sequence[str]) -> np.ndarray:
    """For each row, the index of the first row whose text has the same [`normalize_text`] form (its canonical
    row); a canonical row points to itself. O(total characters) with a hash map.

    Example:

    ```python
    >>> from curriculum.text import duplicate_groups
    >>> duplicate_groups(["2 + 2 = 4", "Other", "2 +  2 = 4.", "other"]).tolist()
    [0, 1, 0, 1]
    ```
    """
    return _first_occurrence(_keys(texts))


# ------------------------------------------------------------------------------------------- Arrow (datasets) fast path

# `normalize_text` restricted to ASCII texts, which Arrow's ASCII kernels compute exactly (NFKC leaves ASCII as is,
# `str.lower` only maps A-Z, and these are the ASCII characters `\s` and category P* match). Texts with any other
# character are normalised by `normalize_text` itself, so both paths give the same keys on every input.
_ASCII_EDGES = " " + "".join(chr(i) for i in range(128) if unicodedata.category(chr(i))[0] == "P")
_ARROW_BLOCK = 4096  # most rows normalised at a time
_BLOCK_BYTES = 1 << 19  # about this many bytes of text per block: the temporaries stay in cache


def _text_bytes(values) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - a `pyarrow` (large) string array
    """`(offsets, data)` of a string array: int64 row offsets into `data` from 0, and the uint8 bytes they index."""
    import pyarrow as pa

    width = np.int64 if pa.types.is_large_string(values.type) else np.int32
    start = values.offset * np.dtype(width).itemsize
    offsets = np.frombuffer(values.buffers()[1], dtype=width, count=len(values) + 1, offset=start)
    data = values.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets.astype(np.int64) - offsets[0], data[offsets[0] : offsets[-1]]


def _collapse_spaces(values):  # noqa: ANN001, ANN202 - a `pyarrow` (large) string array without nulls
    """`values` with every ASCII whitespace character (those `\\s` matches) turned into a space and each run of
    them into one, as a large string array: byte operations on the data buffer, many times faster than a regular
    expression. Bytes of multi-byte UTF-8 characters (>= 0x80) are never touched, so the text stays valid. A space
    opening a row after one closing the row before may be dropped too, which the trimming that follows would do."""
    import pyarrow as pa

    offsets, data = _text_bytes(values)
    control = np.zeros(0, dtype=np.int64)
    if (data < 32).any():  # \t \n \v \f \r (9-13) and \x1c-\x1f are whitespace
        control = np.flatnonzero(data < 32)
        control = control[((data[control] >= 9) & (data[control] <= 13)) | (data[control] >= 28)]
    if control.size:
        data = data.copy()
        data[control] = 32
    space = data == 32
    runs = space[1:] & space[:-1]
    drop = np.flatnonzero(runs) + 1 if runs.any() else np.zeros(0, dtype=np.int64)
    if drop.size:
        data = _delete(data, drop)
        offsets -= np.searchsorted(drop, offsets, side="left")
    elif not control.size and pa.types.is_large_string(values.type) and not values.offset:
        return values
    return pa.LargeStringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data))


def _delete(data: np.ndarray, drop: np.ndarray) -> np.ndarray:
    """`np.delete(data, drop)` for sorted unique `drop`: a few copied slices when few bytes go (cheaper than a mask)."""
    if drop.size > 64:
        return np.delete(data, drop)
    cuts = np.r_[-1, drop, data.size]
    return np.concatenate([data[lo + 1 : hi] for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist())])


def _arrow_keys(block, raw=None):  # noqa: ANN001, ANN202
    """`_keys` of a `pyarrow` string array without nulls, as a large string array. `raw(mask)`, when given, returns
    the texts of the rows in `mask` if they differ from `block`'s but normalise the same (content joined with "\n"
    where `block` joins it with " ")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = raw or block.filter
    key = pc.ascii_trim(_collapse_spaces(pc.ascii_lower(block)), characters=_ASCII_EDGES)
    if (np.diff(_text_bytes(key)[0]) == 0).any():  # nothing left: keyed by the raw text
        empty = pc.equal(pc.binary_length(key), 0)
        key = pc.replace_with_mask(key, empty, raw(empty).cast(pa.large_string()))
    data = _text_bytes(block)[1]
    if data.size and data.max() >= 128:  # some text is not ASCII: normalised in Python
        other = pc.invert(pc.string_is_ascii(block))
        texts = raw(other).to_pylist()
        key = pc.replace_with_mask(key, other, pa.array([normalize_text(t) or t for t in texts], type=key.type))
    return key


def _digests(keys) -> np.ndarray:  # noqa: ANN001 - a `pyarrow` string array without nulls
    """The 128-bit xxHash (XXH3) of each text's UTF-8 bytes, as `(len(keys), 2)` uint64: one compiled call per row
    over slices of the data buffer, driven by C iterators (no Python bytecode per row)."""
    import xxhash

    offsets, data = _text_bytes(keys)
    bounds = offsets.tolist()
    views = map(memoryview(data).__getitem__, map(slice, bounds[:-1], bounds[1:]))
    return np.frombuffer(b"".join(map(xxhash.xxh3_128_digest, views)), dtype=np.uint64).reshape(-1, 2)


def _block_rows(parts: list) -> int:
    """Rows per block: about `_BLOCK_BYTES` of text, at most `_ARROW_BLOCK` rows."""
    n = len(parts[0])
    size = sum(part.nbytes for part in parts)
    return int(max(1, min(_ARROW_BLOCK, _BLOCK_BYTES * n // max(size, 1))))


def _blocks(parts: list, rows: int) -> list[tuple[int, list]]:
    """`(first row, [column slice, ...])` of blocks of at most `rows` rows of the columns `parts`, zero-copy."""
    import pyarrow as pa

    table = pa.Table.from_arrays(parts, names=[str(i) for i in range(len(parts))])
    blocks, lo = [], 0
    for batch in table.to_batches(max_chunksize=rows):
        blocks.append((lo, list(batch.columns)))
        lo += batch.num_rows
    return blocks


def _block_keys(block: list, separator: str | None):  # noqa: ANN202
    """`_arrow_keys` of one block of columns, joined with `separator`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(block) == 1:
        return _arrow_keys(block[0])
    block = [b.cast(pa.large_string()) for b in block]
    space = pa.scalar(" ", pa.large_string())
    # Whitespace normalises to one space, so joining with " " gives the keys of the texts joined with `separator`.
    joined = pc.binary_join_element_wise(*block, space)
    sep = pa.scalar(separator, pa.large_string())
    return _arrow_keys(joined, lambda mask: pc.binary_join_element_wise(*(b.filter(mask) for b in block), sep))


# From this many rows on, the hashing pass shows a progress bar.
PROGRESS_ROWS = 1_000_000


def arrow_duplicate_digests(texts, separator: str | None = None) -> np.ndarray:  # noqa: ANN001
    """Per row of a `pyarrow` string array or chunked array without nulls, a 128-bit digest of its
    [`normalize_text`] form (`_keys`), as `(rows, 2)` uint64. Rows with equal forms have equal digests; two
    different forms, the digest taken as a random function, collide with probability about 2**-128, so any collision
    among 10**8 distinct rows has probability about 1.5e-23 (the digest is not cryptographic: crafted texts could
    collide). With `texts` a list of such columns, a row's text is theirs joined with `separator` (a whitespace
    character). Computed block by block (never all normalised texts at once) on two threads, normalised with Arrow
    and numpy kernels and hashed with xxHash's XXH3-128, without a Python loop over rows; only texts with a
    non-ASCII character are normalised in Python."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    parts = texts if isinstance(texts, list) else [texts]
    out = np.zeros((len(parts[0]), 2), dtype=np.uint64)
    if not len(out):
        return out

    def digest(block: tuple[int, list]) -> None:
        lo, columns = block
        out[lo : lo + len(columns[0])] = _digests(_block_keys(columns, separator))

    from tqdm.auto import tqdm

    blocks = _blocks(parts, _block_rows(parts))
    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        done = pool.map(digest, blocks)
        # A bar on large data, where this pass takes seconds to a minute (it is most of `attach`'s time).
        list(tqdm(done, total=len(blocks), desc="curriculum: hashing rows", unit="block", leave=False,
                  disable=len(out) < PROGRESS_ROWS))
    return out


def first_of_digests(digests: np.ndarray) -> np.ndarray:
    """Per row of `(rows, 2)` uint64 digests, the first row with the same digest (the canonical rows of
    [`duplicate_groups`]): an argsort of the first halves, and of both halves only where two rows share a first
    half but not the second."""
    n = len(digests)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    high, low = np.ascontiguousarray(digests[:, 0]), np.ascontiguousarray(digests[:, 1])
    order = np.argsort(high)
    sorted_high, sorted_low = high[order], low[order]
    same = sorted_high[1:] == sorted_high[:-1]
    if (same & (sorted_low[1:] != sorted_low[:-1])).any():  # rows sharing a first half interleave: sort by both
        order = np.lexsort((low, high))
        sorted_high, sorted_low = high[order], low[order]
        same = sorted_high[1:] == sorted_high[:-1]
    starts = np.flatnonzero(np.r_[True, ~(same & (sorted_low[1:] == sorted_low[:-1]))])
    first = np.minimum.reduceat(order, starts)  # each group's first row
    out = np.empty(n, dtype=np.int64)
    out[order] = np.repeat(first, np.diff(np.r_[starts, n]))
    return out


def arrow_duplicate_codes(texts, separator: str | None = None) -> np.ndarray:  # noqa: ANN001
    """Per row of a `pyarrow` string array or chunked array without nulls (or a list of them, joined with
    `separator`), the first row with the same [`normalize_text`] form (`_keys`), from [`arrow_duplicate_digests`]:
    the rows with one code are the groups of [`duplicate_groups`], and the codes are those groups' canonical rows."""
    return first_of_digests(arrow_duplicate_digests(texts, separator))


def first_of_codes(codes: np.ndarray) -> np.ndarray:
    """Per row, the first row with the same integer code (the canonical rows of [`duplicate_groups`]): with codes
    in `[0, 4 x rows]` (such as row numbers), a running minimum per code, else a sort."""
    codes = np.asarray(codes)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.issubdtype(codes.dtype, np.integer) and codes.min() >= 0 and codes.max() <= 4 * codes.size:
        first = np.full(int(codes.max()) + 1, codes.size, dtype=np.int64)
        np.minimum.at(first, codes, np.arange(codes.size))
        return first[codes]
    _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    return first.astype(np.int64)[inverse.reshape(-1)]
