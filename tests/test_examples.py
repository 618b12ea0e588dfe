"""Smoke tests of the examples: they run, exit 0 and print their tables; the default config is the defaults."""

from __future__ import annotations

import re

import pytest

from processes import PYTHON, ROOT, check_ok, run_process

TIMEOUT = 300  # a run takes ~6 s on 2 CPU cores: room for a busy machine


@pytest.mark.slow
def test_quickstart_prints_phase_table(tmp_path):
    plot = tmp_path / "curriculum.png"
    args = ["--max-steps", "8", "--rows", "200", "--output-dir", str(tmp_path / "out"), "--plot", str(plot)]
    out = check_ok(run_process([PYTHON, "examples/quickstart.py", *args], TIMEOUT))
    assert "What the curriculum drew, by training phase" in out
    assert re.search(r"\|\s+steps \| target \| sampled \| level \|", out), out
    rows = re.findall(r"^\|\s+\d+-\d+ \|", out, flags=re.MULTILINE)
    assert len(rows) == 5, out
    assert "Loss by level at the end of training" in out
    assert re.search(r"Train loss: \d+\.\d+ .* -> \d+\.\d+", out), out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quickstart_without_curriculum(tmp_path):
    args = ["--max-steps", "4", "--rows", "100", "--no-curriculum", "--output-dir", str(tmp_path)]
    out = check_ok(run_process([PYTHON, "examples/quickstart.py", *args], TIMEOUT))
    assert "without curriculum" in out
    assert "Loss by level at the end of training" in out
    assert "What the curriculum drew" not in out


def test_default_config_holds_the_defaults():
    from curriculum import CurriculumConfig

    assert CurriculumConfig.from_yaml(ROOT / "examples" / "configs" / "default.yaml") == CurriculumConfig()
