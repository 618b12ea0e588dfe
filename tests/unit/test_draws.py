"""The block-wise successive draw (large candidate sets) against the exact law of a sequential weighted draw."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum import draws


@pytest.fixture
def blockwise(monkeypatch):
    """The block-wise draw from the first candidate on, in blocks of 16 rows."""
    monkeypatch.setattr(draws, "_KEYS_BELOW", 0)
    monkeypatch.setattr(draws, "_BLOCK", 16)


def _first_two(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact probabilities that each row is drawn first, and among the first two, in a sequential weighted draw."""
    p = weights / weights.sum()
    second = np.array([sum(p[j] * weights[i] / (weights.sum() - weights[j]) for j in range(p.size) if j != i)
                       for i in range(p.size)])
    return p, p + second


@pytest.mark.parametrize("rounds", [8, 1])  # 1: the rest after one round drawn with keys
def test_blockwise_draw_has_the_law_of_a_sequential_weighted_draw(blockwise, monkeypatch, rounds):
    monkeypatch.setattr(draws, "_ROUNDS", rounds)
    rng = np.random.default_rng(0)
    weights = np.r_[rng.uniform(0.1, 1.0, 37), 40.0, 25.0, 0.0, 0.0, 0.0]  # 42 rows, 3 blocks, 2 heavy, 3 never
    first, two = np.zeros(weights.size), np.zeros(weights.size)
    trials = 20_000
    for _ in range(trials):
        taken = np.zeros(weights.size, dtype=bool)
        rows = draws.draw_without_replacement(weights.copy(), 8, rng, taken)
        assert np.unique(rows).size == 8 and taken[rows].all() and taken.sum() == 8
        assert weights[rows].min() > 0
        first[rows[0]] += 1
        two[rows[:2]] += 1
    p_first, p_two = _first_two(weights)
    se = np.sqrt(p_two * (1 - p_two) / trials) + 1e-9
    assert np.abs(first / trials - p_first).max() < 4.5 * se.max()
    assert (np.abs(two / trials - p_two) <= 4.5 * se + 1e-12).all()


def test_blockwise_uniform_pass_and_taken_rows(blockwise):
    rng = np.random.default_rng(1)
    probs = np.linspace(0.0, 1.0, 100)  # row 0 can never be drawn
    counts = np.zeros(100)
    for _ in range(5_000):
        taken = np.zeros(100, dtype=bool)
        taken[50:60] = True  # drawn earlier in the pass
        rows = draws.draw_without_replacement(probs.copy(), 10, rng, taken, budget_left=10_000)
        assert not np.isin(rows, np.r_[0, np.arange(50, 60)]).any() and np.unique(rows).size == 10
        counts[rows] += 1
    share = counts[np.r_[1:50, 60:100]] / 5_000  # uniform: 10 of the 89 candidates each time
    assert np.abs(share - 10 / 89).max() < 4.5 * np.sqrt((10 / 89) * (79 / 89) / 5_000)


def test_small_candidate_sets_keep_the_keyed_draw():
    """Below `_KEYS_BELOW` candidates the stream is the exponential-key draw's, bit for bit."""
    probs, taken = np.random.default_rng(2).random(1000), np.zeros(1000, dtype=bool)
    rows = draws.draw_without_replacement(probs.copy(), 20, np.random.default_rng(3), taken)
    rng = np.random.default_rng(3)
    keys = np.log(rng.random(1000)) / probs
    np.testing.assert_array_equal(rows, np.argsort(-keys, kind="stable")[:20])
