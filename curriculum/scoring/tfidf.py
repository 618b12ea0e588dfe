"""TF-IDF vectors of texts as a sparse row matrix, and each row's nearest neighbour by cosine similarity."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__: list[str] = []

_WORD = re.compile(r"\w+")
# Dense blocks built from sparse rows stay under this many float64 entries (32 MiB).
_BLOCK_ENTRIES = 1 << 22


def words(text: str) -> list[str]:
    r"""The terms of a text for TF-IDF: lower-cased runs of letters, digits and underscores (`\w+`).

    Example:

    ```python
    >>> from curriculum.scoring.tfidf import words
    >>> words("Add 12+7, then REVERSE it!")
    ['add', '12', '7', 'then', 'reverse', 'it']
    ```
    """
    return _WORD.findall(text.lower())


@dataclass
class TfidfMatrix:
    r"""
    A `(rows, terms)` matrix in compressed sparse row form: row `i` holds `data[indptr[i]:indptr[i + 1]]` at the
    columns `indices[indptr[i]:indptr[i + 1]]`.

    Args:
        indptr (`np.ndarray`): Row boundaries, `rows + 1` int64 offsets.
        indices (`np.ndarray`): Column (term) of each stored entry, int64.
        data (`np.ndarray`): Value of each stored entry, float64.
        terms (`list[str]`): The term of each column.

    Example:

    ```python
    >>> from curriculum.scoring.tfidf import tfidf_vectors
    >>> x = tfidf_vectors(["a b", "a c"])
    >>> x.shape, x.terms
    ((2, 3), ['a', 'b', 'c'])
    ```
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    terms: list[str]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.indptr) - 1, len(self.terms))

    def row_ids(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def matmul(self, dense: np.ndarray) -> np.ndarray:
        """`self @ dense` for a dense `(terms, k)` array: a dense `(rows, k)` array."""
        dense = np.asarray(dense, dtype=np.float64)
        rows = self.row_ids()
        out = np.empty((self.shape[0], dense.shape[1]))
        for j in range(dense.shape[1]):
            out[:, j] = np.bincount(rows, weights=self.data * dense[self.indices, j], minlength=self.shape[0])
        return out

    def rows_dense(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The given rows as a dense `(len(rows), terms)` array."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((rows.size, self.shape[1]))
        for r, i in enumerate(rows):
            lo, hi = self.indptr[i], self.indptr[i + 1]
            out[r, self.indices[lo:hi]] = self.data[lo:hi]
        return out

    def sum_by(self, labels: np.ndarray, num_labels: int) -> np.ndarray:
        """Sum of the rows of each label: a dense `(num_labels, terms)` array."""
        flat = np.asarray(labels, dtype=np.int64)[self.row_ids()] * self.shape[1] + self.indices
        sums = np.bincount(flat, weights=self.data, minlength=num_labels * self.shape[1])
        return sums.reshape(num_labels, self.shape[1])

    def squared_norms(self) -> np.ndarray:
        """Squared L2 norm of each row (1, or 0 for a text without terms, once normalised)."""
        return np.bincount(self.row_ids(), weights=self.data**2, minlength=self.shape[0])


def tfidf_vectors(texts: Sequence[str], max_features: int | None = None) -> TfidfMatrix:
    r"""
    L2-normalised TF-IDF vectors of texts, one row per text.

    With `tf(t, d)` the number of times term `t` occurs in text `d` (terms from [`words`]), `n` the number of texts
    and `df(t)` the number of texts containing `t`, entry `(d, t)` is `tf(t, d) * (ln((1 + n) / (1 + df(t))) + 1)`
    (smoothed idf), and each row is then divided by its L2 norm. A text without terms is a row of zeros.

    Args:
        texts (`Sequence[str]`):
            The texts.
        max_features (`int` or `None`, *optional*):
            Keep only the terms found in the most texts (ties broken alphabetically). Default: all terms.

    Example:

    ```python
    >>> from curriculum.scoring.tfidf import tfidf_vectors
    >>> x = tfidf_vectors(["red apple", "green apple", ""])
    >>> [round(float(v), 4) for v in x.squared_norms()]
    [1.0, 1.0, 0.0]
    ```
    """
    bad = isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1
    if max_features is not None and bad:
        raise ValueError(f"max_features should be a positive integer or None, but got max_features={max_features!r}")
    counts = [Counter(words(t)) for t in texts]
    df = Counter(term for c in counts for term in c)
    terms = sorted(df)
    if max_features is not None and len(terms) > max_features:
        terms = sorted(sorted(df, key=lambda t: (-df[t], t))[:max_features])
    column = {t: j for j, t in enumerate(terms)}
    n = len(counts)
    idf = np.array([np.log((1 + n) / (1 + df[t])) + 1.0 for t in terms])

    indptr = np.zeros(n + 1, dtype=np.int64)
    indices: list[int] = []
    data: list[float] = []
    for i, c in enumerate(counts):
        kept = sorted((column[t], k) for t, k in c.items() if t in column)
        indices.extend(j for j, _ in kept)
        data.extend(float(k) for _, k in kept)
        indptr[i + 1] = len(indices)
    matrix = TfidfMatrix(indptr, np.asarray(indices, dtype=np.int64), np.asarray(data, dtype=np.float64), terms)
    if matrix.data.size:
        matrix.data *= idf[matrix.indices]
        norms = np.sqrt(matrix.squared_norms())
        matrix.data /= norms[matrix.row_ids()]
    return matrix


def nearest_neighbors(vectors: TfidfMatrix, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    r"""
    For each of `rows` (default all), the other row with the highest cosine similarity (dot product of the
    normalised vectors); ties go to the lowest index. A dataset of one row has no neighbour: -1.

    O(rows x stored entries) time, in blocks of bounded memory.

    Example:

    ```python
    >>> from curriculum.scoring.tfidf import nearest_neighbors, tfidf_vectors
    >>> nearest_neighbors(tfidf_vectors(["red apple", "blue sky", "green apple", "sky"])).tolist()
    [2, 3, 0, 1]
    ```
    """
    n = vectors.shape[0]
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.full(rows.size, -1, dtype=np.int64)
    if n < 2:
        return out
    block = max(1, min(256, _BLOCK_ENTRIES // max(1, vectors.shape[1])))
    for start in range(0, rows.size, block):
        chunk = rows[start : start + block]
        similarity = vectors.matmul(vectors.rows_dense(chunk).T).T  # (len(chunk), n)
        similarity[np.arange(chunk.size), chunk] = -np.inf
        out[start : start + chunk.size] = np.argmax(similarity, axis=1)
    return out
