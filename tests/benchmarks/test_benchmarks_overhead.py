"""Smoke tests of the overhead benchmarks: one `--quick` run of each prints well-formed tables (no time is judged)."""

from __future__ import annotations

import math

import pytest

from processes import PYTHON, check_ok, run_process

# Each benchmark runs once (module-scoped fixtures): ~5 s and ~30-70 s on 2 CPU cores.
REFRESH_TIMEOUT, STEP_TIME_TIMEOUT = 300, 600
VARIANTS = ["no groups", "8 tasks, balanced"]


def run_module(module: str, *args: str, timeout: float) -> str:
    return check_ok(run_process([PYTHON, "-m", module, *args], timeout))


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
    """A table's number ("10,000", "+1.5", "0.998")."""
    return float(cell.replace(",", ""))


def bytes_per_row() -> int:
    from curriculum.scores import ScoreTable

    return ScoreTable(1).bytes_per_row


# ---------------------------------------------------------------------------------------------------- refresh


@pytest.fixture(scope="module")
def refresh_out() -> str:
    return run_module("benchmarks.overhead.refresh", "--quick", timeout=REFRESH_TIMEOUT)


@pytest.mark.slow
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
        assert [(number(r[0]), r[1]) for r in rows] == [(n, v) for n in (1e4, 1e5) for v in VARIANTS]
        for r in rows:
            assert all(math.isfinite(number(c)) for c in r[2:]), r  # every variant takes a replay snapshot: no "-"
    # Without groups there is no task-share function to time: its column is 0 by construction.
    assert [number(r[5]) for r in refresh if r[1] == "no groups"] == [0.0, 0.0]
    for r in memory:  # traced allocations (tracemalloc), not timings
        assert number(r[2]) == bytes_per_row()
        assert number(r[3]) > number(r[2])  # the score table and more
        assert number(r[4]) > 0 and number(r[5]) > 0


def test_refresh_rejects_bad_sizes(capsys):
    from benchmarks.overhead.refresh import parse_args

    with pytest.raises(SystemExit) as info:
        parse_args(["--rows", "100"])
    assert info.value.code == 2
    assert "--rows should be at least 30 global batches (7680)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- step time


@pytest.fixture(scope="module")
def step_time_out() -> str:
    return run_module("benchmarks.overhead.step_time", "--quick", timeout=STEP_TIME_TIMEOUT)


def _consistent_ratio(ratio: float, numerator: float, denominator: float, digits: int) -> bool:
    """Whether a printed ratio (3 decimals) can be numerator / denominator, both printed with `digits` decimals."""
    half = 0.5 * 10**-digits
    assert denominator > half, f"denominator {denominator} is too small to check a ratio against: a broken measurement"
    low, high = (numerator - half) / (denominator + half), (numerator + half) / (denominator - half)
    return low - 5e-4 <= ratio <= high + 5e-4


@pytest.mark.slow
def test_step_time_quick_prints_time_table(step_time_out):
    from benchmarks.overhead.step_time import KINDS, make_setups
    from curriculum.toy import make_tokenizer

    times = table(step_time_out, "| setup | vocab | ms/step without | ms/step with | ratio |")
    expected = [
        (f"{s.name} / {kind}", s.vocab_size or len(make_tokenizer())) for s in make_setups(quick=True) for kind in KINDS
    ]
    assert [(r[0], int(r[1])) for r in times] == expected
    for r in times:
        without, with_, ratio = number(r[2]), number(r[3]), number(r[4])
        assert all(map(math.isfinite, (without, with_, ratio))), r
        assert _consistent_ratio(ratio, with_, without, digits=1), r
    assert f"Score table: {bytes_per_row()} bytes per row" in step_time_out


@pytest.mark.slow
def test_step_time_quick_prints_memory_table(step_time_out):
    memory = table(
        step_time_out,
        "| setup | memory | MiB before | peak MiB without | peak MiB with | extra MiB | ratio | run ratio |",
    )
    assert [(r[0], r[1]) for r in memory] == [("quickstart tiny / Trainer", "rss")]  # --quick: one setup, on CPU
    for r in memory:
        before, without, with_, extra, ratio = (number(c) for c in r[2:7])
        assert all(map(math.isfinite, (before, without, with_, extra, ratio))), r
        assert extra == pytest.approx(with_ - without, abs=0.151), r  # three roundings to 0.1
        assert _consistent_ratio(ratio, with_, without, digits=1), r
        assert r[7] == "nan" or math.isfinite(float(r[7])), r


# ---------------------------------------------------------------------------------------------------- attach


@pytest.mark.slow
def test_attach_quick_prints_its_table():
    out = run_module("benchmarks.overhead.attach", "--quick", "--paths", "arrow,python", timeout=300)
    rows = table(
        out,
        "| rows | path | bytes/row | seconds | peak RSS MiB | RSS before MiB | distinct contents | distinct prompts |",
    )
    assert [(r[0], r[1]) for r in rows] == [("10,000", "arrow"), ("10,000", "python")]
    for r in rows:
        assert 900 <= number(r[2]) <= 1200  # rows of about 1 KB
        assert number(r[3]) >= 0 and number(r[4]) >= number(r[5]) > 0
        assert number(r[6]) == 10_000 and 0 < number(r[7]) < 10_000  # 60% of the prompts are shared
    assert rows[0][6:] == rows[1][6:]  # both paths find the same copies


def test_attach_rejects_bad_arguments(capsys):
    from benchmarks.overhead.attach import parse_args

    assert parse_args(["--rows", "1e6,3e6"]).rows == [1_000_000, 3_000_000]
    assert parse_args(["--quick"]).rows == [10_000]
    for bad in (["--rows", "0"], ["--rows", "many"], ["--paths", "gpu"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
    capsys.readouterr()
