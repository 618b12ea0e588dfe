"""Suspected noise: a two-component mixture on a per-row signal within each group, refitted at refresh points."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []

# The per-row signals the mixture can be fitted to (`noise_signal` in the config).
SIGNALS = ("loss", "first_loss", "gap")

# EM iterations of one fit: enough for a 1-D two-component mixture from quantile starts; fixed, so the fit is a pure
# function of its input (the same on every process).
_ITERATIONS = 30
# A fit is trusted only with this many rows in the group; a larger group is fitted on a sample of about _FIT_ROWS.
_MIN_ROWS = 16
_FIT_ROWS = 2048


def two_component_mixture(values: np.ndarray, iterations: int = _ITERATIONS) -> tuple[np.ndarray, dict[str, float]]:
    """Fit a two-component 1-D Gaussian mixture by EM and return each value's posterior of the high component.

    Starts from the 25th and 75th percentiles with the pooled variance, runs a fixed number of EM iterations in
    float64, and keeps each variance above 1e-6 of the data's. Deterministic: the same values give the same result.

    Returns:
        `tuple`: the posterior of the high-mean component per value, and the fit (`low`, `high` means, `low_std`,
        `high_std`, `high_weight`, `separation` = |high - low| / sqrt(low_std x high_std)).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.noise import two_component_mixture
    >>> rng = np.random.default_rng(0)
    >>> values = np.r_[rng.normal(0.2, 0.05, 900), rng.normal(2.0, 0.3, 100)]
    >>> posterior, fit = two_component_mixture(values)
    >>> round(fit["high_weight"], 2), bool(posterior[:900].max() < 0.01), bool(posterior[900:].min() > 0.99)
    (0.1, True, True)
    ```
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    total_var = float(x.var()) if n else 0.0
    if n < 2 or total_var <= 0.0:
        return np.zeros(n), {"low": 0.0, "high": 0.0, "low_std": 0.0, "high_std": 0.0, "high_weight": 0.0, "separation": 0.0}
    mean = np.quantile(x, [0.25, 0.75])
    var = np.full(2, total_var)
    weight = np.full(2, 0.5)
    floor = 1e-6 * total_var
    for _ in range(iterations):
        # E step in the log domain: responsibility of the high component.
        log_p = -0.5 * (x[:, None] - mean) ** 2 / var - 0.5 * np.log(var) + np.log(weight)
        high = 1.0 / (1.0 + np.exp(np.clip(log_p[:, 0] - log_p[:, 1], -700.0, 700.0)))
        resp = np.stack([1.0 - high, high], axis=1)
        mass = resp.sum(axis=0)
        if (mass <= 0).any():
            break
        weight = mass / n
        mean = (resp * x[:, None]).sum(axis=0) / mass
        var = np.maximum((resp * (x[:, None] - mean) ** 2).sum(axis=0) / mass, floor)
    if mean[0] > mean[1]:  # keep component 1 the high one
        mean, var, weight = mean[::-1], var[::-1], weight[::-1]
    std = np.sqrt(var)
    fit = {
        "low": float(mean[0]),
        "high": float(mean[1]),
        "low_std": float(std[0]),
        "high_std": float(std[1]),
        "high_weight": float(weight[1]),
        "separation": float((mean[1] - mean[0]) / np.sqrt(std[0] * std[1])),
    }
    return _posterior(x, *_log_odds_coefficients(fit)), fit


def _log_odds_coefficients(fit: dict[str, Any]) -> tuple[Any, Any, Any]:
    """`(a, b, c)` such that log p(low) - log p(high) = a x^2 + b x + c for the fitted mixture (parameters may be
    arrays: one fit per group)."""
    m0, m1, s0, s1, w = (np.asarray(fit[k], dtype=np.float64) for k in ("low", "high", "low_std", "high_std", "high_weight"))
    p0, p1 = 1.0 / s0**2, 1.0 / s1**2
    a = 0.5 * (p1 - p0)
    b = m0 * p0 - m1 * p1
    c = 0.5 * (m1**2 * p1 - m0**2 * p0) + np.log(s1 / s0) + np.log1p(-w) - np.log(w)
    return a, b, c


def _posterior(values: np.ndarray, a: Any, b: Any, c: Any) -> np.ndarray:
    """Posterior of the high component from the log-odds coefficients (scalars, or one per value)."""
    x = np.asarray(values, dtype=np.float64)
    z = a * x
    z += b
    z *= x
    z += c
    np.clip(z, -700.0, 700.0, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def _golden_hash(rows: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per row index (Fibonacci hashing): a sample that needs no sort."""
    return ((rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(11)).astype(np.float64) / 2.0**53


def noise_signal(scores: Any, name: str, min_visits: int) -> tuple[np.ndarray, int]:
    """The per-row values the noise mixture is fitted to, and the visits a row needs before they count.

    `"loss"`: the running loss, after `min_visits` visits. `"first_loss"`: the loss at the row's first visit, a
    held-out loss (a wrong answer to a skill the model knows stands out at once). `"gap"`: the running loss minus
    -log of the running confidence (mean target-token probability), never negative by Jensen's inequality: large
    when most target tokens are predicted and a few are confidently contradicted, near 0 when every token is
    equally uncertain (a hard row); from the first visit.
    """
    if name == "loss":
        return scores.loss, min_visits
    if name == "first_loss":
        return scores.first_loss, 1
    if name == "gap":
        confidence = np.maximum(scores.confidence.astype(np.float64), 1e-12)
        return scores.loss.astype(np.float64) + np.log(confidence), 1
    raise ValueError(f"noise_signal should be one of {SIGNALS}, but got {name!r}")


def noise_posterior(scores: Any, signal: str, min_visits: int, groups: np.ndarray | None) -> np.ndarray:
    """Each row's probability of being a wrong answer: [`noise_probability`] of the [`noise_signal`] `signal`."""
    values, visits = noise_signal(scores, signal, min_visits)
    return noise_probability(values, scores.count, groups, visits)


def noise_probability(
    loss: np.ndarray, count: np.ndarray, groups: np.ndarray | None, min_visits: int = 2
) -> np.ndarray:
    """Each row's probability of being a wrong answer: within each group, the posterior of the high-loss component
    of a [`two_component_mixture`] fitted to the running loss of the rows visited at least `min_visits` times.

    A group's fit is used only when it finds a minority high-loss mode (high component weight at most 0.5, means at
    least one standard deviation apart) among at least 16 rows; every other row gets 0. A group of more than
    `_FIT_ROWS` such rows is fitted on a fixed pseudo-random sample of about that many (the same on every process
    and every call), then every row is scored: O(rows) per call.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.noise import noise_probability
    >>> loss = np.r_[np.linspace(0.1, 0.3, 40), np.linspace(2.0, 2.2, 10), np.nan]
    >>> count = np.r_[np.full(50, 3), 0]
    >>> p = noise_probability(loss, count, groups=None)
    >>> bool(p[:40].max() < 0.01), bool(p[40:50].min() > 0.99), float(p[50])
    (True, True, 0.0)
    ```
    """
    out = np.zeros(len(loss))
    eligible = np.flatnonzero((np.asarray(count) >= min_visits) & np.isfinite(loss))
    if eligible.size == 0:
        return out
    codes = np.zeros(eligible.size, dtype=np.int64) if groups is None else np.asarray(groups)[eligible]
    sizes = np.bincount(codes)
    # The fit sample: each row of group g kept when its hash is below _FIT_ROWS / size_g.
    keep = _golden_hash(eligible) < (_FIT_ROWS / np.maximum(sizes, 1))[codes]
    sample, sample_codes = eligible[keep], codes[keep]
    order = np.argsort(sample_codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(sample_codes, minlength=sizes.size))]
    fits: dict[int, dict[str, float]] = {}
    for g in np.flatnonzero(sizes >= _MIN_ROWS):
        rows = sample[order[bounds[g] : bounds[g + 1]]]
        if rows.size < _MIN_ROWS:
            continue
        _, fit = two_component_mixture(loss[rows])
        if fit["high_weight"] <= 0.5 and fit["separation"] >= 1.0 and fit["low_std"] > 0.0:
            fits[int(g)] = fit
    if not fits:
        return out
    # Every row of a fitted group in one vectorised pass, with its group's log-odds coefficients gathered per row.
    table = np.full((sizes.size, 3), np.nan)
    for g, fit in fits.items():
        table[g] = _log_odds_coefficients(fit)
    if groups is None:
        out[eligible] = _posterior(loss[eligible], *table[0])
        return out
    fitted = np.isfinite(table[codes, 0])
    rows, params = eligible[fitted], table[codes[fitted]]
    out[rows] = _posterior(loss[rows], params[:, 0], params[:, 1], params[:, 2])
    return out
