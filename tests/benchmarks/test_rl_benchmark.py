"""The RL benchmark (`python -m benchmarks.rl`): its quick path end to end, and the results page being current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_mix_roles_are_fixed_and_split_by_generator():
    from benchmarks.rl.mixes import MIXES, make_heldout, make_pool, mixes_of

    assert mixes_of("tuning") and len(mixes_of("validation")) >= 2
    assert {MIXES[m].family for m in mixes_of("tuning")}.isdisjoint({MIXES[m].family for m in mixes_of("validation")})
    for mix in MIXES.values():
        pool, heldout = make_pool(mix, 8, 2), make_heldout(mix, 2)
        assert not {r["prompt"] for r in pool} & {r["prompt"] for r in heldout}
        assert {r["task"] for r in pool} == {r["task"] for r in heldout}
    with pytest.raises(ValueError, match="role should be one of"):
        mixes_of("test")


def test_exact_match_reads_the_text_up_to_the_eos():
    from benchmarks.rl.run import exact_match

    assert exact_match(None, ["42", " 42 ", "421", ""], ["42", "42", "42", "42"]) == [1.0, 1.0, 0.0, 0.0]


def test_quick_benchmark_writes_one_line_per_run(tmp_path):
    from benchmarks.rl.__main__ import main
    from benchmarks.rl.mixes import MIXES
    from benchmarks.rl.report import BLOCKS, fill
    from benchmarks.rl.run import ARMS, SIZES

    out = tmp_path / "results.jsonl"
    assert main(["--quick", "--out", str(out), "--cache", str(tmp_path / "cache"), "--workers", "1"]) == 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    size = SIZES["quick"]
    assert {(r["mix"], r["arm"], r["seed"]) for r in results} == {
        (m, a, s) for m in MIXES for a in ARMS for s in size.seeds}
    assert len(results) == len(MIXES) * len(ARMS) * len(size.seeds)
    for r in results:
        assert r["role"] == MIXES[r["mix"]].role and r["size"] == "quick"
        assert r["budget"] == size.rounds * size.prompts_per_round * size.num_generations
        assert r["completions"] >= r["budget"]
        targets = [p["target"] for p in r["curve"]]
        assert targets == [round(r["budget"] * k / size.eval_points) for k in range(size.eval_points + 1)]
        assert all(p["completions"] >= p["target"] for p in r["curve"])
        assert all(0.0 <= p["accuracy"] <= 1.0 for p in r["curve"])
        assert r["config"]["replay_share"] == (0.25 if r["arm"] == "curriculum_replay" else 0.0)
        logs = r["logs"]
        assert logs["frac_reward_zero_std_n"] == r["rounds"]
        if r["arm"] == "uniform":
            assert logs["zero_advantage_share"] is None and r["replayed"] == 0
        else:  # the curriculum's share agrees with TRL's on generated groups
            assert logs["zero_advantage_share_n"] == r["rounds"]
            assert logs["zero_advantage_share"] == pytest.approx(logs["frac_reward_zero_std"], abs=0.1)
        initial = r["initial"]
        assert initial["zero"] + initial["between"] + initial["one"] == pytest.approx(1.0)
        assert set(initial["by_level"]) == {str(lv) for lv in MIXES[r["mix"]].levels}
        assert r["timings"]["train_s"] >= r["timings"]["eval_s"] > 0
    # The cached warm models are reused: a second call records nothing new and trains nothing.
    assert main(["--quick", "--out", str(out), "--cache", str(tmp_path / "cache"), "--workers", "1"]) == 0
    assert len(out.read_text().splitlines()) == len(results)
    page = "\n".join(f"<!-- {name}:start -->\n<!-- {name}:end -->" for name in BLOCKS)
    filled = fill(page, results)
    reach = filled.split("<!-- rl_reach:start -->")[1].split("<!-- rl_reach:end -->")[0]
    uniform_rows = [line for line in reach.splitlines() if "| uniform |" in line]
    assert len(uniform_rows) == len(MIXES)  # uniform reaches its own final accuracy, at the latest at the end
    assert all("not reached" not in line for line in uniform_rows)
    assert "| `skills_levels1to4` | validation | curriculum_replay |" in filled

def test_results_page_is_written_by_the_report_script():
    # The tables of docs/results/rl.md are what `python -m benchmarks.rl.report` writes from the committed runs.
    from benchmarks.rl.report import PAGE, RESULTS, fill, load_results

    results = load_results(ROOT / RESULTS)
    assert results, "the RL benchmark's committed results are missing"
    page = (ROOT / PAGE).read_text()
    assert fill(page, results) == page, "rerun `python -m benchmarks.rl.report`"
    with pytest.raises(ValueError, match="has no <!-- rl_reach:start -->"):
        fill("no blocks here", results, ["rl_reach"])
