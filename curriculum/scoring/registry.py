"""The scorers of `curriculum score` and `score_dataset`, by kind, and the columns a run of them writes (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CLUSTER_ID_COLUMN", "JUDGE_SCORERS", "MODEL_SCORERS", "SCORERS", "THTB_INPUTS", "expand", "written_columns"]

SCORERS = ("length", "cluster", "loss", "confidence", "miwv", "quality", "bloom", "disciplines", "thtb")
# Scores from a causal language model's forward pass (`curriculum.scoring.lm`).
MODEL_SCORERS = ("loss", "confidence", "miwv")
# Answers of a local instruct model (the judge) to prompt templates (`curriculum.scoring.judge`).
JUDGE_SCORERS = ("quality", "bloom", "disciplines")
# What the THTB combination is computed from (`curriculum.scoring.thtb`), in the order its columns are written.
THTB_INPUTS = ("quality", "bloom", "disciplines", "length", "cluster")
# The column of each row's k-means cluster, written with the "cluster" score (the same clustering).
CLUSTER_ID_COLUMN = "cluster_id"


def expand(scorers: str | Sequence[str]) -> list[str]:
    """The scorers a request runs, in the order their columns are written: each once, and with `"thtb"` its inputs
    before it.

    Example:

    ```python
    >>> from curriculum.scoring.registry import expand
    >>> expand(["thtb", "length", "length"])
    ['length', 'quality', 'bloom', 'disciplines', 'cluster', 'thtb']
    ```
    """
    names = [scorers] if isinstance(scorers, str) else list(scorers)
    if not names:
        raise ValueError(f"scorers should name at least one of {list(SCORERS)}, but got scorers={scorers!r}")
    unknown = [s for s in names if s not in SCORERS]
    if unknown:
        raise ValueError(f"unknown scorer(s) {unknown}; the scorers are {list(SCORERS)}")
    names = list(dict.fromkeys(names))
    if "thtb" in names:
        names = [s for s in names if s != "thtb"]
        names += [s for s in THTB_INPUTS if s not in names] + ["thtb"]
    return names


def written_columns(scorers: Sequence[str], prefix: str = "score_") -> list[str]:
    """The columns a run of the [`expand`]ed `scorers` writes: one score column each, and the cluster ids after the
    cluster score."""
    columns = [prefix + s for s in scorers]
    if "cluster" in scorers:
        columns.insert(columns.index(prefix + "cluster") + 1, CLUSTER_ID_COLUMN)
    return columns
