"""`CurriculumSampler` (determinism, refresh blocks, distribution, resume) and `sampling_weights`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from curriculum import Curriculum, CurriculumConfig
from curriculum.samplers import CurriculumSampler
from curriculum.weights import KERNELS, normalized_entropy, sampling_weights


class CountingDifficulty:
    """Difficulty that changes at every call (driven by a counter that a resume restores)."""

    def __init__(self, num_rows: int, calls: int = 0) -> None:
        self.base = np.linspace(0.0, 1.0, num_rows)
        self.calls = calls

    def __call__(self, scores=None) -> np.ndarray:
        d = np.roll(self.base, 7 * self.calls)
        self.calls += 1
        return d


class RecordingSchedule:
    """Constant target that records every progress value it is asked about."""

    def __init__(self, target: float = 0.5) -> None:
        self.target = target
        self.progress: list[float] = []

    def __call__(self, p: float) -> float:
        self.progress.append(p)
        return self.target


def make_sampler(
    num_rows: int = 50,
    difficulty=None,
    schedule=None,
    num_samples: int | None = None,
    multiple_of: int = 1,
    refresh_every: int = 16,
    budget: int | None = None,
    seed: int = 123,
    **config,
) -> CurriculumSampler:
    """A sampler over a curriculum whose difficulty (an array, or a function) and schedule are test doubles."""
    if config.get("uniform_mix") == 1.0:
        config["schedule"] = "constant"  # the config refuses a schedule that uniform sampling would ignore
    config = CurriculumConfig(
        share_scores="none", samples_per_epoch=num_samples, budget_samples=budget,
        refresh_every_steps=max(1, refresh_every // multiple_of), **config,
    )  # fmt: skip
    curriculum = Curriculum(config, num_rows, global_batch=multiple_of)
    difficulty = difficulty if difficulty is not None else np.linspace(0.0, 1.0, num_rows)
    curriculum.difficulty = difficulty if callable(difficulty) else (lambda scores: difficulty)
    curriculum.schedule = schedule or (lambda p: 0.2 + 0.6 * p)
    return CurriculumSampler(curriculum, seed=seed)


# ---------------------------------------------------------------------------------------------------- determinism


def test_iterating_twice_gives_the_same_stream():
    sampler = make_sampler(num_samples=100)
    first = list(sampler)
    assert len(first) == 100
    assert list(sampler) == first
    assert all(type(i) is int for i in first)


def test_fresh_sampler_same_seed_and_epoch_gives_same_stream():
    a, b = make_sampler(seed=5), make_sampler(seed=5)
    assert list(a) == list(b)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    assert list(make_sampler(seed=6)) != list(make_sampler(seed=5))


def test_set_epoch_changes_stream_and_same_epoch_keeps_it():
    sampler = make_sampler(num_samples=200)
    epoch0 = list(sampler)
    sampler.set_epoch(0)  # no-op
    assert list(sampler) == epoch0
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0
    sampler.set_epoch(1)
    assert list(sampler) == epoch1
    sampler.set_epoch(0)  # a new epoch-0 stream: the generator is seeded by (seed, epoch)
    assert list(sampler) == epoch0


def test_set_epoch_same_epoch_keeps_a_partially_drawn_stream():
    reference = list(make_sampler(num_samples=100))
    sampler = make_sampler(num_samples=100)
    it = iter(sampler)
    head = [next(it) for _ in range(37)]
    sampler.set_epoch(0)
    assert sampler.drawn.size == 48  # three blocks of 16 are drawn, not reset
    assert head + list(it) == reference
    assert list(sampler) == reference


def test_drawn_is_a_read_only_view_of_the_stream():
    sampler = make_sampler(num_samples=40)
    assert sampler.drawn.size == 0
    stream = list(sampler)
    assert sampler.drawn.tolist() == stream
    with pytest.raises(ValueError):
        sampler.drawn[0] = 1
    assert list(sampler) == stream


def test_step_record_of_an_optimizer_step():
    sampler = make_sampler(num_samples=40, multiple_of=8)
    assert sampler.step_record(1, 16) is None  # nothing drawn yet
    stream = list(sampler)
    rows, replayed = sampler.step_record(1, 16)
    assert rows.tolist() == stream[:8] and replayed.tolist() == [False] * 8  # the history is cut at the epoch start
    rows, replayed = sampler.step_record(5, 16)
    assert rows.tolist() == stream[24:40] and replayed.shape == (8,)
    assert sampler.step_record(0, 16) is None and sampler.step_record(6, 16) is None
    sampler.set_epoch(1)
    stream = list(sampler)
    assert sampler.trained(6) == 8 and sampler.step_record(6, 8)[0].tolist() == stream[:8]


# ---------------------------------------------------------------------------------------------------- length, range


@pytest.mark.parametrize(
    "num_rows, num_samples, multiple_of, expected",
    [(10, None, 1, 10), (10, 10, 4, 12), (10, None, 8, 16), (10, 10, 5, 10), (10, 33, 32, 64), (3, 1, 7, 7)],
)
def test_len_rounds_up_to_multiple_of(num_rows, num_samples, multiple_of, expected):
    sampler = make_sampler(num_rows, num_samples=num_samples, multiple_of=multiple_of)
    assert len(sampler) == expected
    assert len(list(sampler)) == expected


@pytest.mark.parametrize(
    "target, uniform_mix, kernel",
    [(0.0, 0.0, "laplace"), (1.0, 0.0, "gaussian"), (1.0, 0.05, "gaussian"), (0.0, 0.05, "laplace"), (0.5, 1.0, "laplace")],
)
def test_all_indices_in_range(target, uniform_mix, kernel):
    sampler = make_sampler(
        7, schedule=lambda p: target, num_samples=5000, refresh_every=500, uniform_mix=uniform_mix, kernel=kernel,
        replacement=True,
    )
    stream = np.array(list(sampler))
    assert stream.min() >= 0 and stream.max() <= 6
    assert stream.size == 5000
    if uniform_mix > 0:  # with 5000 draws and a uniform floor, every row appears
        assert len(np.unique(stream)) == 7
    else:  # without it, the draws concentrate next to the target
        assert np.bincount(stream, minlength=7)[6 if target == 1.0 else 0] > 1000


def test_bad_arguments():
    config = CurriculumConfig(share_scores="none")
    with pytest.raises(ValueError, match=r"global_batch should be a positive integer value, but got global_batch=2\.0"):
        Curriculum(config, 10, global_batch=2.0)
    with pytest.raises(ValueError, match=r"num_rows should be a positive integer value, but got num_rows=0"):
        Curriculum(config, 0)
    with pytest.raises(ValueError, match=r"seed should be an integer value of at least 0, but got seed=-1"):
        CurriculumSampler(Curriculum(config, 10), seed=-1)


# ---------------------------------------------------------------------------------------------------- distribution


def test_empirical_distribution_matches_sampling_weights():
    n, draws = 20, 200_000
    difficulty = np.linspace(0.0, 1.0, n)
    sampler = make_sampler(
        n, difficulty, lambda p: 0.7, num_samples=draws, refresh_every=4096, width=0.15, uniform_mix=0.1, seed=0,
        replacement=True,
    )
    counts = np.bincount(np.fromiter(sampler, dtype=np.int64, count=draws), minlength=n)
    probs = sampling_weights(difficulty, 0.7, "laplace", 0.15, 0.1)

    # Pearson chi-square with 19 degrees of freedom: mean 19, sd ~6.2. The seed is fixed, so this cannot flake.
    chi2 = float(((counts - draws * probs) ** 2 / (draws * probs)).sum())
    assert chi2 < 19 + 6 * math.sqrt(2 * 19)
    # The same statistic rejects a slightly different target: the check has power.
    wrong = sampling_weights(difficulty, 0.65, "laplace", 0.15, 0.1)
    assert float(((counts - draws * wrong) ** 2 / (draws * wrong)).sum()) > 500

    # Mean difficulty within 4 standard errors of its expectation.
    expected_mean = float(probs @ difficulty)
    sd = math.sqrt(float(probs @ difficulty**2) - expected_mean**2)
    observed_mean = float(counts @ difficulty) / draws
    assert abs(observed_mean - expected_mean) < 4 * sd / math.sqrt(draws)
    assert observed_mean > 0.6  # pulled toward the target


def test_diagnostics_of_latest_refresh():
    difficulty = np.linspace(0.0, 1.0, 10)
    sampler = make_sampler(10, difficulty=difficulty, schedule=lambda p: 0.3, num_samples=32, width=0.2, uniform_mix=0.2)
    assert sampler.curriculum.last_refresh == {}
    list(sampler)
    last = sampler.curriculum.last_refresh
    assert last["target"] == 0.3
    assert "difficulty" not in last  # not kept between refreshes (8 bytes per row): computed on demand
    np.testing.assert_array_equal(sampler.curriculum.difficulty(sampler.curriculum.scores), difficulty)
    probs = sampling_weights(difficulty, 0.3, "laplace", 0.2, 0.2)
    assert last["entropy"] == pytest.approx(normalized_entropy(probs))


# ---------------------------------------------------------------------------------------------------- refresh blocks


def test_difficulty_computed_once_per_block_at_block_start():
    difficulty = CountingDifficulty(10)
    schedule = RecordingSchedule()
    sampler = make_sampler(10, difficulty, schedule, num_samples=100, refresh_every=30, budget=200)
    it = iter(sampler)
    assert difficulty.calls == 0  # lazy
    next(it)
    assert difficulty.calls == 2  # the first two blocks (ahead = 1) are drawn at the epoch's start, one table
    for _ in range(59):
        next(it)
    assert difficulty.calls == 2  # positions 0..59 come from them
    next(it)
    assert difficulty.calls == 3  # position 60 starts the third block
    rest = list(it)
    assert len(rest) == 100 - 61
    assert difficulty.calls == 4  # blocks at 0, 30, 60, 90 (the last one holds 10)
    # progress at the block start: position / budget
    assert schedule.progress == [0.0, 30 / 200, 60 / 200, 90 / 200]
    # Replaying the epoch draws nothing new.
    list(sampler)
    assert difficulty.calls == 4 and len(schedule.progress) == 4


def test_progress_includes_epoch_and_is_capped():
    schedule = RecordingSchedule()
    sampler = make_sampler(10, np.full(10, 0.5), schedule, num_samples=100, refresh_every=40, budget=150)
    sampler.set_epoch(1)
    list(sampler)
    # (1 * 100 + position) / 150, capped at 1
    assert schedule.progress == [100 / 150, 140 / 150, 1.0]
    assert sampler.curriculum.progress(sampler.epoch * len(sampler)) == pytest.approx(100 / 150)


def test_default_budget_is_one_epoch():
    schedule = RecordingSchedule()
    sampler = make_sampler(10, np.full(10, 0.5), schedule, num_samples=10, multiple_of=8, refresh_every=4 * 8)
    sampler.curriculum.layout.block_size = 4  # blocks smaller than a global batch, to see several progress points
    list(sampler)
    assert schedule.progress == [0.0, 4 / 16, 8 / 16, 12 / 16]


def test_budget_from_max_steps_and_epochs():
    config = CurriculumConfig(share_scores="none", samples_per_epoch=30)
    assert Curriculum(config, 10, global_batch=8, max_steps=5).budget == 40
    assert Curriculum(config, 10, global_batch=8, epochs=2.5).budget == 80  # ceil(2.5 x 32 / 8) steps of 8
    assert Curriculum(CurriculumConfig(share_scores="none", budget_samples=7), 10, global_batch=8, max_steps=5).budget == 7
    unique = CurriculumConfig(share_scores="none", budget_unit="unique_rows")
    assert Curriculum(unique, 10, global_batch=8, max_steps=5).budget == 10


def test_target_is_used_for_the_block():
    # Difficulty sorted by row; the target jumps from 0 to 1 at progress 0.5: the first half of the stream draws
    # low rows, the second half high rows.
    n = 100
    sampler = make_sampler(
        n, np.linspace(0, 1, n), lambda p: 0.0 if p < 0.5 else 1.0,
        num_samples=2000, refresh_every=1000, width=0.05, uniform_mix=0.0, seed=1, replacement=True,
    )  # fmt: skip
    stream = np.array(list(sampler))
    assert stream[:1000].mean() < 10 and stream[1000:].mean() > 89


# ---------------------------------------------------------------------------------------------------- state


@pytest.mark.parametrize("consumed", [0, 1, 16, 37, 99, 100])
def test_resume_mid_epoch_equals_uninterrupted(consumed):
    kwargs = dict(num_samples=100, refresh_every=16, seed=9, uniform_mix=0.05, width=0.1)
    uninterrupted = list(make_sampler(30, CountingDifficulty(30), **kwargs))
    # The difficulty really changes between blocks: a constant one gives another stream.
    assert uninterrupted != list(make_sampler(30, np.linspace(0, 1, 30), **kwargs))

    interrupted_fn = CountingDifficulty(30)
    interrupted = make_sampler(30, interrupted_fn, **kwargs)
    it = iter(interrupted)
    head = [next(it) for _ in range(consumed)]
    state = interrupted.state_dict()
    calls = interrupted_fn.calls

    resumed_fn = CountingDifficulty(30, calls=calls)
    resumed = make_sampler(30, resumed_fn, **kwargs)
    resumed.load_state_dict(state)
    stream = list(resumed)
    assert head == uninterrupted[:consumed]
    assert stream == uninterrupted
    assert resumed_fn.calls == math.ceil(100 / 16)  # 7 blocks in all, none drawn twice


def test_resume_in_later_epoch_keeps_epoch():
    kwargs = dict(num_samples=64, refresh_every=10, seed=2)
    reference = make_sampler(20, difficulty=CountingDifficulty(20), **kwargs)
    reference.set_epoch(2)
    expected = list(reference)

    fn = CountingDifficulty(20)
    sampler = make_sampler(20, difficulty=fn, **kwargs)
    sampler.set_epoch(2)
    it = iter(sampler)
    for _ in range(25):
        next(it)
    state = sampler.state_dict()
    assert state["epoch"] == 2 and state["stream"].size == 30 and state["num_rows"] == 20

    resumed = make_sampler(20, difficulty=CountingDifficulty(20, calls=fn.calls), **kwargs)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # the Trainer calls this on resume: a no-op
    assert resumed.epoch == 2
    assert list(resumed) == expected


def test_state_dict_is_a_snapshot():
    sampler = make_sampler(num_samples=40)
    it = iter(sampler)
    next(it)
    state = sampler.state_dict()
    rng_state = {k: v for k, v in state["rng"].items()}
    stream = state["stream"].copy()
    list(it)
    np.testing.assert_array_equal(state["stream"], stream)
    assert state["rng"] == rng_state


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        (
            {"num_rows": 50, "num_samples": 120},
            r"the saved sampler has num_samples=100 but this one has num_samples=120; "
            r"resume with the same dataset, batch size, number of processes and gradient accumulation",
        ),
        ({"num_rows": 51, "num_samples": 100}, r"the saved sampler has num_rows=50 but this one has num_rows=51"),
    ],
)
def test_load_state_dict_mismatch(kwargs, pattern):
    state = make_sampler(50, num_samples=100).state_dict()
    other = make_sampler(kwargs.pop("num_rows"), **kwargs)
    before = list(other)
    with pytest.raises(ValueError, match=pattern):
        other.load_state_dict(state)
    assert list(other) == before  # untouched


# ---------------------------------------------------------------------------------------------------- weights


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("uniform_mix", [0.0, 0.1, 0.5, 1.0])
def test_weights_sum_to_one_and_are_positive(kernel, uniform_mix):
    d = np.random.default_rng(0).random(1000)
    w = sampling_weights(d, 0.3, kernel, 0.1, uniform_mix)
    assert w.shape == (1000,)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w >= 0).all()


def test_uniform_mix_share_is_exact():
    # All kernel mass on row 0 (exp(-1000) underflows to 0): the others get exactly uniform_mix / N.
    d = np.array([0.0, 1.0, 1.0, 1.0])
    w = sampling_weights(d, 0.0, "laplace", width=1e-3, uniform_mix=0.2)
    assert w[1] == w[2] == w[3] == 0.2 / 4
    assert w[0] == pytest.approx(0.8 + 0.05, abs=1e-15)
    w = sampling_weights(d, 0.0, "gaussian", width=1e-3, uniform_mix=0.3)
    assert w[1] == w[2] == w[3] == 0.3 / 4


def test_uniform_mix_one_is_uniform():
    w = sampling_weights(np.array([0.0, 0.3, 0.9]), 0.9, uniform_mix=1.0)
    np.testing.assert_allclose(w, [1 / 3, 1 / 3, 1 / 3], rtol=0, atol=1e-15)


def test_laplace_and_gaussian_hand_computed():
    d = np.array([0.0, 0.5, 1.0])
    # distances 0.5, 0, 0.5; width 0.5: laplace exp(-0.5 / 0.5) = e^-1, gaussian exp(-0.25 / 0.5) = e^-0.5
    e1, e05 = math.exp(-1.0), math.exp(-0.5)
    lap = sampling_weights(d, 0.5, "laplace", width=0.5, uniform_mix=0.0)
    gau = sampling_weights(d, 0.5, "gaussian", width=0.5, uniform_mix=0.0)
    np.testing.assert_allclose(lap, np.array([e1, 1.0, e1]) / (1 + 2 * e1), rtol=1e-12)
    np.testing.assert_allclose(gau, np.array([e05, 1.0, e05]) / (1 + 2 * e05), rtol=1e-12)
    assert lap[1] > gau[1]
    # With uniform_mix 0.25: 0.75 * kernel share + 0.25 / 3
    mixed = sampling_weights(d, 0.5, "laplace", width=0.5, uniform_mix=0.25)
    np.testing.assert_allclose(mixed, 0.75 * lap + 0.25 / 3, rtol=1e-12)


def test_gaussian_is_flatter_near_and_steeper_far_from_target():
    d = np.array([0.0, 0.05, 0.6])
    lap = sampling_weights(d, 0.0, "laplace", width=0.1, uniform_mix=0.0)
    gau = sampling_weights(d, 0.0, "gaussian", width=0.1, uniform_mix=0.0)
    assert gau[1] / gau[0] > lap[1] / lap[0]  # exp(-0.125) > exp(-0.5)
    assert gau[2] / gau[0] < lap[2] / lap[0]  # exp(-18) < exp(-6)


@pytest.mark.parametrize("kernel", KERNELS)
def test_weights_do_not_underflow_far_from_target(kernel):
    # Every row is far from the target: without the shift by the minimum distance, all kernels would be 0.
    w = sampling_weights(np.array([10.0, 10.001, 10.003]), 0.0, kernel, width=1e-2, uniform_mix=0.0)
    assert np.isfinite(w).all()
    assert w.sum() == pytest.approx(1.0)
    assert w[0] > w[1] > w[2]


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"kernel": "box"}, r"kernel should be one of \['laplace', 'gaussian'\], but got kernel='box'"),
        ({"width": 0.0}, r"width should be > 0, but got width=0\.0"),
        ({"width": -1}, r"width should be > 0, but got width=-1"),
        ({"uniform_mix": 1.5}, r"uniform_mix should be in \[0, 1\], but got uniform_mix=1\.5"),
        ({"uniform_mix": -0.1}, r"uniform_mix should be in \[0, 1\], but got uniform_mix=-0\.1"),
    ],
)
def test_bad_weight_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        sampling_weights(np.array([0.1, 0.2]), 0.5, **kwargs)


def formula_weights(difficulty, target, kernel, width, uniform_mix, groups=None, group_shares=None, row_weights=None):
    """Reference: the formula written out with temporaries, as the first implementation computed it."""
    distance = np.abs(np.asarray(difficulty, dtype=np.float64) - target)
    if groups is None:
        shift = distance.min()
    else:
        group_min = np.full(len(group_shares), np.inf)
        np.minimum.at(group_min, groups, distance)
        shift = group_min[groups]
    if kernel == "laplace":
        k = np.exp(-(distance - shift) / width)
    else:
        k = np.exp(-(distance**2 - shift**2) / (2.0 * width**2))
    if row_weights is not None:
        k = k * row_weights
    if groups is None:
        p = k / k.sum()
    else:
        # Summed per block of 65,536 rows, the blocks' sums added in order (one block: the plain bincount).
        per_group = sum(np.bincount(groups[lo : lo + 65_536], weights=k[lo : lo + 65_536], minlength=len(group_shares))
                        for lo in range(0, k.size, 65_536))
        p = np.asarray(group_shares, dtype=np.float64)[groups] * k / per_group[groups]
        p /= p.sum()
    return (1.0 - uniform_mix) * p + uniform_mix / k.size


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weights_same_bits_as_the_formula(kernel, grouped, weighted, dtype):
    rng = np.random.default_rng(3)
    for n in (1, 5, 2000, 140_000):  # the last in three blocks of the in-place passes
        d = np.where(rng.random(n) < 0.3, 0.5, rng.random(n)).astype(dtype)  # ties at 0.5
        groups = rng.integers(0, 4, n) if grouped else None
        shares = np.array([0.1, 0.2, 0.3, 0.4]) if grouped else None
        row_weights = 1.0 / rng.integers(1, 4, n) if weighted else None
        for target, width, mix in ((0.2, 0.15, 0.1), (0.9, 1e-3, 0.0), (0.5, 2.0, 1.0)):
            with np.errstate(all="ignore"):
                got = sampling_weights(d, target, kernel, width, mix, groups, shares, row_weights)
                expected = formula_weights(d, target, kernel, width, mix, groups, shares, row_weights)
            distance = np.abs(d.astype(np.float64) - target)
            spread = distance.max() - distance.min() if kernel == "laplace" else distance.max() ** 2 - distance.min() ** 2
            scale = width if kernel == "laplace" else 2.0 * width**2
            if grouped and spread / scale <= 700.0:
                # No weight can underflow here, so the rows share one shift (the formula shifts each group by its
                # own minimum): the same up to rounding.
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
            else:  # one group, or a width where a group's weights could underflow: a shift per group, the same bits
                np.testing.assert_array_equal(got.view(np.int64), expected.view(np.int64))
    before = d.copy()
    sampling_weights(d, 0.5, kernel, 0.1, 0.1, groups, shares, row_weights)
    np.testing.assert_array_equal(d, before)  # the input is not modified


def test_grouped_weights_reject_codes_out_of_range():
    with pytest.raises(IndexError):
        sampling_weights(np.array([0.1, 0.2]), 0.5, groups=np.array([0, 2]), group_shares=np.array([0.5, 0.5]))


@pytest.mark.parametrize("n", [1000, 65_536, 65_537, 300_001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalized_entropy_matches_the_formula(n, dtype):
    # Summed block by block with float32 logs (a metric): the formula's value to float32 precision.
    rng = np.random.default_rng(n)
    for zeros in (False, True):
        p = (rng.random(n) * 10.0 ** rng.uniform(-6, 0, n)).astype(dtype)
        p[: n // 3 if zeros else 0] = 0.0
        p /= p.sum()
        nz = p[p > 0]
        assert normalized_entropy(p) == pytest.approx(
            float(-(nz * np.log(nz)).sum() / np.log(p.size)), rel=1e-5
        )


def test_normalized_entropy():
    assert normalized_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0, abs=1e-6)
    assert normalized_entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    assert normalized_entropy(np.array([0.5, 0.5, 0.0, 0.0])) == pytest.approx(0.5)  # log 2 / log 4
    assert normalized_entropy(np.array([1.0])) == 1.0
    concentrated = sampling_weights(np.linspace(0, 1, 100), 0.5, width=0.01, uniform_mix=0.0)
    assert normalized_entropy(concentrated) < normalized_entropy(sampling_weights(np.linspace(0, 1, 100), 0.5))


def test_default_refresh_cadence_is_a_thousandth_of_an_epoch_on_large_data():
    # A recomputation costs O(rows): unset, the cadence is 10 steps, or 1/1000 of an epoch when that is longer, so
    # the refresh cost per step stays bounded at any dataset size. An explicit value is kept as it is.
    small = Curriculum(CurriculumConfig(share_scores="none"), 50_000, global_batch=256)
    large = Curriculum(CurriculumConfig(share_scores="none"), 3_000_000, global_batch=256)
    fixed = Curriculum(CurriculumConfig(share_scores="none", refresh_every_steps=4), 3_000_000, global_batch=256)
    assert small.refresh_steps == 10
    assert large.refresh_steps == 3_000_192 // 256 // 1000 == 11 and large.block_size == 11 * 256
    assert fixed.refresh_steps == 4


# ---------------------------------------------------------------------------------------------------- without replacement


def test_without_replacement_draws_every_row_once_per_pass_in_weighted_order():
    # 100 samples of 30 rows: three full passes then 10 draws, each pass a permutation of the rows.
    sampler = make_sampler(30, num_samples=100, refresh_every=16, replacement=False, uniform_mix=0.05, width=0.1)
    stream = np.array(list(sampler))
    for k in range(3):
        assert sorted(stream[30 * k : 30 * (k + 1)].tolist()) == list(range(30))
    assert len(set(stream[90:].tolist())) == 10
    assert stream.tolist() == list(sampler)  # replayed identically


@pytest.mark.parametrize("pass_order", ["weighted", "shuffled"])
def test_without_replacement_order_follows_the_weights_where_they_choose_rows(pass_order):
    # Constant target 1.0 and a narrow kernel. A budget of half a pass: the weights choose its rows (the rows near
    # difficulty 1), whatever the pass order. A budget of the whole pass: `weighted` orders it by the weights,
    # `shuffled` shuffles it (the weights could only change when each row is trained).
    kwargs = dict(schedule=lambda p: 1.0, num_samples=200, refresh_every=100, replacement=False, uniform_mix=0.0,
                  width=0.1, pass_order=pass_order)
    half = np.array(list(make_sampler(200, budget=100, **kwargs)))
    assert half[:100].mean() > 140
    whole = np.array(list(make_sampler(200, budget=200, **kwargs)))
    assert sorted(whole.tolist()) == list(range(200))
    if pass_order == "weighted":
        assert whole[:50].mean() > 140 and whole[150:].mean() < 70
    else:
        assert 70 < whole[:50].mean() < 130 and 70 < whole[150:].mean() < 130


def test_shuffled_passes_are_weighted_again_where_the_budget_ends():
    # 2.5 passes of 40 rows: the first two are shuffled, the last half pass is chosen by the weights.
    sampler = make_sampler(40, schedule=lambda p: 1.0, num_samples=100, budget=100, refresh_every=10,
                           replacement=False, uniform_mix=0.0, width=0.05)  # fmt: skip
    stream = np.array(list(sampler))
    assert sorted(stream[:40].tolist()) == sorted(stream[40:80].tolist()) == list(range(40))
    assert stream[80:].mean() > 27  # mostly the rows nearest difficulty 1 (a shuffle: 19.5)


def test_without_replacement_covers_a_pass_where_with_replacement_does_not():
    rows = 2000
    for replacement, least, most in ((True, 0.55, 0.72), (False, 1.0, 1.0)):
        sampler = make_sampler(rows, num_samples=rows, refresh_every=100, replacement=replacement, seed=0)
        covered = np.unique(np.array(list(sampler))).size / rows
        assert least <= covered <= most, (replacement, covered)


@pytest.mark.parametrize("consumed", [0, 17, 45, 99])
def test_without_replacement_resume_mid_epoch_equals_uninterrupted(consumed):
    kwargs = dict(num_samples=100, refresh_every=16, seed=9, uniform_mix=0.05, width=0.1, replacement=False)
    uninterrupted = list(make_sampler(30, CountingDifficulty(30), **kwargs))
    interrupted_fn = CountingDifficulty(30)
    interrupted = make_sampler(30, interrupted_fn, **kwargs)
    it = iter(interrupted)
    head = [next(it) for _ in range(consumed)]
    state = interrupted.state_dict()
    assert "taken" in state
    resumed = make_sampler(30, CountingDifficulty(30, calls=interrupted_fn.calls), **kwargs)
    resumed.load_state_dict(state)
    assert head == uninterrupted[:consumed]
    assert list(resumed) == uninterrupted


def test_resume_across_replacement_settings_is_refused():
    saved = make_sampler(30, num_samples=40, replacement=True)
    list(saved)
    other = make_sampler(30, num_samples=40, replacement=False)
    with pytest.raises(ValueError, match="drew with replacement; resume with replacement=true"):
        other.load_state_dict(saved.state_dict())


def test_without_replacement_skips_rows_that_cannot_be_drawn():
    from curriculum.draws import draw_without_replacement

    probs = np.array([0.5, 0.0, 0.25, 0.25])
    taken = np.zeros(4, dtype=bool)
    rows = draw_without_replacement(probs, 7, np.random.default_rng(0), taken)
    assert 1 not in rows.tolist()
    assert sorted(rows[:3].tolist()) == [0, 2, 3] and sorted(rows[3:6].tolist()) == [0, 2, 3]
    with pytest.raises(ValueError, match="every probability is 0"):
        draw_without_replacement(np.zeros(3), 1, np.random.default_rng(0), np.zeros(3, dtype=bool))
