"""THTB-style length hardness: the Instruction-Response Expansion Index (IREI) of each row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..difficulty import quantile_rank

__all__: list[str] = []

NORMALIZATIONS = ("rank", "minmax")


def text_lengths(texts: Sequence[str], tokenizer: Any = None) -> np.ndarray:
    """Length of each text: tokens without special tokens if a tokenizer is given, else whitespace-separated words.

    Example:

    ```python
    >>> from curriculum.scoring.length import text_lengths
    >>> text_lengths(["two words", "", " one "]).tolist()
    [2, 0, 1]
    ```
    """
    if tokenizer is None:
        return np.array([len(t.split()) for t in texts], dtype=np.int64)
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if len(texts) else []
    return np.array([len(x) for x in ids], dtype=np.int64)


def _minmax(values: np.ndarray) -> np.ndarray:
    low, high = values.min(), values.max()
    if high == low:
        return np.full(values.shape, 0.5)
    return (values - low) / (high - low)


def irei(
    instructions: Sequence[str],
    responses: Sequence[str],
    tokenizer: Any = None,
    normalization: str = "rank",
) -> np.ndarray:
    r"""
    Instruction-Response Expansion Index in [0, 1] of each row: how long the row is and how much the response
    expands on the instruction, relative to the rest of the dataset (THTB's extrinsic length hardness).

    With `I` and `R` the lengths of the instruction (prompt) and of the response (completion), in tokens if a
    tokenizer is given (special tokens excluded) else in whitespace-separated words:

        total(i) = I(i) + R(i)
        ratio(i) = R(i) / max(I(i), 1)
        irei(i)  = (norm(total)(i) + norm(ratio)(i)) / 2

    where `norm` maps a column of the dataset to [0, 1]: with `normalization="rank"` (default) its quantile rank
    (0 for the smallest value, 1 for the largest, ties share their mean rank, a single row gets 0.5), robust to a
    few very long rows; with `"minmax"` `(v - min) / (max - min)` (0.5 when all values are equal), as in THTB's
    reference implementation. Long responses to short instructions score high.

    Args:
        instructions (`Sequence[str]`):
            The prompt of each row.
        responses (`Sequence[str]`):
            The completion of each row.
        tokenizer (`PreTrainedTokenizerBase`, *optional*):
            Count tokens instead of words.
        normalization (`str`, *optional*, defaults to `"rank"`):
            `"rank"` or `"minmax"`.

    Example:

    ```python
    >>> from curriculum.scoring.length import irei
    >>> [round(float(v), 4) for v in irei(["a b", "a", "a b c d", ""], ["x", "x y z", "x y", "x y"])]
    [0.25, 0.8333, 0.5833, 0.3333]
    ```
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"normalization should be one of {list(NORMALIZATIONS)}, but got normalization={normalization!r}"
        )
    if len(instructions) != len(responses):
        raise ValueError(
            f"instructions and responses should have the same length, but got {len(instructions)} and {len(responses)}"
        )
    if len(instructions) == 0:
        return np.zeros(0)
    instruction = text_lengths(instructions, tokenizer).astype(np.float64)
    response = text_lengths(responses, tokenizer).astype(np.float64)
    total = instruction + response
    ratio = response / np.maximum(instruction, 1.0)
    norm = quantile_rank if normalization == "rank" else _minmax
    return (norm(total) + norm(ratio)) / 2.0
