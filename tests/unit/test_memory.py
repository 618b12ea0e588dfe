"""Memory held per row: the arrays the curriculum keeps between refreshes, counted from their dtypes (no timing)."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import TrainerState

from benchmarks.overhead.memory import held_arrays
from benchmarks.overhead.refresh import feed_step, set_state
from curriculum import Curriculum, CurriculumConfig
from curriculum.callbacks import CurriculumCallback
from curriculum.difficulty import narrow_codes
from curriculum.runtime import Runtime
from curriculum.samplers import CurriculumSampler

ROWS, BATCH = 50_000, 64


def trained(
    config: CurriculumConfig, groups: np.ndarray | None, **arrays
) -> tuple[Curriculum, CurriculumSampler, CurriculumCallback]:
    """A curriculum (built with `arrays`, such as `sharing`) 30% trained on, after 2 refresh blocks trained as a
    Trainer does."""
    curriculum = Curriculum(config, ROWS, groups=groups, global_batch=BATCH, **arrays)
    runtime = Runtime()
    sampler = CurriculumSampler(curriculum, seed=0, wait=runtime.join)
    callback = CurriculumCallback(curriculum, sampler, runtime=runtime)
    set_state(curriculum.scores, 0.3)
    stream, rng = iter(sampler), np.random.default_rng(0)

    class Parts:
        pass

    parts = Parts()
    parts.curriculum, parts.sampler, parts.callback, parts.global_batch = curriculum, sampler, callback, BATCH
    for step in range(1, 2 * curriculum.refresh_steps + 1):
        for _ in range(BATCH):
            next(stream)
        feed_step(parts, step, rng)
        callback.on_step_end(None, TrainerState(global_step=step), None)
    runtime.join()
    curriculum.metrics()
    return curriculum, sampler, callback


@pytest.mark.parametrize("grouped", [False, True])
def test_bytes_per_row_held_is_at_most_24(grouped):
    groups = np.random.default_rng(1).integers(0, 8, ROWS) if grouped else None
    config = CurriculumConfig(share_scores="none", group_column="task" if grouped else None, budget_samples=ROWS)
    curriculum, sampler, callback = trained(config, groups)
    # Every array of the dataset's (or the epoch's) length, by its dtype: what grows with the rows.
    per_row = {}
    found = held_arrays(curriculum, sampler, callback)
    assert found  # the walker sees the table
    for path, obj in _arrays(curriculum, sampler):
        if obj.size in (ROWS, len(sampler)):
            per_row[path] = obj.itemsize
    expected = {"loss": 4, "confidence": 4, "first_loss": 4, "confidence_var": 4, "count": 2, "stream": 4}
    if grouped:
        expected["groups"] = 1  # uint8 codes for up to 256 groups
    assert per_row == expected, per_row
    # `taken`: the rows drawn in the current pass (sampling without replacement, the default), one bit each.
    assert sampler._record._taken.nbytes == -(-ROWS // 8)
    assert sum(per_row.values()) + 1 / 8 <= 24
    # The other arrays held are small: the block-sized records, per-group sums.
    assert sum(found.values()) <= (sum(per_row.values()) + 1 / 8) * ROWS + 64 * 1024


def _copies(rows: int, share: float, seed: int = 0) -> np.ndarray:
    """Per row, its first row: a share `share` of the rows are copies of a random earlier row that is no copy."""
    rng = np.random.default_rng(seed)
    is_copy = rng.random(rows) < share
    is_copy[0] = False
    copies, originals = np.flatnonzero(is_copy), np.flatnonzero(~is_copy)
    first = np.arange(rows)
    first[copies] = originals[(rng.random(copies.size) * np.searchsorted(originals, copies)).astype(np.int64)]
    return first


@pytest.mark.parametrize("variant", ["replay", "duplicates", "prompt duplicates"])
def test_replay_and_duplicate_sharing_hold_at_most_24_bytes_per_row(variant):
    from curriculum.sharing import ScoreSharing

    groups = np.random.default_rng(1).integers(0, 8, ROWS)
    overrides = {"replay_share": 0.1, "share_scores": "none"} if variant == "replay" else {}
    config = CurriculumConfig(group_column="task", task_balance=True, budget_samples=ROWS, **overrides)
    arrays = {}
    if variant != "replay":
        arrays["sharing"] = ScoreSharing(_copies(ROWS, 0.01))
        if variant == "prompt duplicates":
            arrays["copies_of"] = _copies(ROWS, 0.02, seed=1)
    curriculum, sampler, callback = trained(config, groups, **arrays)
    del arrays
    if variant == "replay":
        assert len(curriculum.replay) and sampler.replayed.any()  # the replay is live
    else:
        assert curriculum.factors["duplicates"].copies.has_copies
    held = sum(held_arrays(curriculum, sampler, callback).values())
    # The replay sketch is a fixed size (64K points): not part of what grows with the rows.
    sketch = 0 if curriculum.replay is None else sum(
        a.nbytes for a in curriculum.replay._snapshot.state_dict().values())
    assert sketch <= (2**16 + 8 * 2**10) * 24  # at most 64K points plus 1K per group, 24 bytes each
    assert (held - sketch) / ROWS <= 24, held / ROWS


def _arrays(*roots):
    """(attribute name, array) of the NumPy arrays held directly or in dicts by the curriculum's objects."""
    seen, out, stack = set(), [], [(type(r).__name__, r) for r in roots]
    while stack:
        name, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.base is None or not isinstance(obj.base, np.ndarray):
                out.append((name, obj))
            continue
        if isinstance(obj, dict):
            stack.extend((name, v) for v in obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend((name, v) for v in obj)
        elif type(obj).__module__.split(".")[0] in ("curriculum", "samplers", "callbacks"):
            stack.extend(vars(obj).items())
    return out


def test_group_codes_take_the_narrowest_dtype():
    assert narrow_codes(np.array([0, 1, 255])).dtype == np.uint8
    assert narrow_codes(np.array([0, 256])).dtype == np.uint16
    assert narrow_codes(np.array([0, 70_000])).dtype == np.uint32
    assert narrow_codes(np.array([-1, 0])).dtype == np.int64
    np.testing.assert_array_equal(narrow_codes([3, 0, 2]), [3, 0, 2])


def test_stream_record_is_int32_and_replayed_mask_absent_without_replay():
    curriculum = Curriculum(CurriculumConfig(share_scores="none"), 1000, global_batch=10)
    sampler = CurriculumSampler(curriculum, seed=0)
    stream = list(sampler)
    assert sampler.drawn.dtype == np.int32 and sampler._record._replayed is None
    assert not sampler.replayed.any() and sampler.replayed.shape == (1000,)
    state = sampler.state_dict()
    resumed = CurriculumSampler(curriculum, seed=0)
    resumed.load_state_dict(state)
    assert list(resumed) == stream and resumed._record._replayed is None


def _run(background: bool, rows: int = 20_000, steps: int = 50) -> tuple[np.ndarray, dict]:
    groups = np.random.default_rng(1).integers(0, 4, rows)
    config = CurriculumConfig(share_scores="none", group_column="task", replay_share=0.1, refresh_every_steps=5,
                              budget_samples=rows)
    curriculum = Curriculum(config, rows, groups=groups, global_batch=32)
    runtime = Runtime()
    sampler = CurriculumSampler(curriculum, seed=3, ahead=2, wait=runtime.join)
    callback = CurriculumCallback(curriculum, sampler, runtime=runtime)

    class Parts:
        pass

    parts = Parts()
    parts.curriculum, parts.sampler, parts.callback, parts.global_batch = curriculum, sampler, callback, 32
    stream, rng = iter(sampler), np.random.default_rng(0)
    for step in range(1, steps + 1):
        for _ in range(32):
            next(stream)
        feed_step(parts, step, rng)
        callback.on_step_end(None, TrainerState(global_step=step), None)
        if not background:
            runtime.join()  # synchronous: every step's work done before the next batch
    runtime.close()
    return sampler.drawn.copy(), curriculum.state_dict()


def test_background_stream_equals_the_synchronous_one():
    drawn, state = _run(background=True)
    expected, expected_state = _run(background=False)
    np.testing.assert_array_equal(drawn, expected)
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
