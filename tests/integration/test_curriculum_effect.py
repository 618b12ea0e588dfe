"""The schedule steers training: easy-to-hard moves the draws to hard rows; a constant easy target does not."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from datasets import Dataset

from conftest import make_trainer, record_trained_rows
from curriculum import CurriculumConfig
from curriculum.toy import tokenize_for_causal_lm

STEPS = 48


def _easy_hard_dataset(n: int = 64, seed: int = 0) -> Dataset:
    """Easy rows repeat one letter (learnt within a few steps); hard rows are random letters (never learnt)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i % 2 == 0:
            rows.append({"prompt": "say:", "completion": "a" * 8, "hard": 0})
        else:
            rows.append({"prompt": "say:", "completion": "".join(rng.choices(string.ascii_lowercase, k=8)), "hard": 1})
    return Dataset.from_list(rows)


def _hard_share(config: CurriculumConfig, tokenizer, tmp_path) -> tuple[float, float]:
    raw = _easy_hard_dataset()
    dataset = tokenize_for_causal_lm(raw, tokenizer)
    trainer, handle = make_trainer(
        "trainer",
        dataset,
        tokenizer,
        str(tmp_path),
        config=config,
        max_steps=STEPS,
        learning_rate=3e-3,
        batch_size=8,
        grad_accum=1,
    )
    steps = record_trained_rows(handle)
    trainer.train()
    hard = np.asarray(raw["hard"])
    quarter = STEPS // 4
    first = hard[np.concatenate(steps[:quarter])].mean()
    last = hard[np.concatenate(steps[-quarter:])].mean()
    return float(first), float(last)


def test_linear_easy_to_hard_moves_draws_to_hard_rows(tmp_path, tokenizer):
    config = CurriculumConfig(
        schedule="linear", start=0.0, end=1.0, width=0.1, uniform_mix=0.1, refresh_every_steps=1,
        share_scores="none",  # the 32 easy rows are identical: scored and weighted one by one here
        replacement=True,  # the share of each kind of row drawn, not only their order within a pass
    )
    first, last = _hard_share(config, tokenizer, tmp_path)
    assert last > first + 0.3, (first, last)
    assert last > 0.75, (first, last)


def test_constant_easy_target_keeps_draws_easy(tmp_path, tokenizer):
    config = CurriculumConfig(
        schedule="constant", start=0.0, width=0.1, uniform_mix=0.1, refresh_every_steps=1, share_scores="none",
        replacement=True,
    )
    first, last = _hard_share(config, tokenizer, tmp_path)
    assert last <= first + 0.05, (first, last)
    assert last < 0.3, (first, last)
