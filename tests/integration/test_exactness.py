"""With learning rate 0, the captured per-row scores equal an independent per-row computation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import make_trainer, reference_row_stats
from curriculum import CurriculumConfig
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm

STEPS, BATCH, ACCUM = 4, 4, 2


@pytest.mark.parametrize(
    "kind, padding_free, workers",
    [("trainer", False, 2), ("sft", False, 2), ("sft", True, 0)],
    ids=["trainer", "sft", "sft-padding-free"],
)
def test_scores_equal_independent_computation(tmp_path, tokenizer, kind, padding_free, workers):
    raw = make_graded_dataset(48, seed=1)
    dataset = tokenize_for_causal_lm(raw, tokenizer) if kind == "trainer" else raw
    trainer, handle = make_trainer(
        kind,
        dataset,
        tokenizer,
        str(tmp_path),
        config=CurriculumConfig(group_column="task", refresh_every_steps=1),
        max_steps=STEPS,
        batch_size=BATCH,
        grad_accum=ACCUM,
        workers=workers,
        padding_free=padding_free,
    )
    trainer.train()
    scores = handle.scores

    assert scores.count.sum() == STEPS * BATCH * ACCUM
    trained = np.flatnonzero(scores.count)
    untrained = np.flatnonzero(scores.count == 0)
    assert untrained.size > 0, "the test should leave some rows untrained"
    assert np.isnan(scores.loss[untrained]).all() and np.isnan(scores.confidence[untrained]).all()

    # The rows trained on are exactly the sampler's stream prefix.
    stream = handle.sampler.drawn[: STEPS * BATCH * ACCUM]
    np.testing.assert_array_equal(np.bincount(stream, minlength=len(scores)), scores.count)

    processed = trainer.train_dataset
    model = trainer.model.eval()
    for i in trained:
        row = processed[int(i)]
        loss, confidence = reference_row_stats(model, row["input_ids"], row["labels"])
        assert scores.loss[i] == pytest.approx(loss, rel=2e-4), f"row {i}"
        assert scores.confidence[i] == pytest.approx(confidence, abs=2e-4), f"row {i}"
