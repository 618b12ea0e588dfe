"""Score sharing: duplicate rows share one score, unseen rows inherit the scores of scored near-duplicates."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from numbers import Real
from typing import NamedTuple

import numpy as np

__all__: list[str] = []

_SPACES = re.compile(r"\s+")
_U64 = np.uint64
# Shingles and signature pairs are processed in blocks of this many, to bound memory and stay in cache.
_BLOCK = 1 << 14
_CHUNK_CHARS = 1 << 22


def normalize_text(s: str) -> str:
    """Canonical form of a text for duplicate detection: NFKC, lowercase, whitespace runs collapsed to one space,
    and punctuation (Unicode category P*) and spaces stripped from both ends.

    Example:

    ```python
    >>> from curriculum.sharing import normalize_text
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
    >>> from curriculum.sharing import duplicate_groups
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
# Digests: a word's position key is its index in its text times _STEP; _MIXERS are the (shift, multiplier, shift,
# multiplier, shift) of the finalisers of the two 64-bit halves (SplitMix64's and MurmurHash3's).
_STEP = _U64(0x9E3779B97F4A7C15)
_MIXERS = ((30, 0xBF58476D1CE4E5B9, 27, 0x94D049BB133111EB, 31), (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33))
_SECOND = (_U64(29), _U64(0xD6E8FEB86659FD93))  # the second half sums `(m ^ m >> 29) * this` of the mixed words m
_KEYS = np.zeros(0, dtype=np.uint64)  # i * _STEP for i < len(_KEYS), grown on demand
_PADS = None  # "", "\0", ..., "\0" * 7 as a `pyarrow` large string array, made on first use


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


def _mix(x: np.ndarray, mixer: tuple[int, int, int, int, int], scratch: np.ndarray | None = None) -> np.ndarray:
    """A xor-shift-multiply finaliser (`mixer`: shift, multiplier, shift, multiplier, shift) of uint64 `x`, in
    place (`scratch`: a spare array like `x`): a fixed bijection that spreads every input bit over the whole word."""
    scratch = np.empty_like(x) if scratch is None else scratch
    a, b, c, d, e = mixer
    for shift, multiplier in ((a, b), (c, d), (e, None)):
        np.right_shift(x, _U64(shift), out=scratch)
        x ^= scratch
        if multiplier is not None:
            x *= _U64(multiplier)
    return x


def _aligned(keys):  # noqa: ANN001, ANN202 - a `pyarrow` large string array
    """`keys` with each text followed by the NUL bytes that round its length up to a multiple of 8, so every row
    starts on a word of the (fresh, 64-byte aligned) data buffer."""
    import pyarrow as pa
    import pyarrow.compute as pc

    global _PADS
    if _PADS is None:
        _PADS = pa.array(["\0" * k for k in range(8)], type=pa.large_string())
    keys = keys.cast(pa.large_string())
    lengths = np.diff(_text_bytes(keys)[0])
    pads = _PADS.take(pa.array((-lengths) % 8))
    return pc.binary_join_element_wise(keys, pads, pa.scalar("", pa.large_string())), lengths


def _position_keys(count: int) -> np.ndarray:
    """`np.arange(count) * _STEP` as uint64 (wrapping), from a table grown on demand and shared by the threads."""
    global _KEYS
    keys = _KEYS
    if len(keys) < count:
        keys = np.arange(max(count, 2 * len(keys)), dtype=np.uint64) * _STEP
        _KEYS = keys
    return keys[:count]


def _digests(keys) -> np.ndarray:  # noqa: ANN001 - a `pyarrow` string array without nulls
    """A 128-bit digest of each text, as `(len(keys), 2)` uint64. Each 8-byte word of the NUL-padded text, xored
    with its position's key, is mixed (a bijection) to m; the first half is the mixed sum of the m, the second the
    mixed sum of `(m ^ m >> 29) * odd`, a second non-linear function of them; both are mixed with the length."""
    padded, lengths = _aligned(keys)
    offsets, data = _text_bytes(padded)
    words = data.view(np.uint64) if data.size else np.zeros(0, dtype=np.uint64)
    count = np.diff(offsets) // 8
    starts = offsets[:-1] // 8
    filled = count > 0  # `reduceat` needs non-empty segments: empty texts sum to 0
    # Position keys: (global word index - the text's first word index) * _STEP, wrapping.
    mixed = np.repeat(starts.view(np.uint64) * _STEP, count)
    np.subtract(_position_keys(len(words)), mixed, out=mixed)
    mixed ^= words
    scratch = np.empty_like(words)
    _mix(mixed, _MIXERS[0], scratch)
    out = np.zeros((len(keys), 2), dtype=np.uint64)
    length_keys = lengths.view(np.uint64) * _STEP
    for half in range(2):
        if half:  # m -> (m ^ m >> 29) * odd, in place
            np.right_shift(mixed, _SECOND[0], out=scratch)
            mixed ^= scratch
            mixed *= _SECOND[1]
        sums = np.zeros(len(keys), dtype=np.uint64)
        if mixed.size:
            sums[filled] = np.add.reduceat(mixed, starts[filled])
        sums ^= length_keys
        out[:, half] = _mix(sums, _MIXERS[half])
    return out


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


def arrow_duplicate_digests(texts, separator: str | None = None) -> np.ndarray:  # noqa: ANN001
    """Per row of a `pyarrow` string array or chunked array without nulls, a 128-bit digest of its
    [`normalize_text`] form (`_keys`), as `(rows, 2)` uint64. Rows with equal forms have equal digests; two
    different forms, the digest taken as a random function, collide with probability about 2**-128, so any collision
    among 10**8 distinct rows has probability about 1.5e-23 (the digest is not cryptographic: crafted texts could
    collide). With `texts` a list of such columns, a row's text is theirs joined with `separator` (a whitespace
    character). Computed block by block (never all normalised texts at once) with Arrow and numpy kernels on two
    threads, without a Python loop over rows; only texts with a non-ASCII character are normalised in Python."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    parts = texts if isinstance(texts, list) else [texts]
    out = np.zeros((len(parts[0]), 2), dtype=np.uint64)
    if not len(out):
        return out

    def digest(block: tuple[int, list]) -> None:
        lo, columns = block
        out[lo : lo + len(columns[0])] = _digests(_block_keys(columns, separator))

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        list(pool.map(digest, _blocks(parts, _block_rows(parts))))
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


# ------------------------------------------------------------------------------------------------------------ MinHash


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a fixed, well-distributed bijection of uint64 (wraps modulo 2**64)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _is_int(value: object, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


def _check_minhash_args(num_perm: int, shingle: int, seed: int) -> None:
    if not _is_int(num_perm, 1):
        raise ValueError(f"num_perm should be a positive integer, but got num_perm={num_perm!r}")
    if not _is_int(shingle, 1):
        raise ValueError(f"shingle should be a positive integer, but got shingle={shingle!r}")
    if not _is_int(seed, 0):
        raise ValueError(f"seed should be a non-negative integer, but got seed={seed!r}")


def _signatures(keys: Sequence[str], num_perm: int, shingle: int, seed: int) -> np.ndarray:
    n = len(keys)
    sig = np.full((n, num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    # Permutation i of a shingle hash h: the top 32 bits of a_i * h + b_i (multiply-shift hashing, a_i odd).
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64) * _U64(2) + _U64(1)
    b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
    salt = _mix64(np.array([seed % (1 << 64)], dtype=np.uint64))
    # Texts are taken in chunks of about _CHUNK_CHARS characters, so memory stays flat on large corpora.
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    chunk = np.cumsum(lengths) // _CHUNK_CHARS
    cuts = np.r_[0, np.flatnonzero(np.diff(chunk)) + 1, n]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        _chunk_signatures(keys[lo:hi], lengths[lo:hi], shingle, a, b, salt, sig[lo:hi])
    return sig


def _chunk_signatures(
    keys: Sequence[str], lengths: np.ndarray, k: int, a: np.ndarray, b: np.ndarray, salt: np.ndarray, sig: np.ndarray
) -> None:
    if lengths.sum() == 0:
        return
    # Code points of all texts, one after the other; texts shorter than `k` are padded with zeros to one shingle.
    points = np.frombuffer("".join(keys).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + _U64(1)
    padded = np.where(lengths > 0, np.maximum(lengths, k), 0)
    padded_start = np.cumsum(padded) - padded
    chars = np.zeros(int(padded.sum()), dtype=np.uint64)
    chars[np.repeat(padded_start - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())] = points
    # Polynomial hash of every window of k characters, then mixed with the seed: one uint64 per shingle.
    windows = chars.size - k + 1
    h = np.zeros(windows, dtype=np.uint64)
    for t in range(k):
        h = h * _U64(0x100000001B3) + chars[t : t + windows]
    per_text = np.where(padded > 0, padded - k + 1, 0)
    owner = np.repeat(np.arange(len(lengths)), per_text)
    starts = np.repeat(padded_start - (np.cumsum(per_text) - per_text), per_text) + np.arange(per_text.sum())
    h = _mix64(h[starts] ^ salt)
    for lo in range(0, h.size, _BLOCK):
        hi = min(lo + _BLOCK, h.size)
        # (num_perm, shingles) layout: the reduction over each text's shingles then runs along contiguous memory.
        values = a[:, None] * h[lo:hi]
        values += b[:, None]
        block_owner = owner[lo:hi]
        cuts = np.r_[0, np.flatnonzero(np.diff(block_owner)) + 1]
        rows = block_owner[cuts]
        # The top 32 bits of the minimum are the minimum of the top 32 bits.
        block_min = (np.minimum.reduceat(values, cuts, axis=1) >> _U64(32)).astype(np.uint32).T
        sig[rows] = np.minimum(sig[rows], block_min)


def minhash_signatures(texts: Sequence[str], num_perm: int = 64, shingle: int = 5, seed: int = 0) -> np.ndarray:
    """MinHash signatures of the character `shingle`-grams of each [`normalize_text`]-ed text.

    The fraction of equal entries between two rows' signatures estimates the Jaccard similarity of their shingle
    sets (standard error about `sqrt(J (1 - J) / num_perm)`). Hashing is a fixed polynomial hash of code points
    with seeded multiply-shift permutations, so signatures are identical across processes, runs and platforms
    (Python's salted `hash()` is not used). A text shorter than `shingle` is one shingle; an empty text has no
    shingle and a signature of all `2**32 - 1`. Vectorised; O(total characters x num_perm).

    Args:
        texts (`Sequence[str]`):
            One text per row.
        num_perm (`int`, *optional*, defaults to `64`):
            Number of hash permutations (signature length).
        shingle (`int`, *optional*, defaults to `5`):
            Characters per shingle.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the permutations; signatures are comparable only under the same seed.

    Returns:
        `np.ndarray`: uint32 array of shape `(len(texts), num_perm)`.

    Example:

    ```python
    >>> from curriculum.sharing import minhash_signatures
    >>> sig = minhash_signatures(["the cat sat on the mat", "The cat sat on the mat!", "a dog"], num_perm=32)
    >>> sig.shape, bool((sig[0] == sig[1]).all()), float((sig[0] == sig[2]).mean())
    ((3, 32), True, 0.0)
    ```
    """
    _check_minhash_args(num_perm, shingle, seed)
    return _signatures(_keys(texts), num_perm, shingle, seed)


# ------------------------------------------------------------------------------------------------ Near-duplicates


class Neighbors(NamedTuple):
    """Near-duplicate graph in CSR form: row i's neighbours are `indices[indptr[i]:indptr[i + 1]]`, with
    estimated Jaccard similarities `similarity[indptr[i]:indptr[i + 1]]` (most similar first)."""

    indptr: np.ndarray
    indices: np.ndarray
    similarity: np.ndarray


def _band_keys(band: np.ndarray) -> np.ndarray:
    key = np.zeros(len(band), dtype=np.uint64)
    for t in range(band.shape[1]):
        key = _mix64(key ^ band[:, t].astype(np.uint64) ^ _U64(t * 0x9E3779B97F4A7C15 % (1 << 64)))
    return key


def _neighbors(
    keys: Sequence[str],
    canonical: np.ndarray,
    threshold: float,
    num_perm: int,
    shingle: int,
    bands: int,
    seed: int,
    max_neighbors: int,
) -> Neighbors:
    n = len(keys)
    # Only canonical, non-empty rows take part: copies of a row reach its neighbours through its duplicate group.
    rows = np.flatnonzero((canonical == np.arange(n)) & np.fromiter(map(bool, keys), dtype=bool, count=n))
    sig = _signatures([keys[i] for i in rows], num_perm, shingle, seed)
    m, width = len(rows), num_perm // bands
    # LSH: rows whose signatures agree on a whole band share a bucket. Within a bucket (in a seeded random order
    # per band) each row is paired with the next `max_neighbors` rows only, so a bucket of many near-copies costs
    # O(size x max_neighbors) pairs, not O(size^2).
    rng = np.random.default_rng(seed)
    pairs = []
    for j in range(bands):
        key = _band_keys(sig[:, j * width : (j + 1) * width])
        order = np.lexsort((rng.permutation(m), key))
        sorted_key = key[order]
        for d in range(1, min(max_neighbors, m - 1) + 1):
            same = np.flatnonzero(sorted_key[d:] == sorted_key[:-d])
            if same.size == 0:
                break
            lo, hi = np.minimum(order[same], order[same + d]), np.maximum(order[same], order[same + d])
            pairs.append(lo * m + hi)
    pairs = np.sort(np.concatenate(pairs)) if pairs else np.zeros(0, dtype=np.int64)
    pairs = pairs[np.r_[True, np.diff(pairs) != 0]] if pairs.size else pairs
    first, second = pairs // max(m, 1), pairs % max(m, 1)
    similarity = np.empty(pairs.size, dtype=np.float32)
    for lo in range(0, pairs.size, _BLOCK):
        hi = lo + _BLOCK
        similarity[lo:hi] = np.count_nonzero(sig[first[lo:hi]] == sig[second[lo:hi]], axis=1) / num_perm
    keep = similarity >= threshold
    first, second, similarity = rows[first[keep]], rows[second[keep]], similarity[keep]
    # Both directions, then each row's `max_neighbors` most similar (ties: lower index first).
    src, dst, sim = np.r_[first, second], np.r_[second, first], np.r_[similarity, similarity]
    order = np.lexsort((dst, -sim, src))
    src, dst, sim = src[order], dst[order], sim[order]
    counts = np.bincount(src, minlength=n)
    rank = np.arange(src.size) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = rank < max_neighbors
    indptr = np.r_[0, np.cumsum(np.bincount(src[keep], minlength=n))].astype(np.int64)
    return Neighbors(indptr, dst[keep].astype(np.int64), sim[keep])


def _check_neighbor_args(
    threshold: float, num_perm: int, shingle: int, bands: int, max_neighbors: int, seed: int
) -> None:
    _check_minhash_args(num_perm, shingle, seed)
    if not (isinstance(threshold, Real) and 0.0 < threshold <= 1.0):
        raise ValueError(f"threshold should be in (0, 1], but got threshold={threshold!r}")
    if not _is_int(bands, 1) or num_perm % bands:
        raise ValueError(
            f"bands should be a positive divisor of num_perm={num_perm}, but got bands={bands!r} "
            f"(try bands={next(b for b in (16, 8, 4, 2, 1) if num_perm % b == 0)})"
        )
    if not _is_int(max_neighbors, 1):
        raise ValueError(f"max_neighbors should be a positive integer, but got max_neighbors={max_neighbors!r}")


def near_duplicate_neighbors(
    texts: Sequence[str],
    threshold: float = 0.8,
    num_perm: int = 64,
    bands: int = 16,
    seed: int = 0,
    max_neighbors: int = 8,
    shingle: int = 5,
) -> Neighbors:
    """Near-duplicate pairs of rows by MinHash with LSH banding, as a symmetric sparse graph in CSR form.

    Rows are first grouped by [`duplicate_groups`]; only canonical rows with a non-empty text carry edges, so a
    row is never its own or its exact copy's neighbour (copies reach the graph through their canonical row). Rows
    sharing all `num_perm // bands` signature entries of some band become candidates; a candidate pair is kept
    when its estimated Jaccard similarity is at least `threshold`, and each row keeps its `max_neighbors` most
    similar neighbours. In a bucket of many near-copies each row is only compared with `max_neighbors` others per
    band (a seeded random sample), which keeps the cost O(total characters x num_perm + rows x bands x
    max_neighbors). Deterministic for a given input and seed.

    Args:
        texts (`Sequence[str]`):
            One text per row.
        threshold (`float`, *optional*, defaults to `0.8`):
            Least estimated Jaccard similarity of character shingles for a pair to be kept.
        num_perm (`int`, *optional*, defaults to `64`):
            MinHash signature length.
        bands (`int`, *optional*, defaults to `16`):
            LSH bands (a divisor of `num_perm`); more bands find pairs of lower similarity, at more cost.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the hash permutations and of the order within buckets.
        max_neighbors (`int`, *optional*, defaults to `8`):
            Most neighbours kept per row.
        shingle (`int`, *optional*, defaults to `5`):
            Characters per shingle.

    Returns:
        [`Neighbors`]: `(indptr, indices, similarity)` with `indptr` of length `len(texts) + 1`.

    Example:

    ```python
    >>> from curriculum.sharing import near_duplicate_neighbors
    >>> texts = ["Translate to French: the red house by the lake", "Translate to French: the red house by a lake",
    ...          "What is 12 times 7?"]
    >>> graph = near_duplicate_neighbors(texts, threshold=0.6)
    >>> graph.indptr.tolist(), graph.indices.tolist()
    ([0, 1, 2, 2], [1, 0])
    ```
    """
    _check_neighbor_args(threshold, num_perm, shingle, bands, max_neighbors, seed)
    keys = _keys(texts)
    return _neighbors(keys, _first_occurrence(keys), threshold, num_perm, shingle, bands, seed, max_neighbors)


# ------------------------------------------------------------------------------------------------------- Sharing


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
        self.canonical = canonical
        self.has_duplicates = bool((canonical != np.arange(n)).any())
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
        return len(self.canonical)

    @property
    def num_groups(self) -> int:
        """Number of distinct duplicate groups."""
        return int((self.canonical == np.arange(len(self))).sum())

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
            seen = np.isfinite(out)
            group = self.canonical[seen]
            total = np.bincount(group, weights=out[seen], minlength=n)
            count = np.bincount(group, minlength=n)
            with np.errstate(invalid="ignore", divide="ignore"):
                out = (total / count)[self.canonical]
        if self.indices is None or not self.indices.size:
            return out
        for _ in range(self.hops):
            value = out[self.indices]
            ok = np.isfinite(value) & (self.weights > 0)
            num = np.bincount(self.source[ok], weights=self.weights[ok] * value[ok], minlength=n)
            den = np.bincount(self.source[ok], weights=self.weights[ok], minlength=n)
            num, den = num[self.canonical], den[self.canonical]
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
