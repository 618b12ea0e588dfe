"""Smoke tests of the examples and the step-time benchmark: they run, exit 0 and print their tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _check(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result.stdout


def test_quickstart_prints_phase_table(tmp_path):
    plot = tmp_path / "curriculum.png"
    out = _check(
        _run(
            [
                "examples/quickstart.py",
                "--max-steps",
                "8",
                "--rows",
                "200",
                "--output-dir",
                str(tmp_path / "out"),
                "--plot",
                str(plot),
            ]
        )
    )
    assert "What the curriculum drew, by training phase" in out
    assert re.search(r"\|\s+steps \| target \| sampled \| level \|", out), out
    rows = re.findall(r"^\|\s+\d+-\d+ \|", out, flags=re.MULTILINE)
    assert len(rows) == 5, out
    assert "Loss by level at the end of training" in out
    assert re.search(r"Train loss: \d+\.\d+ .* -> \d+\.\d+", out), out
    assert plot.stat().st_size > 0


def test_quickstart_without_curriculum(tmp_path):
    args = ["--max-steps", "4", "--rows", "100", "--no-curriculum", "--output-dir", str(tmp_path)]
    out = _check(_run(["examples/quickstart.py", *args]))
    assert "without curriculum" in out
    assert "Loss by level at the end of training" in out


def test_step_time_benchmark_quick():
    out = _check(_run(["-m", "benchmarks.overhead.step_time", "--quick"]))
    assert "| setup | vocab | ms/step without | ms/step with | ratio |" in out
    rows = re.findall(r"^\| (.+?) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", out, flags=re.MULTILINE)
    assert len(rows) == 4, out
    assert {int(r[1]) for r in rows} >= {32000}
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0 and float(row[4]) > 0, row
    assert re.search(r"Score table: \d+ bytes per row", out), out


@pytest.mark.parametrize("name", ["quickstart", "default", "cosine_confidence", "step_schedule"])
def test_example_configs_are_valid(name):
    from curriculum import CurriculumConfig

    CurriculumConfig.from_yaml(ROOT / "examples" / "configs" / f"{name}.yaml")


def test_default_config_holds_the_defaults():
    from curriculum import CurriculumConfig

    assert CurriculumConfig.from_yaml(ROOT / "examples" / "configs" / "default.yaml") == CurriculumConfig()
