"""Fault injection on the curriculum's state file: damaged files are clear errors, killed writes leave no litter, and
the bad-row state (unscorable rows, non-finite count) resumes exactly."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from curriculum import Curriculum, CurriculumConfig
from curriculum.callbacks import CurriculumCallback
from curriculum.checkpoint import STATE_FILE, StateFileError, load_state, save_state
from curriculum.samplers import CurriculumSampler

CONFIG = CurriculumConfig(share_scores="none", group_column="task", refresh_every_steps=1, replay_share=0.25)
GROUPS = list("aabbccdd")


def _callback() -> CurriculumCallback:
    curriculum = Curriculum.from_arrays(CONFIG, 8, groups=GROUPS, global_batch=4)
    return CurriculumCallback(curriculum, CurriculumSampler(curriculum, seed=3))


def _trained(folder) -> CurriculumCallback:
    """A callback whose curriculum saw a non-finite loss and a row without tokens, saved into `folder`."""
    callback = _callback()
    iter(callback.sampler).__next__()
    rows = np.array([0, 2, 5, 6])
    callback.curriculum.observe(
        rows, np.array([1.0, np.inf, 2.0, np.nan]), np.array([0.5, 0.5, 0.25, np.nan]), step=1,
        tokens=np.array([4, 4, 3, 0]),
    )
    callback.save(folder)
    return callback


def test_truncated_state_file_names_the_path(tmp_path):
    _trained(tmp_path)
    path = tmp_path / STATE_FILE
    data = path.read_bytes()
    for size in (len(data) // 2, 10, 0):
        path.write_bytes(data[:size])
        with pytest.raises(StateFileError, match="truncated, corrupt or not a curriculum state file") as err:
            _callback().load(tmp_path)
        assert str(path) in str(err.value) and "Resume from an earlier checkpoint" in str(err.value)
        assert isinstance(err.value, ValueError)


def test_corrupt_bytes_are_a_clear_error(tmp_path):
    _trained(tmp_path)
    path = tmp_path / STATE_FILE
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)  # zeroed bytes inside an array: the member's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(StateFileError, match=r"BadZipFile") as err:
        load_state(path)
    assert str(path) in str(err.value)


def test_state_without_metadata_or_of_another_kind_is_a_clear_error(tmp_path):
    path = tmp_path / STATE_FILE
    np.savez(path, a=np.arange(3))  # no __meta__
    with pytest.raises(StateFileError, match=r"KeyError") as err:
        load_state(path)
    assert str(path) in str(err.value)
    with open(path, "wb") as fh:
        np.save(fh, np.arange(3))  # a .npy file, not an archive
    with pytest.raises(StateFileError, match=str(path)):
        load_state(path)


def test_missing_state_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / STATE_FILE)


def test_stale_temporary_files_are_removed_by_the_next_save(tmp_path):
    stale = [tmp_path / ".curriculum_state.abc123.tmp", tmp_path / ".curriculum_state.x.tmp"]
    for path in stale:
        path.write_bytes(b"half a write")
    (tmp_path / "keep.tmp").write_bytes(b"not ours")
    (tmp_path / "other.npz").write_bytes(b"not ours")
    # Ignored by a load...
    save_state(tmp_path / "sub" / STATE_FILE, {"a": np.arange(2)}, {})
    (tmp_path / "sub" / ".curriculum_state.old.tmp").write_bytes(b"killed")
    arrays, _ = load_state(tmp_path / "sub" / STATE_FILE)
    assert arrays["a"].tolist() == [0, 1]
    # ... and removed by the next save into the same folder, leaving other files alone.
    save_state(tmp_path / STATE_FILE, {"a": np.arange(3)}, {"k": 1})
    assert sorted(os.listdir(tmp_path)) == ["curriculum_state.npz", "keep.tmp", "other.npz", "sub"]
    assert load_state(tmp_path / STATE_FILE)[1] == {"k": 1}
    assert sorted(os.listdir(tmp_path / "sub")) == [".curriculum_state.old.tmp", STATE_FILE]  # another folder


def test_killed_write_leaves_a_temporary_that_the_next_save_removes(tmp_path, monkeypatch):
    import curriculum.checkpoint as checkpoint

    def killed(*args, **kwargs):  # the process dies inside the write: no cleanup runs
        raise SystemExit

    real_savez = checkpoint.np.savez
    monkeypatch.setattr(checkpoint.np, "savez", killed)
    monkeypatch.setattr(checkpoint.os, "remove", lambda path: None)  # the `except` cleanup does not happen
    with pytest.raises(SystemExit):
        save_state(tmp_path / STATE_FILE, {"a": np.arange(3)}, {})
    monkeypatch.undo()
    assert [name.startswith(".curriculum_state.") for name in os.listdir(tmp_path)] == [True]
    assert checkpoint.np.savez is real_savez
    save_state(tmp_path / STATE_FILE, {"a": np.arange(3)}, {})
    assert os.listdir(tmp_path) == [STATE_FILE]


def test_bad_row_state_resumes_exactly_through_the_file(tmp_path):
    original = _trained(tmp_path)
    curriculum = original.curriculum
    assert curriculum.unscorable.tolist() == [False] * 6 + [True, False]
    assert curriculum.factors["unscorable"].nonfinite_rows == 1
    with zipfile.ZipFile(tmp_path / STATE_FILE) as archive:
        names = set(archive.namelist())
    assert {"curriculum.unscorable.npy", "curriculum.nonfinite_rows.npy"} <= names

    resumed = _callback()
    resumed.load(tmp_path)
    assert resumed.curriculum.unscorable.tolist() == curriculum.unscorable.tolist()
    assert resumed.curriculum.factors["unscorable"].nonfinite_rows == 1
    for step in (2, 3):
        position = curriculum.position(step - 1)
        np.testing.assert_array_equal(resumed.curriculum.weights(position), curriculum.weights(position))
        rows = np.array([1, 3, 4, 7])
        for c in (curriculum, resumed.curriculum):
            c.observe(rows, np.array([1.0, 2.0, np.inf, 0.5]), np.full(4, 0.5), step=step, tokens=np.full(4, 2))
    assert resumed.curriculum.metrics() == curriculum.metrics()
    assert resumed.curriculum.factors["unscorable"].nonfinite_rows == 3
