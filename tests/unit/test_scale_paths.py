"""The paths large data takes: quantile ranks from value buckets, per-group sums block by block."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum import buckets
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
    monkeypatch.setattr(buckets, "_BUCKETED_FROM", 1)
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


def test_many_groups_keep_the_sort(monkeypatch):
    """More than 16 groups: one counting pass per group would cost more than the sort, which ranks them exactly."""
    rng = np.random.default_rng(1)
    values, groups = rng.lognormal(0.0, 1.0, 50_000).astype(np.float32), rng.integers(0, 40, 50_000)
    values[:300] = 1.5
    values[300] = np.float32(1.5) * np.float32(1 + 2**-20)  # a near-tie the buckets would merge with the ties
    exact, sorted_one = quantile_rank(values, groups), quantile_rank(values, None)
    monkeypatch.setattr(buckets, "_BUCKETED_FROM", 1)
    assert buckets.bucketed(50_000, None) and not buckets.bucketed(50_000, groups)
    np.testing.assert_array_equal(quantile_rank(values, groups), exact)
    merged = quantile_rank(values, None)  # one group: buckets, where the near-tie joins the ties
    assert merged[300] == merged[0] and sorted_one[300] > sorted_one[0]


def test_group_sums_blockwise_are_the_same_bits_with_any_threads(monkeypatch):
    from curriculum import blocks
    from curriculum.weights import _group_sums

    rng = np.random.default_rng(2)
    groups, values = rng.integers(0, 8, 300_000).astype(np.uint8), rng.random(300_000)
    sums = {}
    for threads in (1, 2, 4):
        monkeypatch.setattr(blocks, "_THREADS", threads)
        sums[threads] = _group_sums(groups, values, 8)
    np.testing.assert_array_equal(sums[1], sums[4])
    np.testing.assert_array_equal(sums[1], sums[2])
    np.testing.assert_allclose(sums[1], np.bincount(groups, weights=values, minlength=8), rtol=1e-12)
    small = rng.integers(0, 8, 1000)
    np.testing.assert_array_equal(_group_sums(small, values[:1000], 8), np.bincount(small, values[:1000], 8))
