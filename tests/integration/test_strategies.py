"""Replay, task balance by inverse confidence, RHO/learnability signals and the unique-rows budget."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from datasets import Dataset

from conftest import make_trainer, record_trained_rows
from curriculum import CurriculumConfig
from curriculum.difficulty import Difficulty, quantile_rank
from curriculum.replay import RankSnapshot, ReplayBuffer
from curriculum.scores import ScoreTable
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm
from curriculum.weights import task_shares

BATCH, ACCUM = 4, 2
GLOBAL = BATCH * ACCUM


def _two_tasks(n: int = 96, seed: int = 0) -> Dataset:
    """Task `easy` repeats one letter (the model becomes confident fast); task `hard` is random letters."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i % 2:
            rows.append({"prompt": "say:", "completion": "".join(rng.choices(string.ascii_lowercase, k=8)), "task": "hard"})
        else:
            rows.append({"prompt": "say:", "completion": "a" * 8, "task": "easy"})
    return Dataset.from_list(rows)


def test_replay_share_and_replayed_rows_come_from_the_buffer_window(tmp_path, tokenizer):
    dataset = tokenize_for_causal_lm(make_graded_dataset(96, seed=6), tokenizer)
    config = CurriculumConfig(
        group_column="task", replay_share=0.25, replay_buffer_size=6, replay_threshold=0.5, refresh_every_steps=1,
        samples_per_epoch=400,
    )
    trainer, handle = make_trainer(
        "trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=40, learning_rate=3e-3,
        batch_size=BATCH, grad_accum=ACCUM,
    )
    steps = record_trained_rows(handle)
    sampler = handle.sampler
    # Buffer contents and rows trained so far at each block draw (one block = one step here), by block position.
    at_draw: dict[int, tuple[set[int], set[int]]] = {}
    curriculum = handle.curriculum
    draw = curriculum.draw

    def recording_draw(position, size, rng, taken=None):
        trained = set(np.concatenate(steps).tolist()) if steps else set()
        at_draw[position // GLOBAL] = (set(curriculum.replay.rows().tolist()), trained)
        return draw(position, size, rng, taken)

    curriculum.draw = recording_draw
    trainer.train()

    replayed = sampler.replayed[: 40 * GLOBAL].reshape(40, GLOBAL)
    per_step = replayed.sum(axis=1)
    # Exactly round(0.25 x 8) = 2 replay slots in every global batch once the buffer holds rows.
    assert per_step[0] == 0
    assert (per_step[per_step > 0] == 2).all() and (per_step > 0).mean() > 0.9
    logged = [e["curriculum/replay_share"] for e in trainer.state.log_history if "curriculum/replay_share" in e]
    assert logged[-1] == pytest.approx(0.25)

    # Each replayed row was in the buffer (at most 6 recent rows) when its block was drawn, and had been trained
    # on before that.
    stream = sampler.drawn[: 40 * GLOBAL].reshape(40, GLOBAL)
    for step in range(40):
        buffer, trained = at_draw[step]
        assert len(buffer) <= 6 and buffer <= trained
        for row in stream[step][replayed[step]]:
            assert row in buffer, (step, row)


def test_task_shares_follow_inverse_confidence(tmp_path, tokenizer):
    raw = _two_tasks()
    dataset = tokenize_for_causal_lm(raw, tokenizer)
    config = CurriculumConfig(
        group_column="task", task_balance=True, task_signal="confidence", task_gamma=2.0, task_min_share=0.05,
        uniform_mix=0.0, replacement=True,
        schedule="constant", start=0.5, refresh_every_steps=1, samples_per_epoch=800,
    )
    trainer, handle = make_trainer(
        "trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=60, learning_rate=3e-3,
        batch_size=BATCH, grad_accum=ACCUM,
    )
    trainer.train()
    scores, sampler, curriculum = handle.scores, handle.sampler, handle.curriculum
    last_shares = curriculum.last_refresh["shares"]  # of the last block drawn
    tasks = np.asarray(raw["task"])

    # The live shares are (1 / c_t)^gamma normalised, floored at task_min_share, by a direct computation.
    conf = np.array([np.nanmean(scores.confidence[tasks == t]) for t in ("easy", "hard")])
    raw_share = conf**-2.0 / (conf**-2.0).sum()
    expected = 0.05 + (1 - 2 * 0.05) * raw_share
    curriculum.weights(0)  # a refresh now: the shares of the live confidences
    np.testing.assert_allclose(curriculum.last_refresh["shares"], expected, rtol=1e-6)
    assert conf[0] > conf[1] and expected[1] > 0.7

    # The draws of the second half follow the shares of their blocks (within sampling error).
    half = sampler.drawn[30 * GLOBAL : 60 * GLOBAL]
    hard_share = (tasks[half] == "hard").mean()
    assert abs(hard_share - last_shares[1]) < 4 * np.sqrt(0.25 / half.size) + 0.05
    assert trainer.state.log_history[-2]["curriculum/task_share/hard"] == pytest.approx(last_shares[1])


def test_task_shares_function():
    conf = np.array([0.9, np.nan, 0.3, 0.3])
    groups = np.array([0, 1, 2, 2])
    shares = task_shares(conf, groups, 3, gamma=1.0, prior=np.array([np.nan, 0.6, np.nan]))
    inv = np.array([1 / 0.9, 1 / 0.6, 1 / 0.3])
    np.testing.assert_allclose(shares, inv / inv.sum())
    # An unseen task without prior takes the mean confidence over trained rows.
    shares = task_shares(conf, groups, 3, gamma=1.0)
    inv = np.array([1 / 0.9, 1 / 0.5, 1 / 0.3])
    np.testing.assert_allclose(shares, inv / inv.sum())
    with pytest.raises(ValueError, match="min_share x tasks should be <= 1"):
        task_shares(conf, groups, 3, min_share=0.5)


def test_task_shares_same_bits_from_float32_and_float64_confidence():
    rng = np.random.default_rng(2)
    conf = rng.random(5000).astype(np.float32)
    conf[rng.random(5000) < 0.6] = np.nan
    groups = rng.integers(0, 5, 5000)
    wide = conf.astype(np.float64)
    seen = np.isfinite(wide)
    counts = np.bincount(groups[seen], minlength=5)
    mean = np.bincount(groups[seen], weights=wide[seen], minlength=5) / counts
    raw = np.clip(mean, 1e-6, 1.0) ** -1.5
    expected = 0.05 + (1.0 - 5 * 0.05) * raw / raw.sum()
    for confidence in (conf, wide):
        np.testing.assert_array_equal(task_shares(confidence, groups, 5, gamma=1.5, min_share=0.05), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grouped", [False, True])
def test_rank_snapshot_is_the_share_of_the_group_below(dtype, grouped):
    rng = np.random.default_rng(6)
    values = rng.integers(0, 20, 3000).astype(dtype)
    values[rng.random(3000) < 0.3] = np.nan
    groups = rng.integers(0, 4, 3000) if grouped else None
    snap = RankSnapshot(values, groups)
    rows = rng.integers(0, 3000, 200)
    observed = rng.integers(-2, 22, 200).astype(dtype)
    peers_of = np.zeros(3000, dtype=np.int64) if groups is None else groups
    expected = []
    for row, value in zip(rows, observed):
        peers = values[(peers_of == peers_of[row]) & np.isfinite(values)]
        expected.append(np.sum(peers < value) / peers.size if peers.size else 0.5)
    np.testing.assert_array_equal(snap.rank(rows, observed), expected)
    assert (snap.groups is None) == (groups is None)  # no per-row array of zeros without groups
    empty = RankSnapshot(np.full(5, np.nan, dtype=dtype), groups[:5] if grouped else None)
    np.testing.assert_array_equal(empty.rank(np.array([0, 1]), np.array([1.0, 2.0])), [0.5, 0.5])


def test_rho_and_learnability_signals():
    table = ScoreTable(4, ema=0.5)
    table.update(np.array([0, 1, 2]), np.array([4.0, 2.0, 3.0]), np.array([0.1, 0.5, 0.2]))
    table.update(np.array([0, 1, 2]), np.array([2.0, 2.0, 1.0]), np.array([0.1, 0.5, 0.2]))
    reference = np.array([2.5, 0.5, 1.0, 0.0])
    rho = Difficulty("rho", reference=reference)(table)
    expected = quantile_rank(np.array([3.0 - 2.5, 2.0 - 0.5, 2.0 - 1.0, np.nan]))
    np.testing.assert_allclose(rho[:3], expected[:3])
    assert rho[3] == 0.5
    learn = Difficulty("learnability")(table)
    np.testing.assert_allclose(learn[:3], quantile_rank(np.array([1.0, 0.0, 1.0])))


def test_replay_buffer_and_snapshot_units():
    buffer = ReplayBuffer(3)
    buffer.admit([1, 2, 3, 1, 4])
    assert buffer.rows().tolist() == [3, 1, 4]
    restored = ReplayBuffer(3)
    restored.load_state_dict(buffer.state_dict())
    assert restored.rows().tolist() == [3, 1, 4]
    snap = RankSnapshot(np.array([1.0, 2.0, 10.0, 20.0, np.nan]), np.array([0, 0, 1, 1, 1]))
    assert snap.rank(np.array([0, 2, 4]), np.array([1.5, 15.0, 30.0])).tolist() == [0.5, 0.5, 1.0]


def test_unique_rows_budget(tmp_path, tokenizer):
    dataset = tokenize_for_causal_lm(make_graded_dataset(64, seed=7), tokenizer)
    config = CurriculumConfig(budget_unit="unique_rows", replay_share=0.5, replay_threshold=0.0, refresh_every_steps=1)
    trainer, handle = make_trainer("trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=6)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "curriculum/progress" in e]
    assert logs[-1]["curriculum/progress"] == pytest.approx(handle.scores.num_seen / 64, abs=1e-6)
    assert logs[-1]["curriculum/unique_rows"] == handle.scores.num_seen < 6 * GLOBAL


def test_duplicates_share_one_score_and_near_duplicates_inherit(tmp_path, tokenizer):
    rows = [{"prompt": f"rev {w}:", "completion": w[::-1], "task": "rev"} for w in ("abcdefgh", "qrstuvwx", "mnopijkl")]
    rows += [dict(rows[0]) for _ in range(5)]  # five more copies of row 0
    rows.append({"prompt": "rev qrstuvwx:", "completion": "xwvutsrq!", "task": "rev"})  # near-duplicate of row 1
    rows += [{"prompt": f"rev {c * 8}:", "completion": c * 8, "task": "rev"} for c in "cdefghij"]
    raw = Dataset.from_list(rows)
    config = CurriculumConfig(share_scores="near_duplicates", near_duplicate_threshold=0.6, group_column="task")
    trainer, handle = make_trainer(
        "trainer", tokenize_for_causal_lm(raw, tokenizer), tokenizer, str(tmp_path), config=config, max_steps=1,
        batch_size=4, grad_accum=1,
    )
    # The content comes from the tokenized rows' input_ids here (prompt/completion were tokenized away).
    curriculum = handle.curriculum
    np.testing.assert_allclose(curriculum.factors["duplicates"].weights[[0, 3, 4, 5, 6, 7]], 1 / 6)
    assert curriculum.factors["duplicates"].weights[1] == 1.0

    table = handle.scores
    table.update(np.array([3, 1]), np.array([2.0, 5.0]), np.array([0.3, 0.1]))
    shared = curriculum.difficulty(table)
    # All six copies of row 0 take the score of the one trained copy (row 3): the same difficulty.
    assert len(set(shared[[0, 3, 4, 5, 6, 7]].tolist())) == 1
    # Row 8, never trained on, is a near-duplicate of row 1 and inherits its (higher) difficulty, not 0.5;
    # an unrelated unseen row stays at the median.
    assert shared[8] == shared[1] > shared[0]
    assert shared[9] == 0.5


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_duplicate_weight_is_copies_to_the_minus_alpha(alpha):
    from curriculum import Curriculum

    texts = ["a", "b", "a", "a", "c", "b", "a"]  # "a": 4 copies, "b": 2, "c": 1
    config = CurriculumConfig(duplicate_alpha=alpha, share_scores="duplicates")
    weights = Curriculum.from_arrays(config, len(texts), texts=texts).factors["duplicates"].weights
    copies = np.array([4, 2, 4, 4, 1, 2, 4], dtype=np.float64)
    np.testing.assert_allclose(weights, copies**-alpha, rtol=1e-15)
    if alpha == 1.0:  # the default: exactly 1 / copies, as before alpha existed
        np.testing.assert_array_equal(weights, 1.0 / copies)
