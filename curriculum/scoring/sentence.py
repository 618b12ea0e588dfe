"""Cluster hardness on sentence embeddings from a local sentence-transformers model, instead of TF-IDF vectors."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .cluster import check_clusters, kmeans, silhouette

__all__: list[str] = []

INSTALL_HINT = 'pip install "curriculum[embeddings]"'


class _DenseRows:
    """Dense row vectors behind the few methods of [`~curriculum.scoring.tfidf.TfidfMatrix`] that [`kmeans`] and
    [`silhouette`] use, so that both run unchanged on embeddings."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    @property
    def shape(self) -> tuple[int, int]:
        return self.vectors.shape

    def matmul(self, dense: np.ndarray) -> np.ndarray:
        return self.vectors @ np.asarray(dense, dtype=np.float64)

    def rows_dense(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self.vectors[np.asarray(rows, dtype=np.int64)]

    def sum_by(self, labels: np.ndarray, num_labels: int) -> np.ndarray:
        sums = np.zeros((num_labels, self.vectors.shape[1]))
        np.add.at(sums, np.asarray(labels, dtype=np.int64), self.vectors)
        return sums

    def squared_norms(self) -> np.ndarray:
        return (self.vectors**2).sum(axis=1)


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """The rows as float64, divided by their L2 norm (a zero row stays zero)."""
    vectors = np.asarray(embeddings, dtype=np.float64)
    if vectors.ndim != 2:
        raise ValueError(f"embeddings should be a 2-D (rows, dim) array, but got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("embeddings should be finite, but hold NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def _import_sentence_transformers():
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(
            "the cluster scorer with an embedding model (embedding_model=..., --embedding-model) needs the "
            f"sentence-transformers library: {INSTALL_HINT} ({err})"
        ) from err
    return SentenceTransformer


def sentence_embeddings(
    model_path: str, texts: Sequence[str], batch_size: int = 32, progress: bool = False
) -> np.ndarray:
    r"""
    Unit-norm sentence embeddings of texts from a local sentence-transformers model, which applies its own pooling
    and normalisation: `SentenceTransformer(model_path, device=...).encode(texts, normalize_embeddings=True)`.

    The model runs on the device of [`~curriculum.scoring.processes.process_state`]. Under `accelerate launch` /
    `torchrun` each process embeds a contiguous share of the texts and every process gets all the embeddings, in row
    order.

    Args:
        model_path (`str`):
            A local sentence-transformers model directory (a plain Hugging Face encoder directory also loads, with
            mean pooling).
        texts (`Sequence[str]`):
            The texts.
        batch_size (`int`, *optional*, defaults to `32`):
            Texts per forward pass.
        progress (`bool`, *optional*, defaults to `False`):
            Progress bar (main process only).

    Returns:
        `np.ndarray`: `(len(texts), dim)` float64 rows of L2 norm 1.

    Raises:
        `ImportError`: sentence-transformers is not installed (`pip install "curriculum[embeddings]"`).
    """
    SentenceTransformer = _import_sentence_transformers()
    if not os.path.isdir(model_path):
        raise ValueError(
            f"the embedding model should be a local sentence-transformers model directory, but {model_path!r} is not "
            "a directory"
        )
    from .processes import process_state

    state = process_state()
    model = SentenceTransformer(model_path, device=str(state.device), local_files_only=True)
    texts = list(texts)
    with state.split_between_processes(list(range(len(texts)))) as mine:
        mine = list(mine)
    local = np.zeros((0, 0))
    if mine:
        local = model.encode(
            [texts[i] for i in mine],
            batch_size=batch_size,
            show_progress_bar=bool(progress and state.is_main_process),
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
    parts = [local]
    if state.num_processes > 1:
        from accelerate.utils import gather_object

        parts = gather_object([local])
    parts = [np.asarray(p, dtype=np.float64) for p in parts if np.size(p)]
    return _unit_rows(np.concatenate(parts)) if parts else np.zeros((0, 0))


def embedding_clusters(
    embeddings: np.ndarray, clusters: int = 8, seed: int = 0, n_init: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    r"""
    The k-means cluster label (int64, in `[0, clusters)`) and the hardness `(1 - silhouette) / 2` in [0, 1] of each
    row of an embedding matrix: [`~curriculum.scoring.cluster.cluster_labels_and_hardness`] on dense embeddings
    instead of TF-IDF vectors.

    The rows are L2-normalised, [`~curriculum.scoring.cluster.kmeans`] clusters them (Euclidean k-means on unit
    vectors, k-means++ seeding, best of `n_init` runs) and [`~curriculum.scoring.cluster.silhouette`] measures with
    the cosine distance `1 - x . y` how well each row sits in its cluster.

    Args:
        embeddings (`np.ndarray`):
            `(rows, dim)` embeddings, one row per text (a zero row is at distance 1 from every row).
        clusters (`int`, *optional*, defaults to `8`):
            Number of k-means clusters, from 2 to the number of rows.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the k-means++ initialisation.
        n_init (`int`, *optional*, defaults to `3`):
            k-means runs; the one with the lowest inertia is kept.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: the labels (int64) and the hardness (float64) of each row.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.scoring.sentence import embedding_clusters
    >>> x = np.array([[1.0, 0.1], [1.0, 0.0], [0.9, 0.2], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0]])
    >>> labels, hardness = embedding_clusters(x, clusters=2)
    >>> bool(labels[0] == labels[1] == labels[2] != labels[3] == labels[4]), int(hardness.argmax())
    (True, 5)
    ```
    """
    vectors = _unit_rows(embeddings)
    clusters = check_clusters(clusters, vectors.shape[0])
    rows = _DenseRows(vectors)
    labels = kmeans(rows, clusters, seed=seed, n_init=n_init)
    return labels, (1.0 - silhouette(rows, labels)) / 2.0
