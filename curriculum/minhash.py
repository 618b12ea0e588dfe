"""MinHash signatures of texts and the near-duplicate graph they give (banded locality-sensitive hashing)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import NamedTuple

import numpy as np

from .text import _first_occurrence, _keys

__all__: list[str] = []

_U64 = np.uint64
# Shingles and signature pairs are processed in blocks of this many, to bound memory and stay in cache.
_BLOCK = 1 << 14
_CHUNK_CHARS = 1 << 22


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
    >>> from curriculum.minhash import minhash_signatures
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
    >>> from curriculum.minhash import near_duplicate_neighbors
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
