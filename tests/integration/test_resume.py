"""A run stopped at a checkpoint and resumed ends exactly like an uninterrupted run."""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import StopAt, make_trainer, record_trained_rows
from curriculum import CurriculumConfig
from curriculum.checkpoint import STATE_FILE
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm

MAX_STEPS, SAVE_STEPS = 10, 4


def _config() -> CurriculumConfig:
    # 48 rows and a global batch of 8: an epoch is 6 steps, so the resumed runs cross an epoch boundary.
    return CurriculumConfig(group_column="task", refresh_every_steps=1, start=0.0, end=1.0, width=0.1)


def _run(kind, dataset, tokenizer, out, resume=None, stop_at=None, workers=0, config=None):
    trainer, handle = make_trainer(
        kind,
        dataset,
        tokenizer,
        out,
        config=config or _config(),
        max_steps=MAX_STEPS,
        learning_rate=3e-3,
        save_steps=SAVE_STEPS,
        workers=workers,
        callbacks=[StopAt(stop_at)] if stop_at else [],
    )
    rows = record_trained_rows(handle)
    trainer.train(resume_from_checkpoint=resume)
    return handle, rows


STRATEGIES = CurriculumConfig(
    group_column="task", refresh_every_steps=3, start=0.0, end=1.0, width=0.1, replay_share=0.25,
    replay_buffer_size=8, replay_value="loss", replay_threshold=0.5, task_balance=True, task_gamma=1.5,
    task_min_share=0.1, budget_unit="unique_rows",
)


# The state added for noise and learning progress: the task progress accumulators, the confidence variance.
NOISE_AND_PROGRESS = CurriculumConfig(
    group_column="task", refresh_every_steps=2, start=0.0, end=1.0, width=0.1, task_balance=True,
    task_signal="progress", noise_filter="mixture", noise_min_visits=1,
)


# Sampling without replacement with replay: the pass's drawn rows are part of the state.
WITHOUT_REPLACEMENT = CurriculumConfig(
    group_column="task", refresh_every_steps=2, start=0.0, end=1.0, width=0.1, replacement=False, replay_share=0.25,
    replay_buffer_size=8, replay_threshold=0.5,
)


@pytest.mark.parametrize(
    "kind, workers, config",
    [("trainer", 2, None), ("sft", 0, None), ("trainer", 0, STRATEGIES), ("sft", 0, NOISE_AND_PROGRESS),
     ("trainer", 0, WITHOUT_REPLACEMENT)],
    ids=["trainer", "sft", "replay-and-task-balance", "noise-and-progress", "without-replacement"],
)
def test_resume_matches_uninterrupted_run(tmp_path, tokenizer, kind, workers, config):
    raw = make_graded_dataset(48, seed=2)
    dataset = tokenize_for_causal_lm(raw, tokenizer) if kind == "trainer" else raw

    full, full_rows = _run(kind, dataset, tokenizer, str(tmp_path / "full"), workers=workers, config=config)
    assert len(full_rows) == MAX_STEPS

    interrupted_dir = str(tmp_path / "interrupted")
    first, first_rows = _run(
        kind, dataset, tokenizer, interrupted_dir, stop_at=SAVE_STEPS + 1, workers=workers, config=config
    )
    checkpoint = os.path.join(interrupted_dir, f"checkpoint-{SAVE_STEPS}")
    assert os.path.exists(os.path.join(checkpoint, STATE_FILE))
    for a, b in zip(first_rows, full_rows):
        np.testing.assert_array_equal(a, b)

    resumed, resumed_rows = _run(
        kind, dataset, tokenizer, interrupted_dir, resume=checkpoint, workers=workers, config=config
    )
    assert len(resumed_rows) == MAX_STEPS - SAVE_STEPS
    for step, (a, b) in enumerate(zip(resumed_rows, full_rows[SAVE_STEPS:]), start=SAVE_STEPS + 1):
        np.testing.assert_array_equal(a, b, err_msg=f"rows of step {step} differ")
    for name in ("loss", "confidence", "confidence_var", "count", "first_loss"):
        np.testing.assert_array_equal(getattr(resumed.scores, name), getattr(full.scores, name), err_msg=name)
    np.testing.assert_array_equal(resumed.sampler.drawn, full.sampler.drawn)
    np.testing.assert_array_equal(resumed.sampler.replayed, full.sampler.replayed)
    if config is STRATEGIES:
        assert full.sampler.replayed.any() and full.curriculum.last_refresh["shares"] is not None
        np.testing.assert_array_equal(resumed.curriculum.replay.rows(), full.curriculum.replay.rows())
    if config is NOISE_AND_PROGRESS:
        assert full.curriculum.factors["tasks"].progress.known.any()
        for key, value in full.curriculum.factors["tasks"].progress.state_dict().items():
            np.testing.assert_array_equal(resumed.curriculum.factors["tasks"].progress.state_dict()[key], value, err_msg=key)

    # The schedule moved during the run, so the weights changed between refreshes.
    assert full.curriculum.last_refresh["target"] > 0.5


def test_resume_true_uses_last_checkpoint(tmp_path, tokenizer):
    dataset = tokenize_for_causal_lm(make_graded_dataset(48, seed=2), tokenizer)
    out = str(tmp_path / "run")
    full, full_rows = _run("trainer", dataset, tokenizer, str(tmp_path / "full"))
    _run("trainer", dataset, tokenizer, out, stop_at=SAVE_STEPS + 1)
    resumed, resumed_rows = _run("trainer", dataset, tokenizer, out, resume=True)
    np.testing.assert_array_equal(resumed.scores.loss, full.scores.loss)
    assert [r.tolist() for r in resumed_rows] == [r.tolist() for r in full_rows[SAVE_STEPS:]]


def test_resume_without_curriculum_state_is_a_clear_error(tmp_path, tokenizer):
    dataset = tokenize_for_causal_lm(make_graded_dataset(48, seed=2), tokenizer)
    out = str(tmp_path / "run")
    _run("trainer", dataset, tokenizer, out, stop_at=SAVE_STEPS + 1)
    os.remove(os.path.join(out, f"checkpoint-{SAVE_STEPS}", STATE_FILE))
    with pytest.raises(FileNotFoundError, match="curriculum_state.npz does not exist"):
        _run("trainer", dataset, tokenizer, out, resume=os.path.join(out, f"checkpoint-{SAVE_STEPS}"))
