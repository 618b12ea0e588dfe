"""Suspected noise: a two-component mixture on a per-row signal within each group, refitted at refresh points."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

# EM iterations of one fit: enough for a 1-D two-component mixture from quantile starts; fixed, so the fit is a pure
# function of its input (the same on every process).
_ITERATIONS = 30
# A fit is trusted only with this many rows in the group.
_MIN_ROWS = 16


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
    log_p = -0.5 * (x[:, None] - mean) ** 2 / var - 0.5 * np.log(var) + np.log(weight)
    posterior = 1.0 / (1.0 + np.exp(np.clip(log_p[:, 0] - log_p[:, 1], -700.0, 700.0)))
    std = np.sqrt(var)
    fit = {
        "low": float(mean[0]),
        "high": float(mean[1]),
        "low_std": float(std[0]),
        "high_std": float(std[1]),
        "high_weight": float(weight[1]),
        "separation": float((mean[1] - mean[0]) / np.sqrt(std[0] * std[1])),
    }
    return posterior, fit


def noise_probability(
    loss: np.ndarray, count: np.ndarray, groups: np.ndarray | None, min_visits: int = 2
) -> np.ndarray:
    """Each row's probability of being a wrong answer: within each group, the posterior of the high-loss component
    of a [`two_component_mixture`] fitted to the running loss of the rows visited at least `min_visits` times.

    A group's fit is used only when it finds a minority high-loss mode (high component weight at most 0.5, means at
    least one standard deviation apart) among at least 16 rows; every other row gets 0.

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
    eligible = (np.asarray(count) >= min_visits) & np.isfinite(loss)
    if groups is None:
        members = [np.flatnonzero(eligible)]
    else:
        rows = np.flatnonzero(eligible)
        order = np.argsort(groups[rows], kind="stable")
        rows = rows[order]
        cuts = np.flatnonzero(np.diff(groups[rows])) + 1
        members = np.split(rows, cuts)
    for rows in members:
        if rows.size < _MIN_ROWS:
            continue
        posterior, fit = two_component_mixture(loss[rows])
        if fit["high_weight"] <= 0.5 and fit["separation"] >= 1.0:
            out[rows] = posterior
    return out
