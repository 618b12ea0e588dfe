"""The learning benchmark: its testbed's guarantees, its headline arithmetic, and a smoke run of the whole command."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import numpy as np
import pytest

from benchmarks.learning.pools import POOLS, Pool, pools_of
from benchmarks.learning.report import budget_to_reach, headline
from benchmarks.learning.report import STUDY
from benchmarks.learning.run import STRATEGIES
from benchmarks.learning.testbed import (
    EXTRAPOLATION_LEVEL,
    TASKS,
    TRAIN_LEVELS,
    UNLEARNABLE_TASK,
    Pathologies,
    make_example,
    make_pool,
    make_splits,
    make_warmup,
)
from processes import PYTHON, check_ok, run_process


def _solve(prompt: str) -> str:
    """An independent solver of the tasks, to check the generator's answers."""
    if prompt.startswith("hash "):
        import hashlib

        digest = hashlib.blake2b(prompt[5:-1].encode(), key=b"unlearnable", digest_size=2).digest()
        return "".join(chr(ord("a") + b % 26) for b in digest)
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


def test_plausible_wrong_answers_have_the_right_format():
    pool = make_pool(4000, Pathologies(redundant=0.0, noise=0.5, noise_kind="plausible", imbalance=None), set(), 1)
    wrong = [r for r in pool if r["noisy"]]
    assert len(wrong) == 2000
    for row in wrong:
        right, answer = _solve(row["prompt"]), row["completion"]
        assert answer != right and len(answer) == len(right), row
        if row["task"] == "add":
            assert answer.isdigit() and (len(answer) == 1 or answer[0] != "0"), row
        elif row["task"] == "lookup":  # the value of another variable of the prompt
            assert f"={answer}" in row["prompt"], row
        elif len(set(right)) > 1:  # sort / reverse: the same letters in a wrong order
            assert sorted(answer) == sorted(right), row
    # Random noise is another string of the same length and alphabet, rarely the same letters.
    random_noise = make_pool(4000, Pathologies(redundant=0.0, noise=0.5, imbalance=None), set(), 1)
    letters = [r for r in random_noise if r["noisy"] and r["task"] in ("sort", "reverse")]
    assert sum(sorted(r["completion"]) == sorted(_solve(r["prompt"])) for r in letters) < 0.05 * len(letters)


def test_unlearnable_task_is_consistent_and_only_in_pools():
    pool = make_pool(4000, Pathologies(redundant=0.0, noise=0.0, imbalance=None, unlearnable=0.25), set(), 2)
    hashed = [r for r in pool if r["task"] == UNLEARNABLE_TASK]
    assert len(hashed) == 1000 and {r["level"] for r in hashed} == set(TRAIN_LEVELS)
    assert all(_solve(r["prompt"]) == r["completion"] for r in pool)
    assert Counter(r["task"] for r in pool if r["task"] != UNLEARNABLE_TASK) == {t: 750 for t in TASKS}
    test, extrapolation = make_splits(per_cell=5, seed=0)
    assert UNLEARNABLE_TASK not in {r["task"] for r in test + extrapolation}


def test_repeated_rows_over_two_levels_with_thirty_copies():
    n = 6000
    pool = make_pool(n, Pathologies(redundant=0.6, noise=0.0, imbalance=None, redundant_levels=(1, 2), copies=30),
                     set(), 0)  # fmt: skip
    copies = Counter(r["prompt"] for r in pool)
    repeated = [r for r in pool if copies[r["prompt"]] >= 10]
    by_level = Counter(r["level"] for r in repeated)
    assert set(by_level) == {1, 2} and abs(by_level[1] - by_level[2]) < 0.1 * len(repeated)
    assert len(repeated) >= 0.6 * n
    distinct = {r["prompt"] for r in repeated}
    assert 25 <= len(repeated) / len(distinct) <= 40  # about 30 copies of each


def test_protocol_pools_are_fixed_and_vary_every_dimension_in_both_roles():
    # The split into tuning and validation pools is fixed before any tuning: moving a pool between roles after
    # seeing results would defeat the protocol, so the names are spelled out here.
    assert pools_of("tuning") == [
        "pathological", "clean", "plausible15_skewed_unlearnable_1visit", "plausible30_dup2levels",
        "skills_plausible15_dup_noisyrepeated_rare", "words_base_plausible15_noisyunrepeated_1visit",
        "skills_base_clean_rare_unlearnable", "skills_base_clean",
    ]  # fmt: skip
    assert pools_of("validation") == [
        "plausible15_dup2levels_rare_unlearnable", "random30_1visit", "clean_skewed_unlearnable",
        "plausible15_dup2levels_1visit", "clean_1visit",
        "skills_plausible15_dup_noisyunrepeated_rare_unlearnable", "words_plausible15_dup_noisyrepeated_rare",
        "skills_base_plausible30_1visit", "arith_base_plausible15_dup_noisyunrepeated_rare_unlearnable",
    ]  # fmt: skip
    assert len(POOLS) >= 8
    for role in ("tuning", "validation"):
        specs = [POOLS[name] for name in pools_of(role)]
        kinds = {p.pathologies.noise_kind for p in specs if p.pathologies.noise}
        assert kinds == {"random", "plausible"}, role
        assert {0.0, 0.15, 0.3} <= {p.pathologies.noise for p in specs}, role
        assert any(p.pathologies.redundant == 0 for p in specs), role
        assert any(p.pathologies.redundant > 0.5 and len(p.pathologies.redundant_levels) > 1 for p in specs), role
        assert any(p.pathologies.imbalance is not None for p in specs), role
        assert any(p.pathologies.unlearnable > 0 for p in specs), role
        assert {1.0, 5.0} <= {p.scale for p in specs}, role  # several visits per row, and about one
    with pytest.raises(ValueError, match="role should be one of"):
        Pool("x", "test", Pathologies())
    with pytest.raises(ValueError, match="noise_kind should be one of"):
        Pathologies(noise_kind="typo")
    with pytest.raises(ValueError, match="pool should be one of"):
        STRATEGIES["uniform"].__class__("x", "x", pool="nope")


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
    assert Counter(r["strategy"] for r in results) == {name: 3 for name in STUDY}
    for r in results:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["extrapolation_accuracy"] <= 1.0
        assert math.isfinite(r["test_loss"]) and r["test_loss"] > 0
        if STRATEGIES[r["strategy"]].curriculum is not None:
            assert len(r["trace"]["target"]) > 0 and abs(sum(r["drawn"][f"task_{t}"][0] for t in TASKS) - 1) < 1e-9
    report = (out / "learning.md").read_text()
    for name in STUDY:
        strategy = STRATEGIES[name]
        assert (f"level {strategy.levels[0]} only" if name.startswith("band") else strategy.label) in report
    rows = [line for line in report.splitlines() if line.startswith("| uniform (Trainer default) |")]
    assert len(rows) >= 3 and all(len(re.findall(r"\d+\.\d+ ± \d+\.\d+", line)) == 3 for line in rows[:3])
    assert "the best band" in report
    for name in ("learning_accuracy.png", "learning_schedule.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    # A rerun finds every result in place and only rewrites the report.
    assert "0 runs to do" in check_ok(run_process([*command, "--workers", "1", "--no-plot"], 300))


def test_protocol_report_pairs_strategies_with_uniform_per_pool(tmp_path):
    from types import SimpleNamespace

    from benchmarks.learning.protocol import expand_pools, write_protocol_report

    assert expand_pools("tuning,clean_1visit") == [*pools_of("tuning"), "clean_1visit"]
    with pytest.raises(ValueError, match="unknown pool 'nope'"):
        expand_pools("nope")
    results = [
        {"strategy": s, "pool": "random30_1visit", "budget": 100, "seed": seed, "test_accuracy": acc,
         "drawn": {"noisy": [0.3, 0.1, 0.2, 0.3, 0.4]}}
        for s, seed, acc in (("uniform", 0, 0.2), ("uniform", 1, 0.4), ("online", 0, 0.3), ("online", 1, 0.3))
    ]  # fmt: skip
    size = SimpleNamespace(name="x", pool_rows=10, hidden_size=8, num_layers=1)
    text = write_protocol_report(results, tmp_path, size).read_text()
    assert "## Validation pools" in text and "## Tuning pools" not in text
    assert "| uniform (Trainer default) | 30.0 ± 14.1 |" in text
    assert "| online (defaults) − uniform (paired) | +0.0 ± 14.1 |" in text  # +10 and -10 points
    assert "(pool: 30%): uniform (Trainer default) 25%; online (defaults) 25%" in text
    # Uniform's mean 30 with standard error 10: the curriculum's 30 passes; it reaches 30 at the (only) budget.
    assert "| `random30_1visit` | validation | arith | ✓ | 1.00 | 25% (30%) ✓ |" in text


def test_protocol_checks_by_hand():
    from benchmarks.learning.protocol import criteria

    def run(strategy, budget, seed, accuracy, noise=None):
        extra = {} if noise is None else {"noise_detection": noise}
        return {"strategy": strategy, "pool": "clean", "budget": budget, "seed": seed, "test_accuracy": accuracy,
                **extra}

    results = [
        run("uniform", 100, 0, 0.10), run("uniform", 100, 1, 0.20), run("uniform", 400, 0, 0.40),
        run("uniform", 400, 1, 0.40),
        run("online", 100, 0, 0.12), run("online", 100, 1, 0.14), run("online", 400, 0, 0.38),
        run("online", 400, 1, 0.39),
    ]  # fmt: skip
    (row,) = criteria(results, "online")
    # 100: 13 >= 15 - 5 (std 7.07 / sqrt 2); 400: 38.5 < 40 - 0 (no spread).
    assert row["at_least_uniform_minus_se"] == {100: True, 400: False}
    assert np.isnan(row["share_to_reach_uniform_max"])  # 40 never reached
    results[-1]["test_accuracy"] = 0.42  # now 40 at 400 exactly, reached there by log-linear interpolation
    (row,) = criteria(results, "online")
    assert row["share_to_reach_uniform_max"] == pytest.approx(1.0)
    results[-2]["test_accuracy"] = 0.42
    # Means 13 at 100 and 42 at 400: 40 is reached at 100 * 4 ** ((40 - 13) / 29) examples.
    (row,) = criteria(results, "online")
    assert row["share_to_reach_uniform_max"] == pytest.approx(100 * 4 ** (27 / 29) / 400)


@pytest.mark.slow
def test_protocol_command_runs_strategies_on_chosen_pools(tmp_path):
    # The optional signals that need more than the pool: a reference model (rho), a cluster column (clusters).
    strategies = ["uniform", "online", "online_mixture", "online_rho", "online_clusters"]
    args = ["--size", "tiny", "--pools", "clean_skewed_unlearnable", "--strategies", ",".join(strategies),
            "--budgets", "64", "--workers", "1", "--out", str(tmp_path)]  # fmt: skip
    out = check_ok(run_process([PYTHON, "-m", "benchmarks.learning", *args], timeout=300))
    assert "#### `clean_skewed_unlearnable` (validation)" in out and "### Family `arith`" in out
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {(r["strategy"], r["pool"]) for r in results} == {(s, "clean_skewed_unlearnable") for s in strategies}
    for r in results:
        if r["strategy"] != "uniform":
            assert sum(r["noise_detection"]["map"].values()) == 400  # every row of the tiny pool has a category
    assert (tmp_path / "protocol.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_protocol_tables_by_hand():
    from benchmarks.learning.protocol import comparison_table, pools_table, readme_summary

    assert pools_table().count("| tuning |") == len(pools_of("tuning"))
    assert pools_table().count("| validation |") == len(pools_of("validation"))

    def run(strategy, budget, seed, accuracy, noisy=None):
        extra = {} if noisy is None else {"drawn": {"noisy": noisy}}
        return {"strategy": strategy, "pool": "random30_1visit", "budget": budget, "seed": seed,
                "test_accuracy": accuracy, **extra}

    results = [
        run("uniform", 100, 0, 0.10), run("uniform", 100, 1, 0.20), run("online", 100, 0, 0.15),
        run("online", 100, 1, 0.19, noisy=[0.5, 0.2, 0.2, 0.2, 0.2]), run("online", 100, 2, 0.90),
    ]  # fmt: skip
    table = comparison_table(results, ["online"], ["random30_1visit"])
    assert "| online (defaults) | +2.0 | +2.0 |" in table  # +5 and -1 points, seed 2 has no uniform pair
    assert "+5.0" in comparison_table(results, ["online"], ["random30_1visit"], seed=0)
    summary = readme_summary(results)
    # uniform 15.0 ± 7.1 (SE 5), defaults 41.3 ± 42.2 (seeds 0-2), paired +2.0 ± 4.2: at or above 15 - 5; uniform's
    # accuracy at the largest (only) budget is reached there.
    assert "| `random30_1visit` | 15.0 ± 7.1 | 41.3 ± 42.2 | +2.0 ± 4.2 ✓ | 1.00 of them |" in summary, summary
    assert "`random30_1visit` 20% (pool 30%)" in summary


@pytest.mark.slow
def test_protocol_command_runs_a_pool_of_another_family_with_base_knowledge(tmp_path):
    # A `words` pool (real words, CMU dictionary) and a `skills` pool whose runs start from a base model; two workers
    # share the warm-up weights through the workdir. The curriculum's logged task shares come back as `share_trace`.
    pools = ["words_plausible15_dup_noisyrepeated_rare", "skills_base_plausible30_1visit"]
    args = ["--size", "tiny", "--pools", ",".join(pools), "--strategies", "uniform,online", "--budgets", "64",
            "--workers", "2", "--out", str(tmp_path)]  # fmt: skip
    out = check_ok(run_process([PYTHON, "-m", "benchmarks.learning", *args], timeout=300))
    assert "### Family `words`" in out and "### Family `skills`" in out
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {(r["strategy"], r["pool"]) for r in results} == {(s, p) for s in ("uniform", "online") for p in pools}
    families = {"words_plausible15_dup_noisyrepeated_rare": ("syll", "stress", "hyph", "first"),
                "skills_base_plausible30_1visit": ("max", "count", "shift", "dedup")}  # fmt: skip
    for r in results:
        tasks = families[r["pool"]]
        assert set(r["test_accuracy_by_task"]) == set(tasks) and r["base"] == r["pool"].startswith("skills_base")
        assert set(r["drawn"]["natural"]) == {*tasks, "hash"}
        assert abs(sum(r["drawn"][f"task_{t}"][0] for t in (*tasks, "hash")) - 1) < 1e-9
        if r["strategy"] == "online":
            trace = r["share_trace"]
            assert trace["step"] == sorted(trace["step"]) and all(len(v) == len(trace["step"]) for v in trace["shares"].values())
    assert "Task shares:" in out and "between refreshes" in out
    assert (tmp_path / "task_shares.png").exists() == any(r.get("share_trace", {}).get("shares") for r in results)


def test_results_blocks_are_written_by_the_protocol_script():
    # The learning tables of the results page and the README's headline are what `python -m
    # benchmarks.learning.readme` writes from the committed results.
    from pathlib import Path

    from benchmarks.learning.readme import PAGES, fill, load_sources

    root = Path(__file__).resolve().parents[2]
    sources = load_sources(root)
    assert sources["small"], "the protocol's committed results are missing"
    for name, blocks in PAGES.items():
        page = (root / name).read_text()
        assert fill(page, sources, blocks) == page, f"rerun `python -m benchmarks.learning.readme` ({name})"
    with pytest.raises(ValueError, match="has no <!-- pools:start -->"):
        fill("no blocks here", sources, ["pools"])
