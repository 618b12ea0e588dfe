"""Smoke tests of the examples: they run, exit 0 and print their tables; the default config is the defaults."""

from __future__ import annotations

import re

import pytest

from processes import PYTHON, ROOT, check_ok, run_process

TIMEOUT = 300  # a run takes ~6 s on 2 CPU cores: room for a busy machine


@pytest.mark.slow
def test_quickstart_compares_uniform_and_the_curriculum(tmp_path):
    args = ["--size", "tiny", "--budget", "64", "--output-dir", str(tmp_path)]
    result = run_process([PYTHON, "examples/quickstart.py", *args], TIMEOUT)
    out = check_ok(result)
    # Progress bars while a person waits: the Trainer's on each run and the evaluations' (tqdm, on stderr).
    assert re.search(r"\d+/\d+ \[", result.stderr) and "evaluating: test" in result.stderr, result.stderr[-2000:]
    assert re.search(r"^\| uniform shuffling \(Trainer default\) \| \d+\.\d \|", out, flags=re.MULTILINE), out
    assert re.search(r"^\| online curriculum \(defaults\) \| \d+\.\d \|", out, flags=re.MULTILINE), out
    assert re.search(r"^\| online curriculum \(quickstart_duplicates\.yaml\) \| \d+\.\d \|", out, flags=re.MULTILINE), out
    assert re.search(r"Curriculum - uniform: [+-]\d+\.\d points", out), out
    assert re.search(r"With quickstart_duplicates\.yaml - uniform: [+-]\d+\.\d points", out), out
    assert re.search(r"Wrong answers among the rows trained on after the first fifth: uniform \d+%, curriculum \d+%, "
                     r"quickstart_duplicates\.yaml \d+%", out), out
    assert re.search(r"Suspected noise at the end: \d+ rows flagged", out), out
    assert f"Data map PNG: {tmp_path / 'data_map.png'}" in out
    assert (tmp_path / "data_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_schedule_demo_prints_phase_table(tmp_path):
    plot = tmp_path / "curriculum.png"
    args = ["--max-steps", "8", "--rows", "200", "--output-dir", str(tmp_path / "out"), "--plot", str(plot)]
    out = check_ok(run_process([PYTHON, "examples/schedule_demo.py", *args], TIMEOUT))
    assert "What the curriculum drew, by training phase" in out
    assert re.search(r"\|\s+steps \| target \| sampled \| level \|", out), out
    rows = re.findall(r"^\|\s+\d+-\d+ \|", out, flags=re.MULTILINE)
    assert len(rows) == 5, out
    assert "Loss by level at the end of training" in out
    assert re.search(r"Train loss: \d+\.\d+ .* -> \d+\.\d+", out), out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_schedule_demo_without_curriculum(tmp_path):
    args = ["--max-steps", "4", "--rows", "100", "--no-curriculum", "--output-dir", str(tmp_path)]
    out = check_ok(run_process([PYTHON, "examples/schedule_demo.py", *args], TIMEOUT))
    assert "without curriculum" in out
    assert "Loss by level at the end of training" in out
    assert "What the curriculum drew" not in out


def test_default_config_holds_the_defaults():
    from curriculum import CurriculumConfig

    import dataclasses

    import yaml

    path = ROOT / "examples" / "configs" / "default.yaml"
    assert CurriculumConfig.from_yaml(path) == CurriculumConfig()
    assert set(yaml.safe_load(path.read_text())) == {f.name for f in dataclasses.fields(CurriculumConfig)}


@pytest.mark.slow
@pytest.mark.parametrize("plain", [False, True])
def test_train_grpo_runs_grpo_with_and_without_the_curriculum(tmp_path, plain):
    args = ["--warmup-steps", "10", "--max-steps", "4", "--output-dir", str(tmp_path), *(["--no-curriculum"] * plain)]
    out = check_ok(run_process([PYTHON, "examples/train_grpo.py", *args], TIMEOUT))
    name = "plain GRPO" if plain else r"GRPO \+ curriculum \(grpo\.yaml\)"
    assert re.search(rf"^{name}: 4 steps$", out, flags=re.MULTILINE), out
    generated, replayed = map(int, re.search(r"Completions generated: (\d+), replayed: (\d+)", out).groups())
    assert generated + replayed == 4 * 32 and (replayed == 0 or not plain), out
    assert re.search(r"Groups with zero advantage: \d+% over training", out), out
    assert re.search(r"Held-out accuracy: \d+\.\d% before GRPO, \d+\.\d% after", out), out
    assert ("Task shares at the end: {'add': " in out) != plain, out
