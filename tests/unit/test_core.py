"""`Curriculum`'s weight pipeline: the factors built from the config, multiplied in registry order, checkpointed."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum import Curriculum, CurriculumConfig
from curriculum import factors as factor_registry
from curriculum.factors import FACTORS, Factor, build_factors
from curriculum.weights import sampling_weights

TEXTS = ["a", "b", "a", "c", "d", "e", "b", "f"] * 4
GROUPS = ["x", "y"] * 16


def _curriculum(**changes) -> Curriculum:
    config = CurriculumConfig(**{"group_column": "task", "refresh_every_steps": 1, "share_scores": "duplicates",
                                 "duplicate_key": "content", "noise_filter": "mixture", "noise_min_visits": 1,
                                 "revisit_penalty": 0.5, "task_signal": "confidence", **changes})
    return Curriculum.from_arrays(config, len(TEXTS), groups=GROUPS, texts=TEXTS, global_batch=4, max_steps=20)


def _observe(curriculum: Curriculum, steps: int, seed: int = 0) -> None:
    """Every row each step: low losses, except the 4 copies of "c" (a minority high-loss mode of task y)."""
    rng = np.random.default_rng(seed)
    start = curriculum.step
    for step in range(start + 1, start + steps + 1):
        rows = rng.permutation(len(TEXTS))
        loss = np.where(np.asarray(TEXTS)[rows] == "c", 3.0, 0.3) + rng.normal(0, 0.05, rows.size)
        curriculum.observe(rows, loss, np.exp(-loss), step=step)


def test_factors_are_built_from_the_config_in_registry_order():
    assert [cls.name for cls in FACTORS] == ["unscorable", "duplicates", "tasks", "noise", "revisit", "balanced"]
    assert list(_curriculum().factors) == ["unscorable", "duplicates", "tasks", "noise", "revisit"]
    plain = _curriculum(share_scores="none", noise_filter="none", revisit_penalty=0.0, task_balance=False)
    assert list(plain.factors) == ["unscorable"]  # always on: the rows that can be drawn


def test_weights_are_the_kernel_times_the_product_of_the_factors():
    curriculum = _curriculum()
    _observe(curriculum, 6)
    f, scores = curriculum.factors, curriculum.scores
    product = f["duplicates"].row_factor(scores) * f["noise"].row_factor(scores) * f["revisit"].row_factor(scores)
    shares = f["tasks"].shares(scores)
    c = curriculum.config
    expected = sampling_weights(curriculum.difficulty(scores), curriculum.target(0), c.kernel, c.width, c.uniform_mix,
                                curriculum.groups, shares, product)
    np.testing.assert_array_equal(curriculum.weights(0), expected)
    # Each factor matters: each of the 8 copies of "a" weighs 1/8, the noise filter is not all ones.
    assert f["duplicates"].weights[0] == 0.125 and not np.all(f["noise"].row_factor(scores) == 1.0)


def test_a_new_factor_is_one_class_and_one_registry_line(monkeypatch):
    class Favour(Factor):
        """Rows of even index weigh twice as much."""

        name = "favour"

        @classmethod
        def build(cls, config, rows, built):
            return cls()

        def row_factor(self, scores):
            return np.where(np.arange(len(scores)) % 2 == 0, 2.0, 1.0)

    base = _curriculum(share_scores="none", noise_filter="none", revisit_penalty=0.0, task_balance=False)
    monkeypatch.setattr(factor_registry, "FACTORS", (*FACTORS, Favour))
    favoured = _curriculum(share_scores="none", noise_filter="none", revisit_penalty=0.0, task_balance=False)
    assert list(favoured.factors) == ["unscorable", "favour"]
    c = base.config
    expected = sampling_weights(base.difficulty(base.scores), base.target(0), c.kernel, c.width, c.uniform_mix,
                                None, None, np.where(np.arange(len(TEXTS)) % 2 == 0, 2.0, 1.0))
    np.testing.assert_array_equal(favoured.weights(0), expected)
    # Before training every row has the same difficulty: outside the uniform mix, an even row weighs twice an odd one.
    floor = c.uniform_mix / len(TEXTS)
    assert favoured.weights(0)[0] - floor == pytest.approx(2 * (favoured.weights(0)[1] - floor))


def test_state_round_trip_restores_every_factor_and_the_weights():
    for signal in ("progress", "confidence"):
        full = _curriculum(task_signal=signal, replay_share=0.25, replay_buffer_size=4)
        _observe(full, 8)
        resumed = _curriculum(task_signal=signal, replay_share=0.25, replay_buffer_size=4)
        resumed.load_state_dict({k: np.copy(v) for k, v in full.state_dict().items()})
        for key, value in full.state_dict().items():
            np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)
        np.testing.assert_array_equal(resumed.weights(32), full.weights(32))
        _observe(full, 4, seed=1), _observe(resumed, 4, seed=1)  # and they stay equal
        np.testing.assert_array_equal(resumed.weights(48), full.weights(48))


def test_build_factors_gives_each_factor_the_ones_before_it():
    curriculum = _curriculum()
    revisit = curriculum.factors["revisit"]
    assert revisit.duplicates is curriculum.factors["duplicates"]  # asked, not copied
    config = CurriculumConfig(revisit_penalty=1.0)
    from curriculum.factors import RowData

    built = build_factors(config, RowData(num_rows=4))
    assert list(built) == ["unscorable", "revisit"] and built["revisit"].duplicates is None
