"""The wheel builds as declared and works outside the source tree."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from processes import check_ok, run_process

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_environment_and_runs(tmp_path):
    # Build the wheel (not editable) from a copy of what the package declares, with the build requirements already
    # installed: no build folder of an earlier build can fill in a package the declaration misses.
    source, dist = tmp_path / "source", tmp_path / "dist"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    for name in ("curriculum", "callbacks", "samplers"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    check_ok(run_process([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
                          str(source)], 600))
    wheel = next(dist.glob("curriculum-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    # Every package of the source tree is in the wheel, under its import name.
    packages = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("curriculum/**/__init__.py")}
    expected = {p.replace("/", ".") for p in packages} | {"curriculum.callbacks", "curriculum.samplers"}
    shipped = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert expected <= shipped, sorted(expected - shipped)
    assert "curriculum/scoring/prompts/quality.txt" in names

    # A fresh environment with the wheel installed: its dependencies come from this environment's site-packages
    # (a path entry, so the source tree's editable install is not seen), the package from the wheel.
    env_dir = tmp_path / "env"
    check_ok(run_process([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], 120))
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    check_ok(run_process([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                          str(wheel)], 300))
    code = ("import curriculum, curriculum.callbacks, curriculum.samplers, curriculum.factors; "
            "from curriculum.scoring.judge import load_templates; load_templates(); print(curriculum.__file__)")
    out = check_ok(run_process([str(python), "-c", code], 300, cwd=str(tmp_path)))
    assert out.strip().endswith(os.path.join("site-packages", "curriculum", "__init__.py")) and str(ROOT) not in out
    out = check_ok(run_process([str(env_dir / "bin" / "curriculum"), "--help"], 120, cwd=str(tmp_path)))
    assert "validate" in out and "score" in out
