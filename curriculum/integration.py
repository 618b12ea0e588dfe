"""Plugging the curriculum into a Trainer: `attach` for an existing instance, `CurriculumTrainerMixin` for classes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
from transformers import Trainer
from transformers.trainer_utils import get_last_checkpoint

from .callbacks import CurriculumCallback
from .config import CurriculumConfig
from .data import INDEX_KEY, IndexCollator, IndexedDataset
from .difficulty import Difficulty, encode_groups
from .distributed import check_process_count
from .replay import ReplayBuffer, ReplayPolicy
from .samplers import CurriculumSampler, task_shares
from .scores import ScoreTable
from .sharing import build_sharing

__all__ = ["CurriculumHandle", "CurriculumTrainerMixin", "attach", "build_curriculum", "global_batch_size"]


@dataclass
class CurriculumHandle:
    """What [`attach`] returns: the live parts of the curriculum of one Trainer."""

    config: CurriculumConfig
    scores: ScoreTable
    sampler: CurriculumSampler
    callback: CurriculumCallback


def global_batch_size(args: Any) -> int:
    """Samples per optimizer step: per-device batch x processes x gradient accumulation."""
    return args.per_device_train_batch_size * max(1, args.n_gpu) * args.gradient_accumulation_steps * args.world_size


def _column(dataset: Any, name: str, key: str) -> list:
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise ValueError(f"{key}={name!r} needs a `datasets.Dataset` with named columns, got {type(dataset).__name__}")
    if name not in columns:
        raise ValueError(f"{key}={name!r} is not a column of the training dataset; its columns are {columns}")
    return dataset[name]


def _numeric_column(dataset: Any, name: str, key: str) -> np.ndarray:
    values = _column(dataset, name, key)
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={name!r} should hold numbers, got {values[:3]!r}...") from None


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _contents(dataset: Any, column: str | None) -> list[str]:
    """One string per row identifying its content, for score sharing."""
    columns = getattr(dataset, "column_names", None) or []
    if column is not None:
        return [_as_text(v) for v in _column(dataset, column, "content_column")]
    if {"prompt", "completion"} <= set(columns):
        return [_as_text(p) + "\n" + _as_text(c) for p, c in zip(dataset["prompt"], dataset["completion"])]
    for name in ("text", "messages", "input_ids"):
        if name in columns:
            return [_as_text(v) for v in dataset[name]]
    raise ValueError(
        f"share_scores needs the rows' content: set content_column to one of the dataset's columns {columns}"
    )


def build_curriculum(config: CurriculumConfig, dataset: Any, args: Any) -> CurriculumHandle:
    """Build the score table, difficulty, sampler and callback for `dataset` under `TrainingArguments` `args`."""
    num_rows = len(dataset)
    groups, task_names = None, None
    if config.group_column:
        labels = _column(dataset, config.group_column, "group_column")
        groups, task_names = encode_groups(labels), [str(name) for name in dict.fromkeys(labels)]
    prior = _numeric_column(dataset, config.prior_column, "prior_column") if config.prior_column else None
    reference = _numeric_column(dataset, config.reference_column, "reference_column") if config.reference_column else None
    scores = ScoreTable(num_rows, ema=config.ema)
    sharing, row_weights = None, None
    if config.share_scores != "none":
        texts = _contents(dataset, config.content_column)
        sharing = build_sharing(
            texts, near_duplicates=config.share_scores == "near_duplicates", threshold=config.near_duplicate_threshold
        )
        copies = np.bincount(sharing.canonical, minlength=num_rows)[sharing.canonical]
        row_weights = 1.0 / copies
    difficulty = Difficulty(config.signal, groups=groups, prior=prior, reference=reference, sharing=sharing)
    global_batch = global_batch_size(args)
    refresh_steps = config.refresh_every_steps

    shares_fn = None
    if config.task_balance:
        num_tasks = len(task_names)
        if config.task_min_share * num_tasks > 1.0:
            raise ValueError(
                f"task_min_share={config.task_min_share} times {num_tasks} tasks exceeds 1; use at most "
                f"{1.0 / num_tasks:.4f}"
            )
        task_prior = None
        if config.confidence_prior_column:
            offline = _numeric_column(dataset, config.confidence_prior_column, "confidence_prior_column")
            task_prior = np.bincount(groups, weights=offline, minlength=num_tasks) / np.bincount(groups, minlength=num_tasks)

        def shares_fn() -> np.ndarray:
            return task_shares(
                scores.confidence, groups, num_tasks, config.task_gamma, config.task_min_share, task_prior
            )

    buffer, policy = None, None
    if config.replay_share > 0:
        buffer = ReplayBuffer(config.replay_buffer_size)
        if config.replay_value == "near_target":
            value_fn = lambda rows: difficulty.values(scores, rows)  # noqa: E731
        else:
            value_fn = lambda rows: scores.signal(config.replay_value, rows)  # noqa: E731
        policy = ReplayPolicy(
            buffer, value_fn, groups, config.replay_threshold, config.replay_value == "near_target", refresh_steps
        )

    progress_fn = None
    if config.budget_unit == "unique_rows":
        unique_budget = config.budget_samples or num_rows

        def progress_fn(position: int) -> float:
            return min(1.0, scores.num_seen / unique_budget)

    seed = config.seed if config.seed is not None else (args.data_seed if args.data_seed is not None else args.seed)
    sampler = CurriculumSampler(
        num_rows,
        difficulty_fn=lambda: difficulty(scores),
        schedule=config.schedule_fn(),
        num_samples=config.samples_per_epoch,
        multiple_of=global_batch,
        budget=config.budget_samples,
        refresh_every=refresh_steps * global_batch,
        kernel=config.kernel,
        width=config.width,
        uniform_mix=config.uniform_mix,
        seed=seed,
        groups=groups if shares_fn is not None else None,
        shares_fn=shares_fn,
        replay=buffer,
        replay_share=config.replay_share,
        progress_fn=progress_fn,
        row_weights=row_weights,
    )
    callback = CurriculumCallback(scores, sampler, replay=policy, task_names=task_names)
    return CurriculumHandle(config, scores, sampler, callback)


def _is_trl_sft(trainer: Any) -> bool:
    try:
        from trl import SFTTrainer
    except ImportError:  # pragma: no cover - trl is a dependency
        return False
    return isinstance(trainer, SFTTrainer)


def check_supported(trainer: Any) -> None:
    """Raise a clear error for training set-ups whose batches cannot be mapped back to dataset rows."""
    args = trainer.args
    dataset = trainer.train_dataset
    if dataset is None:
        raise ValueError("the curriculum needs a `train_dataset` on the Trainer")
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
        raise ValueError(
            f"the curriculum samples rows by index, so it needs a map-style dataset with a length; got "
            f"{type(dataset).__name__}. Load the data as a `datasets.Dataset` (not streaming)."
        )
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
    if not _is_trl_sft(trainer) and not getattr(trainer, "_loss_shifts_labels", False):
        raise ValueError(
            f"the curriculum supports causal language models; {type(trainer.model).__name__} does not use a "
            "causal-LM loss (labels shifted by one)"
        )
    if len(dataset) == 0:
        raise ValueError("the training dataset is empty")
    _check_labels(trainer)


def _check_labels(trainer: Any) -> None:
    dataset = trainer.train_dataset
    features = [dataset[i] for i in range(min(2, len(dataset)))]
    if not all(isinstance(f, dict) for f in features):
        raise ValueError(f"the curriculum needs dataset rows that are dicts, got {type(features[0]).__name__}")
    collate = trainer._get_collator_with_removed_columns(trainer.data_collator, description="training")
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
    if not (batch["labels"] != -100).any():
        raise ValueError("the first training rows have no supervised token (every label is -100)")


class CurriculumTrainerMixin:
    r"""
    Mix into a `transformers.Trainer` (or TRL `SFTTrainer`) class, first in the bases, to train with a curriculum.

    It needs a [`~curriculum.callbacks.CurriculumCallback`] among the Trainer's callbacks. It routes each row's
    index through the data pipeline (`sample_index`, popped before the model's forward), reads per-row statistics
    from the training forward, trains on the callback's sampler, adds `curriculum/*` metrics to the logs, and
    restores the curriculum's state on `train(resume_from_checkpoint=...)`.

    Example:

    ```python
    from trl import SFTTrainer
    from curriculum import CurriculumConfig, CurriculumTrainerMixin, build_curriculum

    class CurriculumSFTTrainer(CurriculumTrainerMixin, SFTTrainer):
        pass

    parts = build_curriculum(CurriculumConfig(group_column="task"), train_dataset, args)
    trainer = CurriculumSFTTrainer(model=model, args=args, train_dataset=train_dataset, callbacks=[parts.callback])
    trainer.train()
    ```
    """

    @property
    def curriculum_callback(self) -> CurriculumCallback:
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, CurriculumCallback):
                return callback
        raise ValueError(
            f"{type(self).__name__} uses CurriculumTrainerMixin but has no CurriculumCallback: pass "
            "`callbacks=[build_curriculum(config, train_dataset, args).callback]`, or use `curriculum.attach`"
        )

    def _install_curriculum(self) -> None:
        if getattr(self, "_curriculum_installed", False):
            return
        capture = self.curriculum_callback.capture
        check_supported(self)
        if not isinstance(self.data_collator, IndexCollator):
            self.data_collator = IndexCollator(self.data_collator)
        self._set_signature_columns_if_needed()
        if INDEX_KEY not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, INDEX_KEY]
        self.model.register_forward_pre_hook(capture.pre_forward, with_kwargs=True)
        if _is_trl_sft(self):
            # TRL's fused LM head returns `log_probs` and `label_mask`: read them in a forward hook.
            self.model.register_forward_hook(capture.post_forward, with_kwargs=True)
        else:
            user_loss = self.compute_loss_func
            if user_loss is None and self.label_smoother is not None:
                smoother = self.label_smoother

                def user_loss(outputs, labels, num_items_in_batch=None):
                    return smoother(outputs, labels, shift_labels=True, num_items_in_batch=num_items_in_batch)

            self.compute_loss_func = capture.loss_function(
                user_loss, ga_steps=lambda: getattr(self, "current_gradient_accumulation_steps", 1)
            )
        self._curriculum_installed = True

    def get_train_dataloader(self):
        self._install_curriculum()
        check_process_count(self.accelerator.num_processes)
        dataset = self.train_dataset
        if isinstance(dataset, datasets.Dataset):
            # Drop unused (often long text) columns before rows are fetched, as the Trainer does for its own path.
            dataset = self._remove_unused_columns(dataset, description="Training")
        return self._get_dataloader(
            dataset=IndexedDataset(dataset),
            description="Training",
            batch_size=self._train_batch_size,
            sampler_fn=self._get_train_sampler,
            is_training=True,
        )

    def _get_train_sampler(self, train_dataset: Any = None) -> CurriculumSampler:
        sampler = self.curriculum_callback.sampler
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if sampler.num_rows != len(dataset):
            raise ValueError(
                f"the curriculum sampler draws from {sampler.num_rows} rows but the training dataset has "
                f"{len(dataset)}; build the curriculum from the Trainer's own `train_dataset`"
            )
        global_batch = self._train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
        if len(sampler) % global_batch:
            raise ValueError(
                f"the sampler's length {len(sampler)} is not a multiple of the global batch {global_batch} "
                "(per-device batch x processes x gradient accumulation): accelerate would wrap around and repeat "
                f"rows. Build it with multiple_of={global_batch}."
            )
        sampler.multiple_of = global_batch
        if sampler.budget is None:
            if self.args.max_steps > 0:
                sampler.budget = self.args.max_steps * global_batch
            else:
                steps = math.ceil(self.args.num_train_epochs * len(sampler) / global_batch)
                sampler.budget = steps * global_batch
        return sampler

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        self._install_curriculum()
        if isinstance(resume_from_checkpoint, bool):
            if resume_from_checkpoint:
                resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
                if resume_from_checkpoint is None:
                    raise ValueError(f"No valid checkpoint found in output directory ({self.args.output_dir})")
            else:
                resume_from_checkpoint = None
        if resume_from_checkpoint is not None:
            self.curriculum_callback.load(resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            logs.update(self.curriculum_callback.metrics())
        super().log(logs, *args, **kwargs)


_CLASSES: dict[type, type] = {}


def _curriculum_class(cls: type) -> type:
    if issubclass(cls, CurriculumTrainerMixin):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Curriculum{cls.__name__}", (CurriculumTrainerMixin, cls), {"__module__": __name__})
    return _CLASSES[cls]


def attach(trainer: Trainer, config: CurriculumConfig | None = None) -> CurriculumHandle:
    r"""
    Give an existing `Trainer` or `SFTTrainer` an online curriculum; call it before `trainer.train()`.

    The trainer keeps its model, data, collator and arguments. `attach` adds a
    [`~curriculum.callbacks.CurriculumCallback`], makes the instance's class a subclass with
    [`CurriculumTrainerMixin`], and checks that the set-up can be scored per row (packing, iterable datasets,
    `group_by_length` and data without labels are rejected with an explanation).

    Args:
        trainer (`transformers.Trainer`):
            The trainer, with its `train_dataset`.
        config ([`CurriculumConfig`], *optional*):
            The curriculum's settings; defaults to `CurriculumConfig()`.

    Returns:
        [`CurriculumHandle`]: `scores` (the live [`ScoreTable`]), `sampler`, `callback` and `config`.

    Example:

    ```python
    from curriculum import CurriculumConfig, attach

    handle = attach(trainer, CurriculumConfig.from_yaml("curriculum.yaml"))
    trainer.train()
    print(handle.scores.loss[:10], handle.scores.count.sum())
    ```
    """
    if not isinstance(trainer, Trainer):
        raise TypeError(f"attach() needs a transformers.Trainer (or a subclass), got {type(trainer).__name__}")
    if any(isinstance(cb, CurriculumCallback) for cb in trainer.callback_handler.callbacks):
        raise ValueError("this trainer already has a curriculum attached")
    config = config if config is not None else CurriculumConfig()
    check_supported(trainer)
    handle = build_curriculum(config, trainer.train_dataset, trainer.args)
    trainer.add_callback(handle.callback)
    trainer.__class__ = _curriculum_class(type(trainer))
    trainer._install_curriculum()
    return handle
