"""THTB-style extrinsic hardness: k-means on TF-IDF vectors, then how poorly each row sits in its cluster."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tfidf import TfidfMatrix, tfidf_vectors

__all__: list[str] = []


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} should be an integer >= {minimum}, but got {name}={value!r}")
    return int(value)


def _squared_distances(vectors: TfidfMatrix, centers: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance of every row to every center: `(rows, k)`."""
    d = norms[:, None] - 2.0 * vectors.matmul(centers.T) + (centers**2).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans_once(vectors: TfidfMatrix, k: int, rng: np.random.Generator, max_iter: int) -> tuple[np.ndarray, float]:
    n = vectors.shape[0]
    norms = vectors.squared_norms()
    # k-means++ seeding: each next center is drawn with probability proportional to the squared distance to the
    # closest center so far (uniformly when every row sits on a center).
    centers = np.empty((k, vectors.shape[1]))
    centers[0] = vectors.rows_dense([rng.integers(n)])[0]
    closest = _squared_distances(vectors, centers[:1], norms)[:, 0]
    for c in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centers[c] = vectors.rows_dense([pick])[0]
        closest = np.minimum(closest, _squared_distances(vectors, centers[c : c + 1], norms)[:, 0])
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(max_iter):
        distances = _squared_distances(vectors, centers, norms)
        new = np.argmin(distances, axis=1)
        counts = np.bincount(new, minlength=k)
        # An empty cluster takes the row farthest from its own center (rows already moved are skipped).
        taken: set[int] = set()
        for c in np.flatnonzero(counts == 0):
            own = distances[np.arange(n), new]
            for i in np.argsort(-own, kind="stable"):
                if counts[new[i]] > 1 and int(i) not in taken:
                    counts[new[i]] -= 1
                    new[i] = c
                    counts[c] = 1
                    taken.add(int(i))
                    break
        if np.array_equal(new, labels):
            break
        labels = new
        centers = vectors.sum_by(labels, k) / np.maximum(counts, 1)[:, None]
    inertia = float(_squared_distances(vectors, centers, norms)[np.arange(n), labels].sum())
    return labels, inertia


def kmeans(vectors: TfidfMatrix, k: int, seed: int = 0, n_init: int = 3, max_iter: int = 100) -> np.ndarray:
    r"""
    Cluster label in `[0, k)` of each row: Lloyd's k-means on the (Euclidean) row vectors, seeded by k-means++,
    best of `n_init` runs by inertia (sum of squared distances to the centers). No cluster is left empty.
    Deterministic for a given `seed`.

    Example:

    ```python
    >>> from curriculum.scoring.cluster import kmeans
    >>> from curriculum.scoring.tfidf import tfidf_vectors
    >>> labels = kmeans(tfidf_vectors(["red apple", "green apple", "blue sky", "grey sky"]), k=2)
    >>> bool(labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2])
    True
    ```
    """
    n = vectors.shape[0]
    k = _check_int("clusters", k, 1)
    if k > n:
        raise ValueError(f"clusters should be at most the number of rows ({n}), but got clusters={k}")
    n_init = _check_int("n_init", n_init, 1)
    max_iter = _check_int("max_iter", max_iter, 1)
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        labels, inertia = _kmeans_once(vectors, k, rng, max_iter)
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def silhouette(vectors: TfidfMatrix, labels: Sequence[int] | np.ndarray) -> np.ndarray:
    r"""
    Silhouette coefficient in [-1, 1] of each row for the given clustering, with the cosine distance
    `d(x, y) = 1 - x . y` of the L2-normalised rows (a row without terms is at distance 1 from every row).

    With `a(i)` the mean distance from row i to the other rows of its cluster and `b(i)` the smallest mean
    distance from row i to the rows of another cluster, `s(i) = (b(i) - a(i)) / max(a(i), b(i))`; `s(i) = 0` when
    row i is alone in its cluster or when `a(i) = b(i) = 0` (Rousseeuw, 1987). Because `d` is linear in `y`, each
    mean distance is `1 - x . mean(cluster)`: O(k x stored entries), no pairwise matrix.

    Example:

    ```python
    >>> from curriculum.scoring.cluster import silhouette
    >>> from curriculum.scoring.tfidf import tfidf_vectors
    >>> s = silhouette(tfidf_vectors(["red apple", "red apple", "blue sky"]), [0, 0, 1])
    >>> [round(float(v), 4) for v in s]
    [1.0, 1.0, 0.0]
    ```
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = vectors.shape[0]
    if labels.shape != (n,):
        raise ValueError(f"labels should have one entry per row ({n}), but got shape {labels.shape}")
    if n and labels.min() < 0:
        raise ValueError(f"labels should be >= 0, but got {int(labels.min())}")
    k = int(labels.max()) + 1 if n else 0
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    if np.count_nonzero(sizes) < 2:
        return np.zeros(n)
    dots = vectors.matmul(vectors.sum_by(labels, k).T)  # x_i . (sum of cluster c), shape (n, k)
    rows = np.arange(n)
    own = sizes[labels]
    # a(i): the sum over the own cluster includes x_i . x_i, the distance to itself is not counted.
    a = ((own - 1.0) - (dots[rows, labels] - vectors.squared_norms())) / np.maximum(own - 1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_distance = 1.0 - dots / sizes[None, :]
    mean_distance[:, sizes == 0] = np.inf
    mean_distance[rows, labels] = np.inf
    b = mean_distance.min(axis=1)
    a, b = np.maximum(a, 0.0), np.maximum(b, 0.0)
    denominator = np.maximum(a, b)
    s = np.where(denominator > 0, (b - a) / np.where(denominator > 0, denominator, 1.0), 0.0)
    s[own < 2] = 0.0
    return np.clip(s, -1.0, 1.0)


def check_clusters(clusters: int, rows: int) -> int:
    """`clusters` as an int, checked to be from 2 to `rows` (the number of rows to cluster)."""
    clusters = _check_int("clusters", clusters, 2)
    if clusters > rows:
        raise ValueError(
            f"clusters should be at most the number of rows ({rows}), but got clusters={clusters}; "
            "pass a smaller number of clusters (--clusters on the command line)"
        )
    return clusters


def cluster_labels_and_hardness(
    texts: Sequence[str],
    clusters: int = 8,
    seed: int = 0,
    max_features: int | None = None,
    n_init: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    r"""
    The k-means cluster label (int64, in `[0, clusters)`) and the hardness in [0, 1] of each text, from one
    clustering: the labels are those [`cluster_hardness`] measures the silhouette in. The arguments are those of
    [`cluster_hardness`].

    The labels name groups of similar rows, usable as a task column (`group_column`) when the data has none.

    Example:

    ```python
    >>> from curriculum.scoring.cluster import cluster_labels_and_hardness
    >>> texts = ["red apple", "green apple", "ripe apple", "blue sky", "grey sky", "apple sky"]
    >>> labels, hardness = cluster_labels_and_hardness(texts, clusters=2)
    >>> bool(labels[0] == labels[1] == labels[2] != labels[3] == labels[4]), int(hardness.argmax())
    (True, 5)
    ```
    """
    clusters = check_clusters(clusters, len(texts))
    vectors = tfidf_vectors(texts, max_features=max_features)
    labels = kmeans(vectors, clusters, seed=seed, n_init=n_init)
    return labels, (1.0 - silhouette(vectors, labels)) / 2.0


def cluster_hardness(
    texts: Sequence[str],
    clusters: int = 8,
    seed: int = 0,
    max_features: int | None = None,
    n_init: int = 3,
) -> np.ndarray:
    r"""
    Extrinsic hardness in [0, 1] of each text from its place in a clustering of the dataset (THTB).

    The texts (for a prompt/completion dataset, prompt and completion joined by a newline) become TF-IDF vectors
    ([`~curriculum.scoring.tfidf.tfidf_vectors`]), [`kmeans`] groups them into `clusters` clusters, and
    [`silhouette`] (cosine distance) measures how well each row sits in its cluster. The hardness is

        hardness(i) = 1 - (s(i) + 1) / 2 = (1 - s(i)) / 2

    so a row close to its cluster and far from the others (s = 1) scores 0, a row on the border between two
    clusters (s = 0) scores 0.5 and a row closer to another cluster than to its own (s = -1) scores 1: atypical
    rows that fit no group of the data are the harder ones. (THTB's reference implementation adds `(s + 1) / 2`
    to its score instead; `1 - hardness` gives that value.)

    Args:
        texts (`Sequence[str]`):
            One text per row.
        clusters (`int`, *optional*, defaults to `8`):
            Number of k-means clusters, from 2 to the number of rows.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the k-means++ initialisation.
        max_features (`int` or `None`, *optional*):
            Keep only the terms found in the most texts. Default: all terms.
        n_init (`int`, *optional*, defaults to `3`):
            k-means runs; the one with the lowest inertia is kept.

    Example:

    ```python
    >>> from curriculum.scoring.cluster import cluster_hardness
    >>> texts = ["red apple", "green apple", "ripe apple", "blue sky", "grey sky", "apple sky"]
    >>> h = cluster_hardness(texts, clusters=2)
    >>> int(h.argmax())
    5
    ```
    """
    return cluster_labels_and_hardness(texts, clusters, seed, max_features, n_init)[1]
