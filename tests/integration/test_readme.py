"""The documentation: the schema table is the one the code generates, the README fits a screen and its commands
match CI, the module map is current, and the site builds strictly."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from curriculum.config import schema_markdown
from processes import check_ok, run_process

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_page_schema_table_is_current():
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert schema_markdown() in page, "regenerate the table in docs/configuration.md with `curriculum schema`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = (
        'pip install torch==2.13.0 && pip install --no-build-isolation deepspeed==0.19.8 && '
        'pip install -e ".[test,plot,deepspeed,embeddings,bench,docs]" && python -m pytest -q'
    )
    assert command in readme
    assert command.replace("pip install", "pip install -q") in ci, "the README's test command and .ci/run differ"


def test_readme_fits_a_screen_and_links_existing_pages():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_module_map_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("module_map", ROOT / "scripts" / "module_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "module-map.md").read_text() == module.module_map(), "run `python scripts/module_map.py`"


@pytest.mark.slow
def test_documentation_site_builds_strictly(tmp_path):
    out = check_ok(run_process([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                               300, env={"NO_MKDOCS_2_WARNING": "1"}))
    assert (tmp_path / "site" / "api" / "index.html").exists(), out
