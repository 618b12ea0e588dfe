"""The data map: one category per row (easy, ambiguous, hard, suspected noise, duplicate, never trained)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []

CATEGORIES = ("easy", "ambiguous", "hard", "suspected_noise", "duplicate", "never_trained")
# Dataset cartography (Swayamdipta et al., 2020) in absolute units of the target-token probability: a row is easy
# when the model gives its target tokens at least even odds on average, ambiguous when that probability swings by
# this much (standard deviation) across visits.
EASY_CONFIDENCE = 0.5
AMBIGUOUS_VARIABILITY = 0.2
NOISE_POSTERIOR = 0.5


def categorize(
    count: np.ndarray,
    confidence: np.ndarray,
    variability: np.ndarray,
    noise: np.ndarray,
    duplicate: np.ndarray | None = None,
) -> np.ndarray:
    """Category code (an index into [`CATEGORIES`]) of each row, the first that applies of:

    1. `duplicate`: a copy of an earlier row (its score is shared with that row);
    2. `never_trained`: no visit yet;
    3. `suspected_noise`: noise posterior above 0.5;
    4. `ambiguous`: confidence standard deviation across visits of at least 0.2;
    5. `easy`: running confidence of at least 0.5;
    6. `hard`: the rest (low confidence, stable).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.datamap import CATEGORIES, categorize
    >>> codes = categorize(np.array([3, 3, 3, 3, 0]), np.array([0.9, 0.5, 0.2, 0.1, np.nan]),
    ...                    np.array([0.05, 0.3, 0.05, 0.02, np.nan]), np.array([0, 0, 0, 0.9, 0]))
    >>> [CATEGORIES[c] for c in codes]
    ['easy', 'ambiguous', 'hard', 'suspected_noise', 'never_trained']
    ```
    """
    codes = np.full(len(count), CATEGORIES.index("hard"), dtype=np.int8)
    trained = np.asarray(count) > 0
    with np.errstate(invalid="ignore"):
        easy = trained & (confidence >= EASY_CONFIDENCE)
        ambiguous = trained & (variability >= AMBIGUOUS_VARIABILITY)
    codes[easy] = CATEGORIES.index("easy")
    codes[ambiguous] = CATEGORIES.index("ambiguous")
    codes[trained & (noise > NOISE_POSTERIOR)] = CATEGORIES.index("suspected_noise")
    codes[~trained] = CATEGORIES.index("never_trained")
    if duplicate is not None:
        codes[duplicate] = CATEGORIES.index("duplicate")
    return codes


def category_counts(codes: np.ndarray) -> dict[str, int]:
    """Rows per category, every category present (0 when empty)."""
    counts = np.bincount(codes, minlength=len(CATEGORIES))
    return {name: int(n) for name, n in zip(CATEGORIES, counts)}


def build_data_map(scores: Any, noise: np.ndarray, duplicate: np.ndarray | None) -> dict[str, np.ndarray]:
    """The data map of a score table, per row: `category` (a name of [`CATEGORIES`]), `noise` (probability of a
    wrong answer), `confidence` (running mean target-token probability) and `variability` (its standard deviation
    across visits), `loss` and `visits`."""
    codes = categorize(scores.count, scores.confidence, scores.variability, noise, duplicate)
    return {
        "category": np.asarray(CATEGORIES, dtype=object)[codes],
        "noise": noise,
        "confidence": scores.confidence.astype(np.float64),
        "variability": scores.variability.astype(np.float64),
        "loss": scores.loss.astype(np.float64),
        "visits": scores.count.astype(np.int64),
    }
