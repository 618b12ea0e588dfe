"""The README's YAML schema table is the one the code generates, and its commands match CI."""

from __future__ import annotations

from pathlib import Path

from curriculum.config import schema_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_readme_schema_table_is_current():
    assert schema_markdown() in (ROOT / "README.md").read_text(), "regenerate the table with `curriculum schema`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = (
        'pip install torch==2.13.0 && pip install --no-build-isolation deepspeed==0.19.8 && '
        'pip install -e ".[test,plot,deepspeed,embeddings,bench]" && python -m pytest -q'
    )
    assert command in readme
    assert command.replace("pip install", "pip install -q") in ci, "the README's test command and .ci/run differ"
