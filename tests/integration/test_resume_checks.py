"""Resuming into a changed set-up is refused, naming what changed, unless `resume_allow_changes` lists it."""

from __future__ import annotations

import os

import pytest

from conftest import make_trainer
from curriculum import CurriculumConfig
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm


def _config(**changes):
    return CurriculumConfig(group_column="task", refresh_every_steps=2, **changes)


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tokenizer):
    """A checkpoint at step 2 of a run on 48 rows with a global batch of 8 (4 per device x 2 accumulation)."""
    dataset = tokenize_for_causal_lm(make_graded_dataset(48, seed=2), tokenizer)
    out = str(tmp_path_factory.mktemp("saved") / "run")
    trainer, _ = make_trainer("trainer", dataset, tokenizer, out, config=_config(), max_steps=2, save_steps=2)
    trainer.train()
    return dataset, os.path.join(out, "checkpoint-2")


def _resume(tmp_path, tokenizer, dataset, checkpoint, config, **trainer_args):
    trainer_args = {"max_steps": 2, **trainer_args}
    trainer, handle = make_trainer("trainer", dataset, tokenizer, str(tmp_path / "again"), config=config, **trainer_args)
    handle.callback.load(checkpoint)
    return handle


@pytest.mark.parametrize(
    "change, config, trainer_args, message",
    [
        ("shuffled", _config(), {}, r"the training data \(its rows, their order or their columns\) differs"),
        ("signal", _config(signal="confidence"), {}, r"signal was 'loss' and is now 'confidence'"),
        ("refresh", CurriculumConfig(group_column="task", refresh_every_steps=3), {},
         r"refresh_every_steps was 2 and is now 3"),
        ("seed", _config(seed=7), {}, r"the sampler seed was 0 and is now 7"),
        ("budget", _config(), {"max_steps": 5}, r"the budget was 16 samples and is now 40"),
    ],
)
def test_a_changed_set_up_is_refused_naming_the_change(tmp_path, tokenizer, saved, change, config, trainer_args,
                                                       message):
    dataset, checkpoint = saved
    if change == "shuffled":
        dataset = dataset.shuffle(seed=1)
    with pytest.raises(ValueError, match=message) as err:
        _resume(tmp_path, tokenizer, dataset, checkpoint, config, **trainer_args)
    assert checkpoint in str(err.value) and "resume_allow_changes" in str(err.value)


def test_allowed_changes_resume(tmp_path, tokenizer, saved):
    dataset, checkpoint = saved
    config = _config(width=0.4, seed=7, resume_allow_changes=["width", "seed", "budget"])
    handle = _resume(tmp_path, tokenizer, dataset, checkpoint, config, max_steps=5)
    assert handle.scores.count.sum() == 16  # two steps of 8 rows restored
    with pytest.raises(ValueError, match=r"width was 0.25 and is now 0.4.*resume_allow_changes: \[width\]"):
        _resume(tmp_path, tokenizer, dataset, checkpoint, _config(width=0.4, seed=7, resume_allow_changes=["seed"]),
                max_steps=2)


def test_the_same_set_up_resumes(tmp_path, tokenizer, saved):
    dataset, checkpoint = saved
    handle = _resume(tmp_path, tokenizer, dataset, checkpoint, _config())
    assert handle.scores.count.sum() == 16


def test_another_global_batch_continues_the_saved_stream(tmp_path, tokenizer, saved):
    # Saved: global batch 8, blocks of 16 samples (2 steps), epochs of 48, at stream position 16.
    dataset, checkpoint = saved
    handle = _resume(tmp_path, tokenizer, dataset, checkpoint, _config(), batch_size=2, max_steps=4)
    curriculum = handle.curriculum
    assert (curriculum.global_batch, curriculum.block_size, curriculum.epoch_length) == (4, 16, 48)
    assert curriculum.step == 4 and curriculum.refresh_steps == 4  # position 16 and blocks of 16, in batches of 4
    # The budget is in samples: the same max_steps with another batch is a change, and the error says what keeps it.
    with pytest.raises(ValueError, match=r"budget was 16 samples and is now 8.*max_steps=4 keeps it"):
        _resume(tmp_path, tokenizer, dataset, checkpoint, _config(), batch_size=2, max_steps=2)
    # A global batch that does not divide the saved block, epoch and position is refused, listing those that do.
    with pytest.raises(ValueError, match=r"global batch of 12 .* among \[1, 2, 4, 8, 16\]"):
        _resume(tmp_path, tokenizer, dataset, checkpoint, _config(resume_allow_changes=["budget"]), batch_size=6)


def test_data_fingerprint_reads_any_cell():
    import numpy as np

    from curriculum.resume import data_fingerprint

    rows = [{"ids": np.arange(3), "image": b"\x89PNG", "other": object()}, {"ids": np.arange(2), "image": b"", "other": 1}]
    assert data_fingerprint(rows) == data_fingerprint([dict(r, other=object() if i == 0 else 1) for i, r in enumerate(rows)])
    assert data_fingerprint(rows) != data_fingerprint([dict(rows[0], image=b"GIF"), rows[1]])
