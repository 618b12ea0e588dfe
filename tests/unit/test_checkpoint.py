"""Atomic save and load of the curriculum's side file."""

from __future__ import annotations

import os

import numpy as np
import pytest

import curriculum.checkpoint as checkpoint
from curriculum.checkpoint import STATE_FILE, load_state, save_state
from curriculum import Curriculum, CurriculumConfig
from curriculum.callbacks import CurriculumCallback
from curriculum.samplers import CurriculumSampler


def leftovers(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp") or name.startswith(".curriculum"))


def test_state_file_name():
    assert STATE_FILE == "curriculum_state.npz"


def test_round_trip_arrays_and_meta(tmp_path):
    arrays = {
        "scores.loss": np.array([1.5, np.nan, 0.25], dtype=np.float32),
        "scores.count": np.array([2, 0, 1], dtype=np.int32),
        "sampler.stream": np.arange(10, dtype=np.int64),
        "empty": np.zeros(0, dtype=np.float64),
    }
    meta = {"format": 1, "global_step": 7, "nested": {"epoch": 2, "big": 2**100, "name": "é"}, "list": [1, 2.5, None]}
    path = tmp_path / STATE_FILE
    save_state(path, arrays, meta)
    loaded_arrays, loaded_meta = load_state(path)
    assert loaded_meta == meta
    assert set(loaded_arrays) == set(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded_arrays[key], value)
        assert loaded_arrays[key].dtype == value.dtype
    assert leftovers(tmp_path) == []
    assert os.listdir(tmp_path) == [STATE_FILE]


def test_save_creates_missing_folder_and_accepts_str_path(tmp_path):
    path = str(tmp_path / "checkpoint-5" / STATE_FILE)
    save_state(path, {"a": np.array([3])}, {"k": "v"})
    arrays, meta = load_state(path)
    assert arrays["a"].tolist() == [3] and meta == {"k": "v"}
    assert os.listdir(tmp_path / "checkpoint-5") == [STATE_FILE]


def test_save_overwrites_previous_file(tmp_path):
    path = tmp_path / STATE_FILE
    save_state(path, {"a": np.array([1, 2])}, {"version": 1})
    save_state(path, {"b": np.array([3.0])}, {"version": 2})
    arrays, meta = load_state(path)
    assert list(arrays) == ["b"] and meta == {"version": 2}
    assert os.listdir(tmp_path) == [STATE_FILE]


def test_failure_mid_write_leaves_previous_file_untouched(tmp_path, monkeypatch):
    path = tmp_path / STATE_FILE
    save_state(path, {"a": np.arange(5)}, {"version": 1})
    before = path.read_bytes()

    def failing_savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04 partial garbage")  # some bytes reach the temporary file, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"a": np.arange(100)}, {"version": 2})
    monkeypatch.undo()

    assert path.read_bytes() == before
    arrays, meta = load_state(path)
    assert arrays["a"].tolist() == [0, 1, 2, 3, 4] and meta == {"version": 1}
    assert os.listdir(tmp_path) == [STATE_FILE]  # no temporary file left behind


def test_failure_without_previous_file_leaves_nothing(tmp_path, monkeypatch):
    def failing_savez(file, *args, **kwargs):
        raise KeyboardInterrupt  # also cleaned up on interrupts (BaseException)

    monkeypatch.setattr(checkpoint.np, "savez", failing_savez)
    with pytest.raises(KeyboardInterrupt):
        save_state(tmp_path / STATE_FILE, {"a": np.arange(3)}, {})
    assert os.listdir(tmp_path) == []


def test_meta_not_json_serialisable_leaves_nothing(tmp_path):
    path = tmp_path / STATE_FILE
    with pytest.raises(TypeError):
        save_state(path, {"a": np.arange(3)}, {"bad": object()})
    assert os.listdir(tmp_path) == []


def test_load_refuses_pickled_objects(tmp_path):
    path = tmp_path / STATE_FILE
    save_state(path, {"obj": np.array([{"x": 1}], dtype=object)}, {})
    with pytest.raises(ValueError):
        load_state(path)


def test_saved_file_has_default_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / STATE_FILE
    save_state(path, {"a": np.arange(3)}, {})
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    assert oct(os.stat(path).st_mode & 0o777) == oct(os.stat(reference).st_mode & 0o777) == oct(0o666 & ~umask)


def test_curriculum_and_sampler_state_survive_the_file(tmp_path):
    # The callback stores the curriculum's arrays and the sampler's stream as arrays, the rest of the sampler in meta.
    config = CurriculumConfig(share_scores="none", samples_per_epoch=40, refresh_every_steps=8, replay_share=0.25)

    def make() -> CurriculumCallback:
        curriculum = Curriculum(config, 6, global_batch=1)
        return CurriculumCallback(curriculum, CurriculumSampler(curriculum, seed=4))

    def observe(callback: CurriculumCallback) -> None:
        rows, loss, conf = np.array([0, 3, 3]), np.array([1.0, 2.0, 4.0]), np.array([0.5, 0.25, 0.75])
        callback.curriculum.observe(rows, loss, conf, step=2)

    reference = make()
    observe(reference)
    expected = list(reference.sampler)
    callback = make()
    observe(callback)
    it = iter(callback.sampler)
    for _ in range(13):
        next(it)
    callback.save(tmp_path)

    fresh = make()
    fresh.load(tmp_path)
    for name, value in callback.curriculum.scores.state_dict().items():
        np.testing.assert_array_equal(getattr(fresh.curriculum.scores, name), value)
    assert fresh.curriculum.scores.num_seen == 2 and fresh.curriculum.step == 2
    np.testing.assert_array_equal(fresh.curriculum.replay.rows(), callback.curriculum.replay.rows())
    assert list(fresh.sampler) == expected


def test_state_of_an_older_format_is_refused(tmp_path):
    # A state written before the resume fingerprint (format 3) cannot be checked against this run's set-up.
    config = CurriculumConfig(share_scores="none")
    curriculum = Curriculum(config, 4, global_batch=1)
    callback = CurriculumCallback(curriculum, CurriculumSampler(curriculum, seed=0))
    arrays, meta = callback.state_dict()
    old = {k: v for k, v in arrays.items() if k != "curriculum.scores.confidence_var"}
    with pytest.raises(ValueError, match="has format 3 but this version reads format 6"):
        callback.load_state_dict(old, {**meta, "format": 3})
    # Format 4 held the score table's last_step and int32 counts and an int64 stream record: refused as well.
    with pytest.raises(ValueError, match="has format 4 but this version reads format 6"):
        callback.load_state_dict(arrays, {**meta, "format": 4})
    # Even a file that claims the current format but lacks the variance is refused, naming what is missing.
    with pytest.raises(ValueError, match=r"lacks \['confidence_var'\]"):
        callback.load_state_dict(old, meta)
