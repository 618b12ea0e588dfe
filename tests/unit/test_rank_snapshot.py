"""The replay's rank snapshot: exact ranks while a group's values fit its sketch, bounded error and memory beyond."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum.replay import RankSnapshot, ReplayPolicy


def _exact(values: np.ndarray, groups: np.ndarray, rows: np.ndarray, observed: np.ndarray) -> np.ndarray:
    out = []
    for row, value in zip(rows, observed):
        peers = values[(groups == groups[row]) & np.isfinite(values)]
        out.append(np.sum(peers < value) / peers.size)
    return np.array(out)


@pytest.mark.parametrize("ties", [False, True])
def test_large_groups_rank_within_one_over_their_points(ties):
    rng = np.random.default_rng(0)
    values = rng.lognormal(0.0, 1.0, 60_000).astype(np.float32)
    if ties:
        values = np.round(values, 1)  # many values shared by thousands of rows
    groups = rng.integers(0, 3, values.size)
    snap = RankSnapshot(values, groups, points=3000)  # about 1,000 points per group of 20,000 values
    assert snap.state_dict()["values"].size <= 3 * 1024 + 3
    rows = rng.integers(0, values.size, 400)
    observed = np.r_[rng.lognormal(0.0, 1.2, 397), 0.0, np.float32(values.max()), 1e9]
    got, expected = snap.rank(rows, observed), _exact(values, groups, rows, observed)
    sizes = np.diff(np.r_[0, np.cumsum(snap.state_dict()["sizes"])])
    assert np.abs(got - expected).max() <= 1.0 / (sizes.min() - 1)
    assert (got[-3:] == expected[-3:]).all()  # below all, at the maximum, above all: exact
    at_kept = np.isin(observed, snap.state_dict()["values"])
    np.testing.assert_array_equal(got[at_kept], expected[at_kept])  # a kept value: exact


def test_small_groups_are_exact_and_the_sketch_is_bounded():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 1000, 5000).astype(np.float32)
    groups = rng.integers(0, 4, 5000)
    snap = RankSnapshot(values, groups)  # 1,250 values per group: every distinct one kept
    rows, observed = rng.integers(0, 5000, 300), rng.uniform(-5, 1005, 300)
    np.testing.assert_array_equal(snap.rank(rows, observed), _exact(values, groups, rows, observed))
    big = RankSnapshot(rng.random(400_000).astype(np.float32), None, points=5000)
    assert big.state_dict()["values"].size == 5000  # O(points), not O(rows)


def test_policy_checkpoint_round_trip_and_the_earlier_format():
    rng = np.random.default_rng(2)
    values = rng.random(10_000).astype(np.float32)
    groups = rng.integers(0, 2, 10_000)
    policy = ReplayPolicy(16, groups, threshold=0.7)
    policy.snapshot(values)
    rows, observed = rng.integers(0, 10_000, 50), rng.random(50)
    expected = policy._snapshot.rank(rows, observed)
    state = policy.state_dict()
    assert "replay.snapshot" not in state and state["replay.snapshot.values"].size <= 10_000
    resumed = ReplayPolicy(16, groups, threshold=0.7)
    resumed.load_state_dict(state)
    np.testing.assert_array_equal(resumed._snapshot.rank(rows, observed), expected)
    earlier = ReplayPolicy(16, groups, threshold=0.7)  # a checkpoint of an earlier version: every row's value
    earlier.load_state_dict({"replay.buffer": state["replay.buffer"], "replay.snapshot": values})
    np.testing.assert_array_equal(earlier._snapshot.rank(rows, observed), expected)


@pytest.mark.parametrize("grouped", [False, True])
def test_many_values_sketch_from_buckets_without_a_sort(monkeypatch, grouped):
    from curriculum import buckets

    rng = np.random.default_rng(3)
    values = rng.lognormal(0.0, 1.0, 100_000).astype(np.float32)
    values[rng.random(values.size) < 0.2] = np.nan
    values[:300] = 2.0  # ties
    groups = rng.integers(0, 3, values.size) if grouped else np.zeros(values.size, dtype=np.int64)
    monkeypatch.setattr(buckets, "_BUCKETED_FROM", 1)
    snap = RankSnapshot(values, groups if grouped else None, points=2000)
    assert snap.state_dict()["values"].size <= 3 * (1024 + 2) + 3
    rows = rng.integers(0, values.size, 500)
    observed = np.r_[rng.lognormal(0.0, 1.2, 495), 2.0, 0.0, -1.0, 1e9, np.inf]
    got, expected = snap.rank(rows, observed), _exact(values, groups, rows, observed)
    assert np.abs(got - expected).max() <= 2.0 / 1000  # within a kept interval's share (1/1024 of a group) x 2
    np.testing.assert_array_equal(got[-4:], [0.0, 0.0, 1.0, 1.0])  # below and above every value: exact


def _run_policy(steps: range, policy: ReplayPolicy, values: np.ndarray, rng: np.random.Generator) -> list[int]:
    """Observe 64 rows a step with new random values; return the steps that retook the snapshot."""
    retaken = []
    for step in steps:
        rows = rng.integers(0, values.size, 64)
        values[rows] = rng.random(64).astype(np.float32)
        before = policy._snapshot
        policy.observe(rows, step, lambda r: values if r is None else values[r], target=0.5)
        if policy._snapshot is not before:
            retaken.append(step)
    return retaken


def test_snapshot_is_retaken_after_one_percent_new_observations_and_resumes_exactly():
    values = np.random.default_rng(4).random(10_000).astype(np.float32)  # 10,000 ranked: retaken per 100 rows
    policy = ReplayPolicy(32, None, threshold=0.6, refresh_steps=1)
    retaken = _run_policy(range(1, 13), policy, values.copy(), np.random.default_rng(5))
    assert retaken == [1, 3, 5, 7, 9, 11]  # 64 rows a step: every second step, not every step
    # Interrupted after step 6, resumed from its checkpoint: the same snapshots and buffer.
    first, rng, live = ReplayPolicy(32, None, threshold=0.6, refresh_steps=1), np.random.default_rng(5), values.copy()
    _run_policy(range(1, 7), first, live, rng)
    resumed = ReplayPolicy(32, None, threshold=0.6, refresh_steps=1)
    resumed.load_state_dict(first.state_dict())
    assert _run_policy(range(7, 13), resumed, live, rng) == [7, 9, 11]
    assert resumed.rows().tolist() == policy.rows().tolist()
