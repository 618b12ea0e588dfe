"""Offline hardness scores of a prompt/completion dataset (length, clustering, language-model loss, MIWV, and a
local instruct model's quality, Bloom level and discipline count, combined by THTB)."""

from __future__ import annotations

from ..lazy import lazy_getattr
from .registry import JUDGE_SCORERS, MODEL_SCORERS, SCORERS

# The public API is `score_dataset` and `select_top` (and the `curriculum score` / `select` commands); the other
# names are the building blocks they use, loaded on first use (some import torch and transformers).
__all__ = ["JUDGE_SCORERS", "MODEL_SCORERS", "SCORERS", "score_dataset", "select_top"]

_LAZY = {
    "score_dataset": "api", "select_top": "api",
    "cluster_hardness": "cluster", "kmeans": "cluster", "silhouette": "cluster",
    "load_rows": "io", "save_rows": "io",
    "judge_scores": "judge", "load_templates": "judge", "parse_answer": "judge",
    "irei": "length", "lm_scores": "lm",
    "nearest_neighbors": "tfidf", "tfidf_vectors": "tfidf",
    "rank01": "thtb", "thtb_scores": "thtb",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
