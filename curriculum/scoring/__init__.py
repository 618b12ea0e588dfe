"""Offline hardness scores of a prompt/completion dataset (length, clustering, language-model loss, MIWV, and a
local instruct model's quality, Bloom level and discipline count, combined by THTB)."""

from __future__ import annotations

from .api import JUDGE_SCORERS, MODEL_SCORERS, SCORERS, score_dataset, select_top
from .cluster import cluster_hardness, kmeans, silhouette
from .io import load_rows, save_rows
from .judge import judge_scores, load_templates, parse_answer
from .length import irei
from .lm import lm_scores
from .tfidf import nearest_neighbors, tfidf_vectors
from .thtb import rank01, thtb_scores

# The public API is `score_dataset` and `select_top` (and the `curriculum score` / `select` commands); the other
# names are the building blocks they use.
__all__ = ["JUDGE_SCORERS", "MODEL_SCORERS", "SCORERS", "score_dataset", "select_top"]
