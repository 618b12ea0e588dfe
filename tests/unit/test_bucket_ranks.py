"""Quantile ranks from value buckets (many values): ties kept, near-ties shared, within the bucket error of exact."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum import difficulty
from curriculum.difficulty import quantile_rank


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grouped", [False, True])
def test_bucket_ranks_match_the_sorted_ranks_up_to_near_ties(monkeypatch, dtype, grouped):
    rng = np.random.default_rng(0)
    values = rng.lognormal(0.0, 1.0, 200_000).astype(dtype)
    values[rng.random(values.size) < 0.3] = np.nan
    values[:500] = 1.5  # exact ties
    values[-1] = -2.0  # a negative value, alone in its bucket
    groups = rng.integers(0, 4, values.size) if grouped else None
    if grouped:
        groups[7] = 9  # a group of one value: 0.5
        values[7] = 3.0
    exact = quantile_rank(values, groups)
    monkeypatch.setattr(difficulty, "_BUCKETED_FROM", 1)
    bucketed = quantile_rank(values, groups)
    np.testing.assert_array_equal(np.isnan(bucketed), np.isnan(exact))
    finite = np.isfinite(exact)
    # A value shares its bucket only with values within 2**-14 (relative): its rank moves by at most their share.
    key = np.abs(values[finite]).astype(np.float64)
    near = max(int(np.sum(np.abs(key - k) <= k * 2.0**-13)) for k in key[rng.integers(0, key.size, 200)])
    assert np.abs(bucketed[finite] - exact[finite]).max() <= (500 + near) / finite.sum() * (4 if grouped else 1)
    if grouped:
        assert bucketed[7] == 0.5
    else:
        assert bucketed[-1] == 0.0 and np.unique(bucketed[:500]).size == 1  # ties share one rank
    # Rows far from any other value rank exactly as the sort ranks them.
    order = np.argsort(np.where(finite, values, np.inf))[: finite.sum()]
    lonely = order[np.r_[True, np.diff(values[order].astype(np.float64)) > 1e-3 * np.abs(values[order][1:])]]
    lonely = lonely[np.isin(lonely, np.flatnonzero(finite))]
    if not grouped:
        mid = lonely[(exact[lonely] > 0.2) & (exact[lonely] < 0.8)]
        assert np.allclose(bucketed[mid], exact[mid], atol=2 / finite.sum())
