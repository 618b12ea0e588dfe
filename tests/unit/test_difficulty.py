"""Quantile ranks within groups, group encoding, and `Difficulty` with and without a prior."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum.difficulty import Difficulty, encode_groups, quantile_rank, sort_within_groups, sorted_runs
from curriculum.scores import ScoreTable

nan = np.nan
assert_equal = np.testing.assert_array_equal


def brute_force_rank(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Reference: (number below + (ties - 1) / 2) / (group size - 1), over finite values of the same group."""
    out = np.full(len(values), nan)
    for i, (v, g) in enumerate(zip(values, groups)):
        if not np.isfinite(v):
            continue
        peers = values[(groups == g) & np.isfinite(values)]
        if peers.size == 1:
            out[i] = 0.5
            continue
        below = np.sum(peers < v)
        ties = np.sum(peers == v)
        out[i] = (below + (ties - 1) / 2) / (peers.size - 1)
    return out


def lexsort_rank(values: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Reference: the first implementation (lexsort over (group, value), mean position of each run of ties)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full(values.shape, nan)
    idx = np.flatnonzero(np.isfinite(values))
    if idx.size == 0:
        return out
    v = values[idx]
    g = np.zeros(idx.size, dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)[idx]
    order = np.lexsort((v, g))
    sv, sg = v[order], g[order]
    pos = np.arange(idx.size, dtype=np.float64)
    new_run = np.r_[True, (np.diff(sv) != 0) | (np.diff(sg) != 0)]
    run = np.cumsum(new_run) - 1
    run_mean = np.bincount(run, weights=pos) / np.bincount(run)
    new_group = np.r_[True, np.diff(sg) != 0]
    group_id = np.cumsum(new_group) - 1
    size = np.bincount(group_id)[group_id]
    start = np.flatnonzero(new_group)[group_id]
    out[idx[order]] = np.where(size > 1, (run_mean[run] - start) / np.maximum(size - 1, 1), 0.5)
    return out


def random_values(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    """Continuous values mixed with many exact ties, signed zeros, infinities and NaN."""
    values = rng.normal(size=n)
    special = rng.random(n) < 0.4
    values[special] = rng.choice([0.0, -0.0, 1.5, -2.25, 7.0, np.inf, -np.inf, nan, 3.4e38, -1e-40], special.sum())
    return values.astype(dtype)


GROUPINGS = {
    "none": lambda rng, n: None,
    "few": lambda rng, n: rng.integers(0, 8, n),
    "negative": lambda rng, n: rng.integers(-4, 4, n),
    "many": lambda rng, n: rng.integers(0, 5000, n),
    "int64 range": lambda rng, n: rng.choice(np.array([np.iinfo(np.int64).min, -1, 0, 3, np.iinfo(np.int64).max]), n),
    "one": lambda rng, n: np.full(n, 7),
}


# ---------------------------------------------------------------------------------------------------- quantile_rank


def test_docstring_example():
    assert_equal(quantile_rank(np.array([3.0, 1.0, nan, 2.0, 5.0]), np.array([0, 0, 0, 1, 1])), [1.0, 0.0, nan, 0.0, 1.0])


def test_distinct_values_without_groups():
    assert_equal(quantile_rank(np.array([10.0, 30.0, 20.0, 40.0, 0.0])), [0.25, 0.75, 0.5, 1.0, 0.0])


def test_ties_share_mean_rank():
    # sorted: 1 (pos 0), 3 (pos 1), 5, 5, 5 (pos 2, 3, 4 -> mean 3); rank = pos / (5 - 1)
    assert_equal(quantile_rank(np.array([5.0, 1.0, 5.0, 3.0, 5.0])), [0.75, 0.0, 0.75, 0.25, 0.75])
    # two pairs of ties: 2, 2 (pos 0, 1 -> 0.5) and 7, 7 (pos 2, 3 -> 2.5); n - 1 = 3
    assert_equal(quantile_rank(np.array([7.0, 2.0, 2.0, 7.0])), [2.5 / 3, 0.5 / 3, 0.5 / 3, 2.5 / 3])


def test_all_tied_group_is_median():
    assert_equal(quantile_rank(np.array([4.0, 4.0, 4.0])), [0.5, 0.5, 0.5])


def test_nan_kept_and_excluded_from_ranking():
    values = np.array([nan, 1.0, 2.0, nan, 2.0, 3.0])
    # finite: 1 (0), 2, 2 (1, 2 -> 1.5), 3 (3); n - 1 = 3
    assert_equal(quantile_rank(values), [nan, 0.0, 0.5, nan, 0.5, 1.0])


def test_infinite_values_treated_like_nan():
    assert_equal(quantile_rank(np.array([np.inf, 1.0, -np.inf, 2.0])), [nan, 0.0, nan, 1.0])


def test_all_nan():
    assert np.isnan(quantile_rank(np.array([nan, nan]))).all()


def test_single_element_group_is_half():
    values = np.array([3.0, 100.0, 1.0, -5.0, nan])
    groups = np.array([0, 1, 0, 2, 2])
    # group 1 holds one value; group 2 holds one finite value and a NaN
    assert_equal(quantile_rank(values, groups), [1.0, 0.5, 0.0, 0.5, nan])
    assert_equal(quantile_rank(np.array([42.0])), [0.5])


def test_groups_ranked_independently():
    values = np.array([1.0, 100.0, 2.0, 200.0, 3.0, 300.0, 250.0])
    groups = np.array([0, 1, 0, 1, 0, 1, 1])
    assert_equal(quantile_rank(values, groups), [0.0, 0.0, 0.5, 1 / 3, 1.0, 1.0, 2 / 3])
    # Changing one group's values does not change the other's ranks.
    shifted = values.copy()
    shifted[groups == 1] *= -1
    assert_equal(quantile_rank(shifted, groups)[groups == 0], [0.0, 0.5, 1.0])
    assert_equal(quantile_rank(shifted, groups)[groups == 1], [1.0, 2 / 3, 0.0, 1 / 3])


def test_group_codes_need_not_be_contiguous_or_sorted():
    values = np.array([5.0, 1.0, 2.0, 9.0])
    assert_equal(quantile_rank(values, np.array([7, -3, 7, -3])), quantile_rank(values, np.array([1, 0, 1, 0])))
    assert_equal(quantile_rank(values, np.array([7, -3, 7, -3])), [1.0, 0.0, 0.0, 1.0])


def test_equal_values_in_different_groups_are_not_tied():
    values = np.array([1.0, 1.0, 2.0, 1.0])
    groups = np.array([0, 1, 0, 1])
    assert_equal(quantile_rank(values, groups), [0.0, 0.5, 1.0, 0.5])


def test_matches_brute_force_with_ties_nan_and_groups():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, 300).astype(float)  # many ties
    values[rng.random(300) < 0.15] = nan
    groups = rng.integers(0, 5, 300)
    np.testing.assert_allclose(quantile_rank(values, groups), brute_force_rank(values, groups), rtol=0, atol=1e-12)


def test_accepts_float32_and_lists():
    assert_equal(quantile_rank(np.array([2.0, 1.0], dtype=np.float32)), [1.0, 0.0])
    assert_equal(quantile_rank([3, 1, 2], [0, 0, 0]), [1.0, 0.0, 0.5])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("grouping", list(GROUPINGS))
@pytest.mark.parametrize("n", [1, 2, 7, 300, 20000])
def test_same_bits_as_the_lexsort_reference(dtype, grouping, n):
    # float32 with few groups takes one radix pass, float64 or wide group ranges several: all give the same bits.
    rng = np.random.default_rng(n)
    values = random_values(rng, n, np.float64 if dtype is np.int64 else dtype)
    if dtype is np.int64:
        values = np.clip(np.nan_to_num(values), -9, 9).astype(np.int64)
    groups = GROUPINGS[grouping](rng, n)
    got, expected = quantile_rank(values, groups), lexsort_rank(values, groups)
    assert got.dtype == np.float64 and got.shape == (n,)
    assert_equal(got.view(np.int64), expected.view(np.int64))


def test_sorted_runs_orders_by_group_then_value():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 50, 5000).astype(np.float32)
    groups = rng.integers(-3, 3, 5000)
    rows = np.flatnonzero(values != 7)
    for v in (values, values.astype(np.float64)):  # one pass and two passes
        order, new_run, new_group = sorted_runs(v, groups, rows)
        assert sorted(order.tolist()) == list(range(rows.size))
        sv, sg = v[rows[order]], groups[rows[order]]
        assert (np.diff(sg) >= 0).all() and (np.diff(sv)[np.diff(sg) == 0] >= 0).all()
        assert_equal(new_group, np.r_[True, np.diff(sg) != 0])
        assert_equal(new_run, np.r_[True, (np.diff(sg) != 0) | (np.diff(sv) != 0)])
    order, new_run, new_group = sorted_runs(values, None, rows)
    assert new_group is None and (np.diff(values[rows[order]]) >= 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grouping", ["few", "negative", "int64 range", "one"])
def test_sort_within_groups_is_the_lexsorted_values(dtype, grouping):
    rng = np.random.default_rng(2)
    values = random_values(rng, 20000, dtype)
    groups = GROUPINGS[grouping](rng, 20000)
    rows = np.flatnonzero(np.isfinite(values))
    expected = values[rows][np.lexsort((values[rows], groups[rows]))].astype(np.float64)
    got = sort_within_groups(values, groups, rows)
    assert got.dtype == np.float64
    assert_equal(got, expected)  # -0.0 may come back as 0.0: equal values


def test_empty_and_all_nan():
    assert quantile_rank(np.array([])).shape == (0,)
    assert_equal(quantile_rank(np.array([nan, np.inf]), np.array([0, 1])), [nan, nan])


# ---------------------------------------------------------------------------------------------------- encode_groups


def test_encode_groups_first_appearance_order():
    codes = encode_groups(["math", "code", "math", "chat", "code"])
    assert codes.dtype == np.int64
    assert_equal(codes, [0, 1, 0, 2, 1])


def test_encode_groups_hashable_labels():
    assert_equal(encode_groups([3, None, 3, (1, 2), None]), [0, 1, 0, 2, 1])
    assert_equal(encode_groups([10, 10, 10]), [0, 0, 0])
    assert encode_groups([]).shape == (0,)


# ---------------------------------------------------------------------------------------------------- Difficulty


def test_difficulty_without_prior_unseen_rows_at_median():
    table = ScoreTable(5)
    table.update(np.array([0, 1, 3]), np.array([1.0, 3.0, 2.0]), np.array([0.9, 0.1, 0.5]))
    assert_equal(Difficulty("loss")(table), [0.0, 1.0, 0.5, 0.5, 0.5])
    # confidence ranks 1 - confidence: 0.1, 0.9, 0.5
    assert_equal(Difficulty("confidence")(table), [0.0, 1.0, 0.5, 0.5, 0.5])


def test_difficulty_no_row_seen_is_all_median():
    assert_equal(Difficulty("loss", prior=None)(ScoreTable(3)), [0.5, 0.5, 0.5])


def test_difficulty_with_groups_without_prior():
    table = ScoreTable(6)
    groups = encode_groups(["a", "a", "a", "b", "b", "b"])
    # group a: rows 0, 1 seen (loss 10, 20); group b: rows 3, 4, 5 seen (0.1, 0.3, 0.2)
    table.update(np.array([0, 1, 3, 4, 5]), np.array([10.0, 20.0, 0.1, 0.3, 0.2]), np.ones(5))
    assert_equal(Difficulty("loss", groups=groups)(table), [0.0, 1.0, 0.5, 0.0, 1.0, 0.5])
    # Without groups, the large losses of group a dominate.
    assert_equal(Difficulty("loss")(table), [0.75, 1.0, 0.5, 0.0, 0.5, 0.25])


def test_difficulty_with_prior_unseen_rows_take_prior_rank_within_group():
    groups = np.array([0, 0, 0, 0, 1, 1, 1])
    prior = np.array([5.0, 7.0, 1.0, 3.0, 10.0, 30.0, 20.0])
    # prior ranks: group 0 -> 5: 2/3, 7: 1, 1: 0, 3: 1/3; group 1 -> 10: 0, 30: 1, 20: 0.5
    difficulty = Difficulty("loss", groups=groups, prior=prior)
    assert_equal(difficulty.prior_rank, [2 / 3, 1.0, 0.0, 1 / 3, 0.0, 1.0, 0.5])
    table = ScoreTable(7)
    assert_equal(difficulty(table), difficulty.prior_rank)  # nothing seen: all prior
    # Seen: rows 0, 2 (group 0) and row 5 (group 1, single seen row -> 0.5).
    table.update(np.array([0, 2, 5]), np.array([4.0, 8.0, 1.0]), np.ones(3))
    assert_equal(difficulty(table), [0.0, 1.0, 1.0, 1 / 3, 0.0, 0.5, 0.5])


def test_difficulty_with_prior_without_groups_and_nan_prior():
    prior = np.array([2.0, nan, 1.0, 3.0])
    difficulty = Difficulty("learnability", prior=prior)
    # NaN prior -> 0.5; others ranked among the finite priors: 1 -> 0, 2 -> 0.5, 3 -> 1
    assert_equal(difficulty.prior_rank, [0.5, 0.5, 0.0, 1.0])
    table = ScoreTable(4, ema=0.5)
    table.update(np.array([3, 3]), np.array([4.0, 2.0]), np.ones(2))  # learnability 4 - 3 = 1
    assert_equal(difficulty(table), [0.5, 0.5, 0.0, 0.5])  # row 3 is the only seen row -> 0.5


@pytest.mark.parametrize("signal", ["loss", "confidence", "learnability", "rho"])
@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("with_groups", [False, True])
def test_difficulty_is_the_rank_with_unseen_rows_filled(signal, with_prior, with_groups):
    rng = np.random.default_rng(5)
    table = ScoreTable(400)
    table.update(rng.integers(0, 400, 300), rng.integers(0, 6, 300).astype(float), rng.random(300))
    groups = rng.integers(0, 4, 400) if with_groups else None
    prior = rng.random(400) if with_prior else None
    difficulty = Difficulty(signal, groups=groups, prior=prior, reference=rng.random(400))
    expected = lexsort_rank(difficulty.values(table), groups)
    unseen = np.isnan(expected)
    expected[unseen] = difficulty.prior_rank[unseen] if with_prior else 0.5
    assert_equal(difficulty(table).view(np.int64), expected.view(np.int64))


def test_difficulty_does_not_modify_the_table():
    table = ScoreTable(3)
    table.update(np.array([0]), np.array([1.0]), np.array([0.5]))
    loss = table.loss.copy()
    Difficulty("loss", prior=np.array([1.0, 2.0, 3.0]))(table)
    assert_equal(table.loss, loss)
