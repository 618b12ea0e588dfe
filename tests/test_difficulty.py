"""Quantile ranks within groups, group encoding, and `Difficulty` with and without a prior."""

from __future__ import annotations

import numpy as np

from curriculum.difficulty import Difficulty, encode_groups, quantile_rank
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


def test_difficulty_does_not_modify_the_table():
    table = ScoreTable(3)
    table.update(np.array([0]), np.array([1.0]), np.array([0.5]))
    loss = table.loss.copy()
    Difficulty("loss", prior=np.array([1.0, 2.0, 3.0]))(table)
    assert_equal(table.loss, loss)
