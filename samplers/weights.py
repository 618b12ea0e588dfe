"""Sampling weights: a kernel around the target difficulty, mixed with a uniform floor."""

from __future__ import annotations

import numpy as np

__all__ = ["KERNELS", "normalized_entropy", "sampling_weights"]

KERNELS = ("laplace", "gaussian")


def sampling_weights(
    difficulty: np.ndarray,
    target: float,
    kernel: str = "laplace",
    width: float = 0.15,
    uniform_mix: float = 0.1,
) -> np.ndarray:
    """Probability of drawing each row: `(1 - uniform_mix) * k(d - target) / sum(k) + uniform_mix / N`.

    The kernel part is normalised first, so `uniform_mix` is exactly the share of draws that ignore difficulty.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.samplers import sampling_weights
    >>> w = sampling_weights(np.array([0.0, 0.5, 1.0]), target=1.0, width=0.1, uniform_mix=0.0)
    >>> int(w.argmax()), round(float(w.sum()), 6)
    (2, 1.0)
    ```
    """
    if width <= 0:
        raise ValueError(f"width should be > 0, but got width={width}")
    if not 0.0 <= uniform_mix <= 1.0:
        raise ValueError(f"uniform_mix should be in [0, 1], but got uniform_mix={uniform_mix}")
    distance = np.abs(np.asarray(difficulty, dtype=np.float64) - target)
    if kernel == "laplace":
        # Shift by the minimum distance before exponentiating so that the largest weight is exp(0) = 1.
        k = np.exp(-(distance - distance.min()) / width)
    elif kernel == "gaussian":
        k = np.exp(-(distance**2 - distance.min() ** 2) / (2.0 * width**2))
    else:
        raise ValueError(f"kernel should be one of {list(KERNELS)}, but got kernel={kernel!r}")
    n = k.size
    return (1.0 - uniform_mix) * k / k.sum() + uniform_mix / n


def normalized_entropy(p: np.ndarray) -> float:
    """Entropy of a distribution divided by log(N): 1 for uniform, near 0 when concentrated on a few rows."""
    n = p.size
    if n <= 1:
        return 1.0
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(n))
