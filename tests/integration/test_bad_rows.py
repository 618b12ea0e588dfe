"""Bad rows are contained: missing group labels form one group, non-finite losses are never stored, rows without a
supervised token are never drawn once known (from the `labels` column at attach, else from their first visit)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from datasets import Dataset
from transformers import DataCollatorForSeq2Seq

from conftest import make_trainer
from curriculum import Curriculum, CurriculumConfig, attach
from curriculum.callbacks import CurriculumCallback
from curriculum.columns import supervised_counts
from curriculum.difficulty import encode_groups, group_names
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm
from curriculum.weights import sampling_weights

NOT_DRAWN = "2 of 10 rows have no supervised token (every label is -100); they are never drawn"


@pytest.fixture
def tokenized(tokenizer):
    return tokenize_for_causal_lm(make_graded_dataset(32, seed=3), tokenizer)


def _unsupervise(dataset: Dataset, rows: set[int]) -> Dataset:
    """`dataset` with every label of `rows` set to -100."""
    return dataset.map(
        lambda row, i: {"labels": [-100] * len(row["labels"]) if i in rows else row["labels"]}, with_indices=True
    )


def _record_draws(curriculum: Curriculum) -> list[tuple[np.ndarray, np.ndarray]]:
    """Record each block drawn, with the unscorable rows known when it was drawn."""
    draws: list[tuple[np.ndarray, np.ndarray]] = []
    draw = curriculum.draw

    def recording_draw(position, size, rng, taken=None):
        known = curriculum.unscorable.copy()
        rows, replayed = draw(position, size, rng, taken)
        draws.append((rows.copy(), known))
        return rows, replayed

    curriculum.draw = recording_draw
    return draws


# ---------------------------------------------------------------------------------------------------- missing labels


def test_missing_labels_share_one_code_and_one_name():
    labels = ["a", None, float("nan"), "b", np.nan, np.float32("nan"), "a", None]
    assert encode_groups(labels).tolist() == [0, 1, 1, 2, 1, 1, 0, 1]
    assert group_names(labels) == ["a", "<missing>", "b"]


def test_missing_group_labels_form_one_group_drawn_at_its_natural_share():
    # 3 real tasks and 20% missing labels (None, float NaN, numpy NaN): 4 groups, not one per NaN row.
    n = 500
    missing = [None, float("nan"), np.nan]
    labels = [missing[i % 3] if i % 5 == 4 else "abc"[i % 3] for i in range(n)]
    config = CurriculumConfig(group_column="task", share_scores="none", refresh_every_steps=1)
    curriculum = Curriculum.from_arrays(config, n, groups=labels, global_batch=10)
    assert curriculum.num_groups == 4
    assert curriculum.group_names == ["a", "b", "c", "<missing>"]
    is_missing = np.array([i % 5 == 4 for i in range(n)])
    assert set(curriculum.groups[is_missing].tolist()) == {3}
    # Before any revisit, task shares are the natural ones: 0.2 for the missing-label rows.
    rows, _ = curriculum.draw(0, 20_000, np.random.default_rng(0))
    share = is_missing[rows].mean()
    assert abs(share - 0.2) < 0.015, share  # binomial sd 0.0028
    metrics = curriculum.metrics()
    assert metrics["curriculum/task_share/<missing>"] == pytest.approx(0.2)
    assert sum(metrics[f"curriculum/task_share/{name}"] for name in "abc") == pytest.approx(0.8)


def test_missing_labels_of_a_dataset_column_form_one_group():
    dataset = Dataset.from_dict({"text": [str(i) for i in range(6)], "task": ["x", None, "y", None, "x", None]})
    curriculum = Curriculum.from_dataset(CurriculumConfig(group_column="task"), dataset)
    assert curriculum.groups.tolist() == [0, 1, 2, 1, 0, 1]
    assert curriculum.group_names == ["x", "<missing>", "y"]
    floats = Dataset.from_dict({"text": [str(i) for i in range(4)], "level": [1.0, float("nan"), 2.0, float("nan")]})
    curriculum = Curriculum.from_dataset(CurriculumConfig(group_column="level"), floats)
    assert curriculum.groups.tolist() == [0, 1, 2, 1] and curriculum.group_names == ["1.0", "<missing>", "2.0"]


# ---------------------------------------------------------------------------------------------------- non-finite losses


def test_transient_inf_loss_is_skipped_and_counted(caplog):
    config = CurriculumConfig(share_scores="none", ema=0.25)
    curriculum = Curriculum(config, 4)
    with caplog.at_level(logging.WARNING, logger="curriculum"):
        curriculum.observe(np.array([0, 1]), np.array([np.inf, 3.0]), np.array([0.5, 0.5]), step=1)
        curriculum.observe(np.array([0]), np.array([2.0]), np.array([0.5]), step=2)
        curriculum.observe(np.array([0, 2]), np.array([4.0, np.nan]), np.array([0.25, 0.5]), step=3)
        curriculum.observe(np.array([0, 3]), np.array([1.0, 1.0]), np.array([0.75, np.nan]), step=4)
    table = curriculum.scores
    # EMA of the three finite values only: 2 -> 0.25 * 2 + 0.75 * 4 = 3.5 -> 0.25 * 3.5 + 0.75 * 1 = 1.625.
    assert table.loss[0] == np.float32(1.625) and table.first_loss[0] == np.float32(2.0)
    assert table.confidence[0] == np.float32(0.25 * (0.25 * 0.5 + 0.75 * 0.25) + 0.75 * 0.75)
    assert table.count.tolist() == [3, 1, 0, 0] and table.num_seen == 2
    assert np.isnan(table.loss[2:]).all() and np.isfinite(table.loss[:2]).all()
    assert curriculum.factors["unscorable"].nonfinite_rows == 3  # row 0 at step 1, row 2 (NaN loss), row 3 (NaN confidence)
    assert curriculum.metrics()["curriculum/nonfinite_rows"] == 3
    warnings = [r.getMessage() for r in caplog.records if "non-finite" in r.getMessage()]
    assert len(warnings) == 1  # once
    assert "1 row observation(s) at step 1" in warnings[0] and "fp16" in warnings[0] and "bf16" in warnings[0]


def test_one_nonfinite_row_counts_one():
    curriculum = Curriculum(CurriculumConfig(share_scores="none", ema=0.25), 4)
    curriculum.observe(np.array([0]), np.array([np.inf]), np.array([0.5]), step=1)
    for step, loss in enumerate([2.0, 4.0, 1.0], start=2):
        curriculum.observe(np.array([0]), np.array([loss]), np.array([0.5]), step=step)
    assert curriculum.scores.loss[0] == np.float32(1.625) and curriculum.scores.count[0] == 3
    assert curriculum.metrics()["curriculum/nonfinite_rows"] == 1


def test_nonfinite_losses_stay_out_of_task_progress_and_replay():
    config = CurriculumConfig(
        group_column="task", share_scores="none", refresh_every_steps=1, replay_share=0.5, replay_threshold=0.0
    )
    curriculum = Curriculum.from_arrays(config, 4, groups=["a", "a", "b", "b"], global_batch=2)
    curriculum.observe(np.array([0, 2]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), step=1)
    curriculum.observe(np.array([0, 2, 3]), np.array([np.inf, 0.5, np.nan]), np.array([0.5, 0.5, 0.5]), step=2)
    # First visits: rows 0 and 2 at step 1, row 3's NaN left out; task a's inf revisit is no first visit anyway.
    np.testing.assert_allclose(curriculum.factors["tasks"].progress.slow, [1.0, 1.0])
    assert np.isfinite(curriculum.factors["tasks"].progress.shares()).all()
    assert 3 not in curriculum.replay.rows().tolist()
    assert np.isfinite(curriculum.weights(curriculum.position(2))).all()


def test_nonfinite_count_survives_the_state_dict_and_older_states_read_as_zero():
    curriculum = Curriculum(CurriculumConfig(share_scores="none"), 4)
    curriculum.observe(np.array([0, 1]), np.array([np.inf, 1.0]), np.array([0.5, 0.5]), step=1)
    state = curriculum.state_dict()
    assert state["nonfinite_rows"].dtype == np.int64 and state["nonfinite_rows"].shape == ()
    fresh = Curriculum(CurriculumConfig(share_scores="none"), 4)
    fresh.load_state_dict(state)
    assert fresh.factors["unscorable"].nonfinite_rows == 1
    older = {k: v for k, v in state.items() if k not in ("nonfinite_rows", "unscorable")}
    fresh = Curriculum(CurriculumConfig(share_scores="none"), 4)
    fresh.load_state_dict(older)
    assert fresh.factors["unscorable"].nonfinite_rows == 0 and not fresh.unscorable.any()


# ---------------------------------------------------------------------------------------------------- unscorable rows


def test_sampling_weights_give_ineligible_rows_nothing():
    d = np.linspace(0.0, 1.0, 10)
    eligible = np.arange(10) % 3 != 0  # 6 eligible rows
    w = sampling_weights(d, 0.5, uniform_mix=1.0, eligible=eligible)
    assert w[~eligible].tolist() == [0.0] * 4 and w[eligible] == pytest.approx(np.full(6, 1 / 6), abs=0)
    for kernel in ("laplace", "gaussian"):
        w = sampling_weights(d, 0.0, kernel, width=0.01, uniform_mix=0.2, eligible=eligible)
        assert (w[~eligible] == 0).all() and w.sum() == pytest.approx(1.0)
        assert w[eligible].min() >= 0.2 / 6  # the uniform part is spread over the eligible rows only
    # A group without an eligible row passes its share to the others.
    groups = np.array([0] * 5 + [1] * 5)
    w = sampling_weights(d, 0.5, uniform_mix=0.0, groups=groups, group_shares=np.array([0.5, 0.5]),
                         eligible=groups == 1)
    assert w[:5].tolist() == [0.0] * 5 and w[5:].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no row is eligible"):
        sampling_weights(d, 0.5, eligible=np.zeros(10, dtype=bool))


def test_unscorable_rows_given_at_build_are_never_drawn(caplog):
    mask = np.zeros(10, dtype=bool)
    mask[[0, 1]] = True
    config = CurriculumConfig(share_scores="none", uniform_mix=0.3)
    with caplog.at_level(logging.WARNING, logger="curriculum"):
        curriculum = Curriculum.from_arrays(config, 10, unscorable=mask)
    assert [r.getMessage() for r in caplog.records] == [f"curriculum: {NOT_DRAWN}"]
    weights = curriculum.weights(0)
    assert weights[:2].tolist() == [0.0, 0.0] and weights[2:] == pytest.approx(np.full(8, 1 / 8))
    rows, _ = curriculum.draw(0, 5_000, np.random.default_rng(1))
    assert not np.isin(rows, [0, 1]).any()
    assert curriculum.metrics()["curriculum/unscorable_rows"] == 2


def test_row_without_supervised_token_is_marked_at_its_first_visit():
    config = CurriculumConfig(group_column="task", share_scores="none", refresh_every_steps=1)
    curriculum = Curriculum.from_arrays(config, 6, groups=list("aabbcc"), global_batch=3)
    # Rows 4 and 5 (all of task c) have no supervised token; the capture reports 0 tokens and NaN statistics.
    curriculum.observe(np.array([0, 4, 5, 4]), np.array([1.0, np.nan, np.nan, np.nan]),
                       np.array([0.5, np.nan, np.nan, np.nan]), step=1, tokens=np.array([3, 0, 0, 0]))
    assert curriculum.unscorable.tolist() == [False] * 4 + [True] * 2
    assert curriculum.factors["unscorable"].nonfinite_rows == 0  # a row without tokens is not an overflow
    assert curriculum.scores.count.tolist() == [1, 0, 0, 0, 0, 0]
    weights = curriculum.weights(curriculum.position(1))
    assert weights[4:].tolist() == [0.0, 0.0] and weights.sum() == pytest.approx(1.0)
    assert curriculum.last_refresh["shares"][2] == 0.0  # task c has no row left to draw
    assert curriculum.metrics()["curriculum/unscorable_rows"] == 2
    # The mask is part of the state: a resumed curriculum draws exactly as the original does.
    resumed = Curriculum.from_arrays(config, 6, groups=list("aabbcc"), global_batch=3)
    resumed.load_state_dict(curriculum.state_dict())
    np.testing.assert_array_equal(resumed.weights(resumed.position(1)), curriculum.weights(curriculum.position(1)))
    with pytest.raises(ValueError, match="all 6 training rows have no supervised token"):
        curriculum.observe(np.arange(4), np.full(4, np.nan), np.full(4, np.nan), step=2, tokens=np.zeros(4))


def test_unique_rows_budget_leaves_out_unscorable_rows():
    mask = np.array([True, False, False, False])
    config = CurriculumConfig(share_scores="none", budget_unit="unique_rows")
    curriculum = Curriculum.from_arrays(config, 4, unscorable=mask)
    curriculum.observe(np.array([1, 2, 3]), np.ones(3), np.full(3, 0.5), step=1)
    assert curriculum.progress(0) == 1.0


def test_every_row_unscorable_is_an_error():
    with pytest.raises(ValueError, match="all 3 training rows have no supervised token"):
        Curriculum.from_arrays(CurriculumConfig(share_scores="none"), 3, unscorable=[True, True, True])


def test_supervised_counts_read_arrow_blocks_and_follow_the_index_mapping(monkeypatch):
    import curriculum.columns as columns

    monkeypatch.setattr(columns, "_LABEL_BLOCK", 2)  # several blocks per chunk
    labels = [[-100, 5, 6], [-100, -100], [7], [], None, [-100, 1]]
    dataset = Dataset.from_dict({"labels": labels})
    assert supervised_counts(dataset).tolist() == [2, 0, 1, 0, 0, 1]
    assert supervised_counts(dataset.select([5, 1, 0])).tolist() == [1, 0, 2]
    assert supervised_counts(Dataset.from_dict({"labels": [1, 2]})) is None  # not a list column
    assert supervised_counts(Dataset.from_dict({"text": ["a"]})) is None
    assert supervised_counts([{"labels": [1]}]) is None


def test_unsupervised_rows_of_the_labels_column_are_never_drawn(tmp_path, tokenizer, tokenized, caplog):
    # Half of the rows have no supervised token: found at attach from the labels column, never drawn.
    unsupervised = set(range(1, 32, 2))
    dataset = _unsupervise(tokenized, unsupervised)
    config = CurriculumConfig(refresh_every_steps=1, share_scores="none")
    with caplog.at_level(logging.WARNING, logger="curriculum"):
        trainer, handle = make_trainer("trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=12)
    assert "16 of 32 rows have no supervised token (every label is -100); they are never drawn" in caplog.text
    draws = _record_draws(handle.curriculum)
    trainer.train()
    drawn = np.concatenate([rows for rows, _ in draws])
    assert drawn.size == 12 * 8
    assert np.isin(drawn, sorted(unsupervised)).sum() == 0
    assert handle.scores.count[sorted(unsupervised)].sum() == 0
    assert trainer.state.log_history[0]["curriculum/unscorable_rows"] == 16


def test_unsupervised_rows_found_while_training_are_not_drawn_again(tmp_path, tokenizer, tokenized):
    # No labels column: the collator makes the labels, so rows without a supervised token are found at their
    # first visit (the capture reports 0 tokens) and never drawn after.
    unsupervised = np.arange(32) % 2 == 1
    hidden = _unsupervise(tokenized, set(np.flatnonzero(unsupervised).tolist()))
    hidden = hidden.select_columns(["input_ids", "attention_mask", "labels"]).rename_column("labels", "target")
    seq2seq = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)

    def collate(features):
        return seq2seq([{**{k: v for k, v in f.items() if k != "target"}, "labels": f["target"]} for f in features])

    trainer, _ = make_trainer("trainer", hidden, tokenizer, str(tmp_path), max_steps=12, attach_curriculum=False,
                              remove_unused_columns=False)
    trainer.data_collator = collate
    handle = attach(trainer, CurriculumConfig(refresh_every_steps=1, share_scores="none"))
    assert not handle.curriculum.unscorable.any()
    draws = _record_draws(handle.curriculum)
    trainer.train()
    assert len(draws) == 12  # one block of 8 rows per step
    # Once known, a row is never drawn again; all 16 are found, in the first 8 steps here.
    assert sum(int(known[rows].sum()) for rows, known in draws) == 0
    assert handle.curriculum.unscorable.tolist() == unsupervised.tolist()
    per_block = [int(unsupervised[rows].sum()) for rows, _ in draws]
    assert per_block[8:] == [0, 0, 0, 0]
    assert sum(per_block) / (12 * 8) <= 0.35  # only visits before each row is known (16 of 32 rows)
    assert handle.scores.count[unsupervised].sum() == 0 and handle.curriculum.factors["unscorable"].nonfinite_rows == 0
    assert trainer.state.log_history[-2]["curriculum/unscorable_rows"] == 16


def test_first_rows_unsupervised_are_accepted(tmp_path, tokenizer, tokenized):
    dataset = _unsupervise(tokenized, {0, 1})
    trainer, handle = make_trainer("trainer", dataset, tokenizer, str(tmp_path), max_steps=3)
    assert handle.curriculum.unscorable.tolist() == [True, True] + [False] * 30
    draws = _record_draws(handle.curriculum)
    trainer.train()
    assert trainer.state.global_step == 3
    assert not np.isin(np.concatenate([rows for rows, _ in draws]), [0, 1]).any()
    assert handle.scores.num_seen > 0


def test_every_row_unsupervised_is_an_error_at_attach(tmp_path, tokenizer, tokenized):
    dataset = _unsupervise(tokenized, set(range(32)))
    trainer, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path), attach_curriculum=False)
    with pytest.raises(ValueError, match="all 32 training rows have no supervised token"):
        attach(trainer)


def test_collator_that_builds_its_own_labels_contradicts_the_column(tmp_path, tokenizer, tokenized):
    dataset = _unsupervise(tokenized, {3, 5})
    seq2seq = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)

    def all_tokens(features):
        batch = seq2seq(features)
        batch["labels"] = batch["input_ids"].clone()
        return batch

    trainer, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path), attach_curriculum=False)
    trainer.data_collator = all_tokens
    with pytest.raises(ValueError, match=r"no supervised token in rows \[3, 5\] .* the data collator gives them"):
        attach(trainer)
    assert not any(isinstance(cb, CurriculumCallback) for cb in trainer.callback_handler.callbacks)  # left as it was


# ---------------------------------------------------------------------------------------------------- list datasets


def test_list_dataset_advice_works(tmp_path, tokenizer, tokenized):
    rows = tokenized.to_list()
    trainer, _ = make_trainer("trainer", rows, tokenizer, str(tmp_path), attach_curriculum=False)
    with pytest.raises(ValueError, match=r"list without column names: convert a list of dicts with "
                                         r"`datasets\.Dataset\.from_list\(rows\)`, or set share_scores: none"):
        attach(trainer, CurriculumConfig(share_scores="duplicates"))
    # Both pieces of advice work: share_scores none on the list, or the list converted.
    handle = attach(trainer, CurriculumConfig(share_scores="none"))
    trainer.train()
    assert handle.scores.num_seen > 0
    converted, handle = make_trainer("trainer", Dataset.from_list(rows), tokenizer, str(tmp_path / "b"))
    converted.train()
    assert handle.scores.num_seen > 0
    with pytest.raises(ValueError, match=r"group_column='task' needs a dataset with named columns, got list: "
                                         r"convert a list of dicts with `datasets\.Dataset\.from_list\(rows\)`"):
        Curriculum.from_dataset(CurriculumConfig(group_column="task", share_scores="none"), rows)
