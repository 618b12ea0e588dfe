"""Target-difficulty schedules: values, clipping, monotonicity, milestones, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from curriculum.config import CurriculumConfig
from curriculum.schedules import SCHEDULES, constant, cosine, exponential, linear, make_schedule, root, step

START, END = 0.2, 0.8

# (name, extra parameters, values at p = 0, 0.5, 1), computed by hand for start=0.2, end=0.8 (span 0.6).
EXPECTED = [
    ("constant", {}, (0.2, 0.2, 0.2)),
    ("linear", {}, (0.2, 0.5, 0.8)),
    # 0.5 * (1 - cos(pi / 2)) = 0.5
    ("cosine", {}, (0.2, 0.5, 0.8)),
    # 0.5 ** (1 / 2) = 0.7071067811865476 -> 0.2 + 0.6 * 0.70710678 = 0.62426407
    ("root", {"degree": 2.0}, (0.2, 0.6242640687119285, 0.8)),
    # 0.5 ** (1 / 4) = 0.8408964152537145 -> 0.2 + 0.6 * 0.84089642 = 0.70453785
    ("root", {"degree": 4.0}, (0.2, 0.7045378491522287, 0.8)),
    # one milestone at 0.5: the jump of 0.6 happens at p = 0.5 (inclusive)
    ("step", {"milestones": [0.5]}, (0.2, 0.8, 0.8)),
    # two milestones: jumps of 0.3 each
    ("step", {"milestones": [0.25, 0.75]}, (0.2, 0.5, 0.8)),
    # (1 - e^-2.5) / (1 - e^-5) = 0.917915 / 0.993262 = 0.92414182 -> 0.2 + 0.6 * 0.92414182 = 0.75448509
    ("exponential", {"rate": 5.0}, (0.2, 0.7544850919872539, 0.8)),
    # rate 1: (1 - e^-0.5) / (1 - e^-1) = 0.39346934 / 0.63212056 = 0.62245933 -> 0.57347560
    ("exponential", {"rate": 1.0}, (0.2, 0.5734755987211128, 0.8)),
]


@pytest.mark.parametrize("name, extra, values", EXPECTED, ids=[f"{n}-{e}" for n, e, _ in EXPECTED])
def test_values_at_0_half_1(name, extra, values):
    f = make_schedule(name, START, END, **extra)
    assert [f(0.0), f(0.5), f(1.0)] == pytest.approx(values, abs=1e-12)


@pytest.mark.parametrize("name, extra, values", EXPECTED, ids=[f"{n}-{e}" for n, e, _ in EXPECTED])
def test_module_functions_agree_with_make_schedule(name, extra, values):
    fn = SCHEDULES[name]
    assert [fn(p, START, END, **extra) for p in (0.0, 0.5, 1.0)] == pytest.approx(values, abs=1e-12)


def test_values_between_grid_points():
    assert linear(0.25, 0.0, 1.0) == pytest.approx(0.25)
    # 0.5 * (1 - cos(pi / 4)) = 0.14644660940672624
    assert cosine(0.25, 0.0, 1.0) == pytest.approx(0.14644660940672624)
    # 0.25 ** (1 / 3) = 0.6299605249474366
    assert root(0.25, 0.0, 1.0, degree=3.0) == pytest.approx(0.6299605249474366)
    # (1 - e^-0.5) / (1 - e^-5) = 0.39346934 / 0.99326205 = 0.39613850
    assert exponential(0.1, 0.0, 1.0, rate=5.0) == pytest.approx(0.39613850050808724, abs=1e-12)
    assert constant(0.7, 0.3, 0.9) == 0.3


def test_decreasing_schedule_values():
    assert linear(0.5, 0.9, 0.1) == pytest.approx(0.5)
    assert cosine(1.0, 0.9, 0.1) == pytest.approx(0.1)
    assert step(0.5, 0.9, 0.1, milestones=(0.5,)) == pytest.approx(0.1)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("p_out, p_in", [(-0.5, 0.0), (-1e9, 0.0), (1.5, 1.0), (1e9, 1.0), (float("inf"), 1.0)])
def test_progress_outside_unit_interval_is_clipped(name, p_out, p_in):
    f = make_schedule(name, START, END, degree=3.0, milestones=(0.3, 0.6), rate=2.0)
    value = f(p_out)
    assert isinstance(value, float)
    assert value == f(p_in)
    assert START <= value <= END


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("start, end", [(0.2, 0.8), (0.0, 1.0), (0.4, 0.41)])
def test_monotonic_non_decreasing_when_start_below_end(name, start, end):
    f = make_schedule(name, start, end, degree=3.0, milestones=(0.1, 0.5, 0.9), rate=4.0)
    values = np.array([f(p) for p in np.linspace(-0.1, 1.1, 241)])
    assert np.all(np.diff(values) >= 0.0)
    assert values.min() == pytest.approx(start)
    # Every schedule except `constant` reaches `end` at p = 1.
    assert values.max() == pytest.approx(start if name == "constant" else end)


def test_step_milestones_are_inclusive_jumps():
    f = make_schedule("step", 0.0, 0.9, milestones=[0.2, 0.5, 0.8])
    assert f(0.0) == 0.0
    assert f(0.1999) == 0.0
    assert f(0.2) == pytest.approx(0.3)
    assert f(0.4999) == pytest.approx(0.3)
    assert f(0.5) == pytest.approx(0.6)
    assert f(0.79) == pytest.approx(0.6)
    assert f(0.8) == pytest.approx(0.9)
    assert f(1.0) == pytest.approx(0.9)


def test_step_without_milestones_is_constant_start():
    assert step(0.9, 0.2, 0.8, milestones=()) == 0.2


def test_make_schedule_binds_only_relevant_parameters():
    # Passing `degree`, `milestones` and `rate` to every schedule must not change the unrelated ones.
    kw = dict(degree=5.0, milestones=[0.9], rate=0.5)
    assert make_schedule("linear", 0.0, 1.0, **kw)(0.3) == pytest.approx(0.3)
    assert make_schedule("root", 0.0, 1.0, **kw)(0.5) == pytest.approx(0.5 ** (1 / 5))
    assert make_schedule("step", 0.0, 1.0, **kw)(0.5) == 0.0
    assert make_schedule("exponential", 0.0, 1.0, **kw)(0.5) == pytest.approx(
        (1 - np.exp(-0.25)) / (1 - np.exp(-0.5))
    )


def test_step_milestones_are_copied():
    milestones = [0.5]
    f = make_schedule("step", 0.0, 1.0, milestones=milestones)
    milestones.append(0.1)
    assert f(0.3) == 0.0


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_make_schedule_is_picklable(name):
    f = make_schedule(name, 0.1, 0.9, degree=3.0, milestones=[0.3, 0.7], rate=2.0)
    g = pickle.loads(pickle.dumps(f))
    grid = np.linspace(-0.2, 1.2, 57)
    assert [g(p) for p in grid] == [f(p) for p in grid]


def test_config_schedule_fn_is_picklable_and_matches_config():
    config = CurriculumConfig(schedule="step", start=0.1, end=0.7, milestones=[0.5])
    g = pickle.loads(pickle.dumps(config.schedule_fn()))
    assert g(0.49) == pytest.approx(0.1) and g(0.5) == pytest.approx(0.7)
    assert config.target(0.5) == pytest.approx(0.7)


def test_unknown_schedule_name():
    with pytest.raises(ValueError, match=r"schedule should be one of \[.*'linear'.*\], but got schedule='quadratic'"):
        make_schedule("quadratic", 0.2, 0.8)
