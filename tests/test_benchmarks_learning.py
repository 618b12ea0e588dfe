"""The learning benchmark: its testbed's guarantees, its headline arithmetic, and a smoke run of the whole command."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pytest

from benchmarks.learning.report import budget_to_reach, headline
from benchmarks.learning.run import STRATEGIES
from benchmarks.learning.testbed import (
    EXTRAPOLATION_LEVEL,
    TASKS,
    TRAIN_LEVELS,
    Pathologies,
    make_example,
    make_pool,
    make_splits,
    make_warmup,
)
from processes import PYTHON, check_ok, run_process


def _solve(prompt: str) -> str:
    """An independent solver of the four tasks, to check the generator's answers."""
    if "+" in prompt:
        a, b = prompt.rstrip("=").split("+")
        return str(int(a) + int(b))
    if prompt.startswith("sort "):
        return "".join(sorted(prompt[5:-1]))
    if prompt.startswith("rev "):
        return prompt[4:-1][::-1]
    table_text, query = prompt.rstrip("?").split(" ")
    table = dict(item.split("=") for item in table_text.split(","))
    value = table[query]
    while not value.isdigit():
        value = table[value]
    return value


@pytest.mark.parametrize("task", TASKS)
def test_examples_are_correct_and_grow_with_level(task):
    import random

    rng = random.Random(0)
    lengths = []
    for level in (*TRAIN_LEVELS, EXTRAPOLATION_LEVEL):
        rows = [make_example(task, level, rng) for _ in range(50)]
        assert all(_solve(r["prompt"]) == r["completion"] for r in rows)
        lengths.append(sum(len(r["prompt"]) for r in rows) / len(rows))
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0]


def test_splits_and_pool_share_no_prompt():
    test, extrapolation = make_splits(per_cell=20, seed=3)
    assert {r["level"] for r in test} == set(TRAIN_LEVELS)
    assert {r["level"] for r in extrapolation} == {EXTRAPOLATION_LEVEL}
    held_out = {r["prompt"] for r in test + extrapolation}
    assert len(held_out) == len(test) + len(extrapolation)
    pool = make_pool(3000, Pathologies(), held_out, seed=3)
    assert not held_out & {r["prompt"] for r in pool}


def test_pathologies_switch_separately():
    n = 4000
    clean = make_pool(n, Pathologies.clean(), set(), seed=0)
    assert not any(r["noisy"] for r in clean)
    tasks, levels = Counter(r["task"] for r in clean), Counter(r["level"] for r in clean)
    assert all(tasks[t] == n // len(TASKS) for t in TASKS)
    assert all(levels[lv] == n // len(TRAIN_LEVELS) for lv in TRAIN_LEVELS)
    assert all(_solve(r["prompt"]) == r["completion"] for r in clean)

    noisy = make_pool(n, Pathologies(redundant=0.0, noise=0.15, imbalance=None), set(), seed=0)
    wrong = [r for r in noisy if r["noisy"]]
    assert len(wrong) == round(0.15 * n)
    assert all(_solve(r["prompt"]) != r["completion"] for r in wrong)
    assert all(_solve(r["prompt"]) == r["completion"] for r in noisy if not r["noisy"])

    redundant = make_pool(n, Pathologies(redundant=0.6, noise=0.0, imbalance=None, easy_distinct=40), set(), seed=0)
    easy = [r["prompt"] for r in redundant if r["level"] == 1]
    assert len(easy) >= 0.6 * n and len(set(easy)) <= len(TASKS) * 40 + 0.1 * n

    shares = (0.4, 0.3, 0.22, 0.08)
    skewed = Counter(r["task"] for r in make_pool(n, Pathologies(0.0, 0.0, shares), set(), seed=0))
    assert [skewed[t] for t in TASKS] == [round(n * s) for s in shares]


def test_warmup_teaches_no_task():
    rows = make_warmup(200)
    assert all(r["prompt"] == f"copy {r['completion']}:" for r in rows)


def test_budget_to_reach_interpolates_in_log_budget():
    assert budget_to_reach([1000, 4000], [0.2, 0.4], 0.3) == pytest.approx(2000.0)
    assert budget_to_reach([1000, 4000], [0.5, 0.6], 0.3) == 1000.0
    assert budget_to_reach([1000, 4000], [0.1, 0.2], 0.3) is None


def test_headline_pairs_seeds():
    def row(strategy, budget, seed, acc, ext):
        return {"strategy": strategy, "budget": budget, "seed": seed, "test_accuracy": acc, "extrapolation_accuracy": ext}

    results = [
        row("uniform", 1000, 0, 0.1, 0.0), row("uniform", 4000, 0, 0.3, 0.1), row("uniform", 4000, 1, 0.5, 0.3),
        row("uniform", 1000, 1, 0.1, 0.0), row("online", 1000, 0, 0.2, 0.0), row("online", 1000, 1, 0.2, 0.0),
        row("online", 4000, 0, 0.6, 0.2), row("online", 4000, 1, 0.6, 0.2),
    ]
    h = headline(results, "online")
    assert h["uniform_accuracy"] == pytest.approx(0.4)
    assert h["fraction"] == pytest.approx(2000.0 / 4000.0)  # 0.2 -> 0.6 crosses 0.4 halfway in log budget
    assert h["extrapolation_diff"][0] == pytest.approx(0.0)  # +0.1 and -0.1, paired by seed
    assert h["test_diff"][0] == pytest.approx(0.2)


@pytest.mark.slow
def test_tiny_benchmark_writes_tables_and_plots(tmp_path):
    out = tmp_path / "learning"
    command = [PYTHON, "-m", "benchmarks.learning", "--size", "tiny", "--out", str(out)]
    check_ok(run_process([*command, "--workers", "2"], 600))
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert Counter(r["strategy"] for r in results) == {name: 3 for name in STRATEGIES}
    for r in results:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["extrapolation_accuracy"] <= 1.0
        assert math.isfinite(r["test_loss"]) and r["test_loss"] > 0
        if STRATEGIES[r["strategy"]].curriculum is not None:
            assert len(r["trace"]["target"]) > 0 and abs(sum(r["drawn"][f"task_{t}"][0] for t in TASKS) - 1) < 1e-9
    report = (out / "learning.md").read_text()
    for name, strategy in STRATEGIES.items():
        assert (f"level {strategy.levels[0]} only" if name.startswith("band") else strategy.label) in report
    rows = [line for line in report.splitlines() if line.startswith("| uniform (Trainer default) |")]
    assert len(rows) >= 3 and all(len(re.findall(r"\d+\.\d+ ± \d+\.\d+", line)) == 3 for line in rows[:3])
    assert "the best band" in report
    for name in ("learning_accuracy.png", "learning_schedule.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # A rerun finds every result in place and only rewrites the report.
    assert "0 runs to do" in check_ok(run_process([*command, "--workers", "1", "--no-plot"], 300))
