"""A run killed (SIGKILL) at any point of a checkpoint save resumes with `resume_from_checkpoint=True` and ends
exactly like an uninterrupted run: the curriculum's state is written inside the checkpoint, before the Trainer
deletes older ones, and the newest complete checkpoint is chosen."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

from processes import PYTHON, run_process
from curriculum.checkpoint import STATE_FILE

HARNESS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "save_harness.py")
TABLE = ("loss", "confidence", "confidence_var", "count", "first_loss")
pytestmark = pytest.mark.slow


def _harness(out, *flags, expect_killed=False):
    result = run_process([PYTHON, HARNESS, "--out", str(out), *flags], timeout=180)
    if expect_killed:
        assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    else:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    _harness(folder / "run", "--dump", folder / "dump.npz")
    return dict(np.load(folder / "dump.npz"))


@pytest.mark.parametrize(
    "point, limit",
    [("before_state", 1), ("during_state", 1), ("after_state", 1), ("after_checkpoint", 1), ("before_state", 0)],
)
def test_killed_while_saving_resumes_exactly(tmp_path, uninterrupted, point, limit):
    out = tmp_path / "run"
    flags = ["--save-total-limit", str(limit)] if limit else []
    _harness(out, "--kill", point, *flags, expect_killed=True)
    newest = out / "checkpoint-8"
    assert newest.is_dir()
    complete = point == "after_checkpoint"
    assert (newest / "trainer_state.json").exists() == complete
    assert (newest / STATE_FILE).exists() == (point in ("after_state", "after_checkpoint"))
    # The older checkpoint was rotated away only when the newer one was complete.
    assert (out / "checkpoint-4" / STATE_FILE).exists() == (not complete or not limit)

    resumed = _harness(out, *flags, "--resume", "--dump", tmp_path / "dump.npz")
    if not complete:
        assert "skipping the incomplete checkpoint" in resumed.stderr and "checkpoint-8" in resumed.stderr
    dump = dict(np.load(tmp_path / "dump.npz"))
    first = int(dump["first_step"])
    assert first == (9 if complete else 5)
    np.testing.assert_array_equal(dump["rows"], uninterrupted["rows"][first - 1 :])
    for name in TABLE:
        np.testing.assert_array_equal(dump[name], uninterrupted[name], err_msg=name)
    # The resumed run wrote checkpoint-8 again (rotated away with a limit of 1): every checkpoint left is complete,
    # with no temporary file of the killed write.
    left = sorted(p.name for p in out.iterdir())
    assert left == (["checkpoint-10"] if limit else ["checkpoint-10", "checkpoint-4", "checkpoint-8"])
    for name in left:
        assert not missing(out / name) and not [p for p in os.listdir(out / name) if p.endswith(".tmp")], name


def missing(folder):
    from curriculum.resume import missing_files

    return missing_files(str(folder))


def test_resume_true_without_a_complete_checkpoint_is_a_clear_error(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoint-3").mkdir(parents=True)  # a save killed before anything was written
    result = run_process([PYTHON, HARNESS, "--out", str(out), "--resume"], timeout=180)
    assert result.returncode != 0
    assert "no complete checkpoint in" in result.stderr and "curriculum_state.npz" in result.stderr
