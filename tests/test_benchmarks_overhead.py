"""Smoke tests of the overhead benchmarks: `--quick` runs exit 0 and print well-formed tables (nothing is timed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, timeout: int = 600) -> str:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"exit {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def table(out: str, header: str) -> list[list[str]]:
    """The cells of the Markdown table whose header row is `header`, one list per body row."""
    lines = out.splitlines()
    assert header in lines, f"no table {header!r} in:\n{out}"
    start = lines.index(header)
    width = header.count("|") - 1
    assert lines[start + 1].startswith("|---") and lines[start + 1].count("|") - 1 == width, lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == width, line
        rows.append(cells)
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def refresh_out() -> str:
    return run_module("benchmarks.overhead.refresh", "--quick")


def test_refresh_quick_prints_its_three_tables(refresh_out):
    refresh = table(
        refresh_out,
        "| rows | variant | refresh ms | ns/row | difficulty ms | shares ms | weights ms | draw ms | entropy ms |",
    )
    step = table(
        refresh_out,
        "| rows | variant | update µs | replay µs | on_step_end µs | snapshot step ms | mean µs/step | metrics µs |",
    )
    memory = table(
        refresh_out, "| rows | variant | score table B/row | resident B/row | refresh peak B/row | snapshot peak B/row |"
    )
    for rows in (refresh, step, memory):
        assert [(number(r[0]), r[1]) for r in rows] == [
            (1e4, "no groups"),
            (1e4, "8 tasks, balanced"),
            (1e5, "no groups"),
            (1e5, "8 tasks, balanced"),
        ]
        for r in rows:
            assert all(number(c) >= 0 for c in r[2:]), r
    for r in refresh:
        assert number(r[2]) > 0 and number(r[3]) > 0  # refresh ms, ns/row
        assert number(r[4]) > 0  # the difficulty of every row is computed
        assert (number(r[5]) > 0) == ("tasks" in r[1])  # task shares only with task balance
    for r in step:
        assert number(r[2]) > 0 and number(r[4]) >= number(r[2])  # on_step_end includes the score update
    for r in memory:
        assert number(r[2]) == 20  # ScoreTable.bytes_per_row
        assert number(r[3]) > 20 and number(r[4]) > 0


def test_refresh_rejects_bad_sizes():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.overhead.refresh", "--rows", "100"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "--rows should be at least 30 global batches" in done.stderr


def test_step_time_quick_prints_time_and_memory_tables():
    out = run_module("benchmarks.overhead.step_time", "--quick")
    times = table(out, "| setup | vocab | ms/step without | ms/step with | ratio |")
    assert len(times) == 4, out
    assert {int(r[1]) for r in times} >= {32000}
    for r in times:
        assert number(r[2]) > 0 and number(r[3]) > 0 and number(r[4]) > 0, r
    memory = table(
        out, "| setup | memory | MiB before | peak MiB without | peak MiB with | extra MiB | ratio | run ratio |"
    )
    assert len(memory) >= 1, out
    for r in memory:
        assert r[1] in ("rss", "cuda")
        before, without, with_ = number(r[2]), number(r[3]), number(r[4])
        assert 0 <= before <= without and before <= with_, r
        assert number(r[5]) == pytest.approx(with_ - without, abs=0.11)
        assert number(r[6]) > 0, r
