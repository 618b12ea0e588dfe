"""The `curriculum` command line: `validate` and `schema`."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from curriculum.cli import main
from curriculum.config import CurriculumConfig
from processes import check_ok, run_process


def test_validate_good_file_prints_resolved_config(tmp_path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text("curriculum:\n  schedule: cosine\n  width: 1e-1\n  group_column: task\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    header, _, body = out.partition("---\n")
    assert header == f"{path}: valid\n"
    resolved = yaml.safe_load(body)
    # Every field is printed, including defaults, with the coerced values.
    assert list(resolved) == [f.name for f in dataclasses.fields(CurriculumConfig)]
    assert resolved["schedule"] == "cosine"
    assert resolved["width"] == 0.1 and isinstance(resolved["width"], float)
    assert resolved["group_column"] == "task"
    assert resolved["ema"] == 0.5
    assert CurriculumConfig.from_dict(resolved) == CurriculumConfig(schedule="cosine", width=0.1, group_column="task")


def test_validate_empty_file_prints_defaults(tmp_path, capsys):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert CurriculumConfig.from_dict(yaml.safe_load(out.partition("---\n")[2])) == CurriculumConfig()


@pytest.mark.parametrize(
    "text, message",
    [
        ("shedule: linear\n", "unknown curriculum key(s) 'shedule' (did you mean 'schedule'?)"),
        ("uniform_mix: 1.5\n", "uniform_mix should be <= 1.0, but got uniform_mix=1.5"),
        ("refresh_every_steps: true\n", "refresh_every_steps should be an integer, but got refresh_every_steps=True"),
        ("ema: [0.1\n", "not valid YAML"),
    ],
)
def test_validate_bad_file_returns_2_and_names_key(tmp_path, capsys, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"curriculum: error: {path}: ")
    assert message in err
    assert err.endswith("\n") and err.count("\n") >= 1


def test_validate_non_string_key_returns_2(tmp_path, capsys):
    path = tmp_path / "bad_key.yaml"
    path.write_text("0.5: ema\n", encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    assert "0.5" in capsys.readouterr().err


def test_validate_missing_file_returns_2(tmp_path, capsys):
    path = tmp_path / "missing.yaml"
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("curriculum: error: ") and "missing.yaml" in err


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "usage: curriculum" in capsys.readouterr().err


def test_schema_prints_markdown_table_one_row_per_field(capsys):
    assert main(["schema"]) == 0
    lines = capsys.readouterr().out.strip("\n").split("\n")
    assert lines[0] == "| key | type | default | allowed | meaning |"
    assert lines[1] == "|---|---|---|---|---|"
    rows = lines[2:]
    fields = dataclasses.fields(CurriculumConfig)
    assert len(rows) == len(fields)
    for row, f in zip(rows, fields):
        # Five cells per row: split on pipes that are not escaped.
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 5, row
        assert cells[0] == f"`{f.name}`"
        assert cells[4] == f.metadata["help"]
    by_key = {re.split(r"(?<!\\)\|", r)[1].strip(): r for r in rows}
    assert "`laplace`, `gaussian`" in by_key["`kernel`"]
    assert ">= 0.0; < 1.0" in by_key["`ema`"]
    assert "`str \\| None`" in by_key["`group_column`"]
    assert "`[0.5]`" in by_key["`milestones`"]


@pytest.mark.slow
def test_console_script_entry_point(tmp_path):
    # One run only: importing `curriculum` loads torch and transformers, which takes seconds.
    script = shutil.which("curriculum", path=os.path.dirname(sys.executable)) or shutil.which("curriculum")
    assert script is not None, "the `curriculum` console script is not installed"
    good = tmp_path / "good.yaml"
    good.write_text("schedule: step\nmilestones: [0.25, 0.75]\n", encoding="utf-8")
    out = check_ok(run_process([script, "validate", str(good)], 120))
    assert out.startswith(f"{good}: valid\n---\n")
    assert yaml.safe_load(out.partition("---\n")[2])["milestones"] == [0.25, 0.75]
    assert Path(script).name == "curriculum"
