"""Checks that a Trainer's set-up can be scored per row, each failing with an error that says how to fix it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import columns, compat
from .config import CurriculumConfig
from .core import Curriculum
from .fused_head import FusedHead

__all__ = ["check_dataset", "check_supported"]


def _unsupervised_rows(dataset: Any) -> np.ndarray | None:
    """Rows whose `labels` column (of a `datasets.Dataset`) has no entry other than -100: they can never be scored,
    so the curriculum never draws them. `None` without such a column (rows are then found while training)."""
    counts = columns.supervised_counts(dataset, "labels")
    return None if counts is None else counts == 0


def _is_trl_sft(trainer: Any) -> bool:
    try:
        from trl import SFTTrainer
    except ImportError:  # pragma: no cover - trl is a dependency
        return False
    return isinstance(trainer, SFTTrainer)


def check_supported(trainer: Any, config: CurriculumConfig | None = None) -> None:
    """Raise a clear error for training set-ups whose batches cannot be mapped back to dataset rows (or that the
    curriculum's `config`, by default the attached one's, cannot serve)."""
    args = trainer.args
    dataset = trainer.train_dataset
    check_dataset(dataset)
    handle = trainer.__dict__.get("_curriculum_handle")
    config = config if config is not None else None if handle is None else handle.config
    if config is not None and config.signal == "pass_rate":
        raise ValueError(
            "signal='pass_rate' scores prompts by the rewards of their completions, which only TRL's GRPOTrainer "
            f"computes; {type(trainer).__name__} trains on supervised answers: use signal='loss' (the default)"
        )
    if getattr(args, "use_liger_kernel", False) and not _is_trl_sft(trainer):
        _check_fused_head(trainer)
    if getattr(args, "packing", False):
        raise ValueError(
            "packing=True merges several rows into one training sequence, so per-row scores cannot be kept. "
            "Set packing=False; padding_free=True keeps most of packing's speed and is supported."
        )
    strategy = getattr(args, "train_sampling_strategy", "random")
    if getattr(args, "group_by_length", False) or strategy != "random":
        raise ValueError(
            f"train_sampling_strategy={strategy!r} chooses its own order of rows, which the curriculum replaces; "
            "leave it at 'random' (the default)"
        )
    if not _is_trl_sft(trainer) and not compat.loss_shifts_labels(trainer):
        raise ValueError(
            f"the curriculum supports causal language models; {type(trainer.model).__name__} does not use a "
            "causal-LM loss (labels shifted by one)"
        )
    _check_labels(trainer)


def check_dataset(dataset: Any) -> None:
    """Raise a clear error unless `dataset` is a non-empty map-style dataset (rows are drawn by index)."""
    if dataset is None:
        raise ValueError("the curriculum needs a `train_dataset` on the Trainer")
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError(
            f"the curriculum samples rows by index, so it needs a map-style dataset with a length; got "
            f"{type(dataset).__name__}. Load the data as a `datasets.Dataset` (not streaming)."
        )
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")


def _check_fused_head(trainer: Any) -> None:
    """Under `use_liger_kernel=True` a `Trainer`'s forward computes no logits: the curriculum stops the forward before
    the LM head and computes the per-token losses with the head fused into the loss (see [`FusedHead`]). Raise a
    clear error where that cannot be done."""
    advice = "Set use_liger_kernel=False to train with the curriculum, or use TRL's SFTTrainer (its fused LM head)."
    if trainer.compute_loss_func is not None or trainer.label_smoother is not None:
        raise ValueError(
            "use_liger_kernel=True with a custom `compute_loss_func` or label smoothing: both need the logits, which "
            f"Liger's fused head never computes, so the curriculum cannot capture per-row losses. {advice}"
        )
    if trainer.is_fsdp_enabled or getattr(trainer.accelerator.state, "deepspeed_plugin", None) is not None and (
        trainer.accelerator.state.deepspeed_plugin.zero_stage == 3
    ):
        raise ValueError(
            "use_liger_kernel=True under FSDP or DeepSpeed ZeRO-3 (the LM head's weight is sharded outside its own "
            f"forward): the curriculum's per-row capture under Liger is supported without parameter sharding. {advice}"
        )
    try:
        FusedHead.parts(trainer.model)
    except ValueError as err:
        raise ValueError(f"use_liger_kernel=True: the curriculum cannot fuse this model's LM head: {err}. {advice}")


def _check_labels(trainer: Any) -> None:
    dataset = trainer.train_dataset
    features = [dataset[i] for i in range(min(2, len(dataset)))]
    if not all(isinstance(f, dict) for f in features):
        raise ValueError(f"the curriculum needs dataset rows that are dicts, got {type(features[0]).__name__}")
    collate = compat.training_collator(trainer)
    try:
        batch = collate(features)
    except Exception as err:
        raise ValueError(
            f"the Trainer's data collator could not batch the first two training rows ({type(err).__name__}: {err}); "
            "pass a collator that pads, such as `DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)`"
        ) from err
    if "labels" not in batch:
        raise ValueError(
            f"the training batches have no `labels` (keys: {sorted(batch)}), so there is no per-row loss to score. "
            "Tokenize the data with `labels` (-100 where no loss is taken) or use a collator that adds them, such "
            "as `DataCollatorForLanguageModeling(tokenizer, mlm=False)`."
        )
    handle = trainer.__dict__.get("_curriculum_handle")
    if handle is not None:  # the mixin route: the curriculum was built before the trainer
        _check_unsupervised_rows(trainer, handle.curriculum)


def _check_unsupervised_rows(trainer: Any, curriculum: Curriculum) -> None:
    """The rows that the `labels` column says have no supervised token are never drawn: check on two of them that
    the collator keeps them so (a collator that builds its own labels would make the column meaningless)."""
    if not curriculum.unscorable.any():
        return
    rows = np.flatnonzero(curriculum.unscorable)[:2].tolist()
    batch = compat.training_collator(trainer)([trainer.train_dataset[i] for i in rows])
    if (batch["labels"] != -100).any():
        raise ValueError(
            f"the `labels` column of the training dataset has no supervised token in rows {rows} (every label is "
            "-100), so the curriculum would never draw them, but the data collator gives them supervised labels: it "
            "builds its own. Remove the column (`dataset.remove_columns('labels')`), or use a collator that keeps it "
            "(such as `DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)`)."
        )
