"""Offline hardness scores of a prompt/completion dataset (length, clustering, language-model loss, MIWV)."""

from __future__ import annotations

from .api import MODEL_SCORERS, SCORERS, score_dataset, select_top
from .cluster import cluster_hardness, kmeans, silhouette
from .io import load_rows, save_rows
from .length import irei
from .lm import lm_scores
from .tfidf import nearest_neighbors, tfidf_vectors

# The public API is `score_dataset` and `select_top` (and the `curriculum score` / `select` commands); the other
# names are the building blocks they use.
__all__ = ["MODEL_SCORERS", "SCORERS", "score_dataset", "select_top"]
