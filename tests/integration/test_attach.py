"""`attach` and the mixin: unsupported set-ups are clear errors; the mixin route works without `attach`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments

from conftest import make_trainer
from curriculum import Curriculum, CurriculumConfig, CurriculumTrainerMixin, attach, build_curriculum
from curriculum.data import IndexCollator
from curriculum.toy import make_graded_dataset, make_tiny_model, tokenize_for_causal_lm


@pytest.fixture
def tokenized(tokenizer):
    return tokenize_for_causal_lm(make_graded_dataset(32, seed=3), tokenizer)


def _args(tmp_path, **kwargs) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=2, report_to=[], use_cpu=True, **kwargs
    )


def test_packing_is_rejected(tmp_path, tokenizer):
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir=str(tmp_path), packing=True, max_length=32, max_steps=2, report_to=[], use_cpu=True)
    trainer = SFTTrainer(
        model=make_tiny_model(len(tokenizer)), args=args, train_dataset=make_graded_dataset(16), processing_class=tokenizer
    )
    with pytest.raises(ValueError, match=r"packing=True merges several rows .* Set packing=False"):
        attach(trainer)


def test_dataset_without_labels_is_rejected(tmp_path, tokenizer, tokenized):
    from transformers import DataCollatorWithPadding

    no_labels = tokenized.remove_columns("labels")
    trainer = Trainer(
        model=make_tiny_model(len(tokenizer)),
        args=_args(tmp_path),
        train_dataset=no_labels,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    with pytest.raises(ValueError, match=r"no `labels` \(keys: \['attention_mask', 'input_ids'\]\)"):
        attach(trainer)


def test_all_prompt_rows_are_rejected(tmp_path, tokenizer, tokenized):
    masked = tokenized.map(lambda row: {"labels": [-100] * len(row["labels"])})
    trainer, _ = make_trainer("trainer", masked, tokenizer, str(tmp_path), attach_curriculum=False)
    with pytest.raises(ValueError, match="no supervised token"):
        attach(trainer)


def test_iterable_dataset_is_rejected(tmp_path, tokenizer, tokenized):
    trainer, _ = make_trainer("trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False)
    trainer.train_dataset = tokenized.to_iterable_dataset()
    with pytest.raises(ValueError, match="map-style dataset with a length; got IterableDataset"):
        attach(trainer)


def test_other_sampling_strategy_is_rejected(tmp_path, tokenizer, tokenized):
    trainer, _ = make_trainer(
        "trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False, train_sampling_strategy="sequential"
    )
    with pytest.raises(ValueError, match="train_sampling_strategy='sequential' chooses its own order"):
        attach(trainer)


def test_non_causal_model_is_rejected(tmp_path, tokenized):
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=32))
    trainer = Trainer(model=model, args=_args(tmp_path), train_dataset=tokenized)
    with pytest.raises(ValueError, match="supports causal language models; BertForSequenceClassification"):
        attach(trainer)


@pytest.mark.parametrize(
    "config, match",
    [
        (CurriculumConfig(group_column="domain"), r"group_column='domain' is not a column .* columns are \["),
        (CurriculumConfig(prior_column="nope"), r"prior_column='nope' is not a column"),
        (CurriculumConfig(prior_column="task"), r"prior_column='task' should hold numbers"),
    ],
)
def test_missing_or_bad_columns(tmp_path, tokenizer, tokenized, config, match):
    trainer, _ = make_trainer("trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False)
    with pytest.raises(ValueError, match=match):
        attach(trainer, config)


def test_attach_twice_and_wrong_object(tmp_path, tokenizer, tokenized):
    trainer, _ = make_trainer("trainer", tokenized, tokenizer, str(tmp_path))
    with pytest.raises(ValueError, match="already has a curriculum attached"):
        attach(trainer)
    with pytest.raises(TypeError, match="needs a transformers.Trainer"):
        attach(object())


def test_mixin_without_a_handle_is_a_clear_error(tmp_path, tokenizer, tokenized):
    class MyTrainer(CurriculumTrainerMixin, Trainer):
        pass

    with pytest.raises(TypeError, match=r"needs `curriculum=build_curriculum\(config, train_dataset, args\)`"):
        MyTrainer(model=make_tiny_model(len(tokenizer)), args=_args(tmp_path), train_dataset=tokenized)


def test_collator_that_cannot_batch_is_a_clear_error(tmp_path, tokenizer, tokenized):
    trainer = Trainer(model=make_tiny_model(len(tokenizer)), args=_args(tmp_path), train_dataset=tokenized)
    with pytest.raises(ValueError, match="could not batch the first two training rows .*DataCollatorForSeq2Seq"):
        attach(trainer)


def test_mixin_route_without_attach(tmp_path, tokenizer, tokenized):
    from transformers import DataCollatorForSeq2Seq

    class CurriculumTrainer(CurriculumTrainerMixin, Trainer):
        pass

    args = _args(tmp_path, gradient_accumulation_steps=2, learning_rate=0.0, disable_tqdm=True, logging_steps=1)
    parts = build_curriculum(CurriculumConfig(group_column="task"), tokenized, args)
    trainer = CurriculumTrainer(
        model=make_tiny_model(len(tokenizer)),
        args=args,
        train_dataset=tokenized,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        curriculum=parts,
    )
    trainer.train()
    assert parts.scores.count.sum() == 2 * 4 * 2
    assert np.isfinite(parts.scores.loss[parts.scores.count > 0]).all()
    assert trainer.state.log_history[0]["curriculum/coverage"] > 0
    assert {"curriculum/target", "curriculum/entropy", "curriculum/sampled_difficulty"} <= set(
        trainer.state.log_history[0]
    )
    # The data map's counts are logged too (through report_to), one per category, summing to the rows.
    last = [entry for entry in trainer.state.log_history if "curriculum/map/easy" in entry][-1]
    counts = {k.split("/")[-1]: v for k, v in last.items() if k.startswith("curriculum/map/")}
    assert set(counts) == {"easy", "ambiguous", "hard", "suspected_noise", "duplicate", "never_trained"}
    assert sum(counts.values()) == len(tokenized)
    assert counts["never_trained"] == int((parts.scores.count == 0).sum())  # no score sharing by default: no duplicate


def test_curriculum_built_for_another_global_batch_is_a_clear_error(tmp_path, tokenizer, tokenized):
    from curriculum.callbacks import CurriculumCallback
    from curriculum.integration import CurriculumHandle
    from curriculum.runtime import Runtime
    from curriculum.samplers import CurriculumSampler

    trainer, handle = make_trainer("trainer", tokenized, tokenizer, str(tmp_path))
    other = Curriculum.from_dataset(CurriculumConfig(), tokenized, global_batch=4)
    trainer.callback_handler.remove_callback(handle.callback)
    sampler = CurriculumSampler(other)
    trainer._curriculum_handle = CurriculumHandle(other, sampler, CurriculumCallback(other, sampler), Runtime())
    with pytest.raises(ValueError, match=r"built for a global batch of 4 but the Trainer.s is 8 .* Build it with .build_curriculum"):
        trainer.get_train_dataloader()


def test_index_collator_keeps_rows_and_passes_through():
    collate = IndexCollator(lambda feats: {"x": torch.tensor([f["x"] for f in feats])})
    batch = collate([{"x": 1, "sample_index": 7}, {"x": 2, "sample_index": 3}])
    assert batch["sample_index"].tolist() == [7, 3] and batch["x"].tolist() == [1, 2]
    assert "sample_index" not in collate([{"x": 5}])


@pytest.mark.parametrize("kind", ["trainer", "sft"])
def test_evaluation_during_training_is_not_scored(tmp_path, tokenizer, kind):
    raw = make_graded_dataset(32, seed=4)
    dataset = tokenize_for_causal_lm(raw, tokenizer) if kind == "trainer" else raw
    trainer, handle = make_trainer(
        kind, dataset, tokenizer, str(tmp_path), max_steps=4, eval_strategy="steps", eval_steps=2,
        per_device_eval_batch_size=4, eval_dataset=dataset.select(range(8)),
    )
    trainer.train()
    assert handle.scores.count.sum() == 4 * 4 * 2
    evals = [log for log in trainer.state.log_history if "eval_loss" in log]
    assert len(evals) == 2 and all(np.isfinite(log["eval_loss"]) for log in evals)
    assert not any(key.startswith("curriculum/") for log in evals for key in log)
