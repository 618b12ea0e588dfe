"""Plugging the curriculum into a Trainer: `attach` for an existing instance, `CurriculumTrainerMixin` for classes."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

import datasets
from transformers import Trainer

from . import compat
from .callbacks import CurriculumCallback, RolloutCurriculumCallback
from .checks import _check_unsupervised_rows, _is_trl_sft, _unsupervised_rows, check_supported
from .config import CurriculumConfig
from .core import Curriculum
from .runtime import Runtime
from .data import INDEX_KEY, IndexCollator, IndexedDataset
from .distributed import check_process_count
from .fused_head import FusedHead
from .resume import column_digests, data_fingerprint, newest_complete_checkpoint
from .rollout_buffer import RolloutBuffer
from .samplers import CurriculumSampler
from .scores import ScoreTable

__all__ = ["CurriculumHandle", "CurriculumTrainerMixin", "attach", "build_curriculum"]


@dataclass
class CurriculumHandle:
    """What [`attach`] and [`build_curriculum`] return: the [`Curriculum`], its sampler, its Trainer callback and the
    background [`~curriculum.runtime.Runtime`] they share."""

    curriculum: Curriculum
    sampler: CurriculumSampler
    callback: CurriculumCallback
    runtime: Runtime

    @property
    def config(self) -> CurriculumConfig:
        return self.curriculum.config

    @property
    def scores(self) -> ScoreTable:
        """The live per-row score table (`loss`, `confidence`, `count`, ...)."""
        return self.curriculum.scores

    def data_map(self) -> dict[str, np.ndarray]:
        """The live data map: per row its category (easy, ambiguous, hard, suspected_noise, duplicate, never_trained),
        noise probability, confidence, variability, loss and visits (see [`Curriculum.data_map`])."""
        self.runtime.join()
        return self.curriculum.data_map()


def _global_batch_size(args: Any) -> int:
    """Rows the curriculum draws per step: per optimizer step, per-device batch x devices per process x processes x
    gradient accumulation; under GRPO, per generation round, its prompts (see [`~curriculum.grpo.grpo_stream`])."""
    if _grpo().is_grpo(args):
        return _grpo().grpo_stream(args)[0]
    return args.train_batch_size * args.gradient_accumulation_steps * args.world_size


def _grpo():
    from . import grpo  # it builds on this module

    return grpo


def _blocks_ahead(args: Any, block_size: int, round_rows: int | None = None) -> int:
    """Blocks the sampler draws ahead of training: enough to cover what the data loaders read ahead of the step
    being trained (the Trainer's micro-batches of one optimizer step, accelerate's one batch, the workers'
    prefetch, one more for safety), in samples of all processes. Under GRPO (`round_rows` prompts per generation
    round, each round `steps_per_generation x num_iterations` batches per process) in whole rounds."""
    workers = args.dataloader_num_workers
    prefetch = (args.dataloader_prefetch_factor or 2) * workers if workers > 0 else 0
    if round_rows is None:  # the next step's micro-batches, then accelerate's one, the workers' and one more
        ahead_samples = (args.gradient_accumulation_steps + 2 + prefetch) * args.train_batch_size * args.world_size
    else:
        batches = args.gradient_accumulation_steps + 1 + prefetch
        ahead_samples = (1 + math.ceil(batches / (args.steps_per_generation * args.num_iterations))) * round_rows
    return max(1, math.ceil(ahead_samples / block_size))


def build_curriculum(config: CurriculumConfig, dataset: Any, args: Any) -> CurriculumHandle:
    """Build the [`Curriculum`] of `dataset` for a Trainer with `TrainingArguments` `args` (global batch, budget from
    `max_steps` or the epochs, seed from `data_seed` or `seed` unless the config sets one), its sampler and its
    callback.

    Example:

    ```python
    >>> handle = build_curriculum(CurriculumConfig(group_column="task"), train_dataset, args)  # doctest: +SKIP
    >>> trainer = MyCurriculumTrainer(..., curriculum=handle)  # doctest: +SKIP
    ```
    """
    grpo = _grpo().is_grpo(args)
    # Under GRPO a step is a generation round of `global_batch` prompts, each rolled out `num_generations` times.
    if grpo:
        global_batch, max_steps, generations = _grpo().grpo_stream(args)
    else:
        global_batch, max_steps, generations = _global_batch_size(args), args.max_steps, 1
    curriculum = Curriculum.from_dataset(
        config,
        dataset,
        global_batch=global_batch,
        max_steps=max_steps,
        epochs=args.num_train_epochs,
        unscorable=None if grpo else _unsupervised_rows(dataset),
        num_generations=generations,
    )
    seed = config.seed if config.seed is not None else (args.data_seed if args.data_seed is not None else args.seed)
    runtime = Runtime()
    ahead = _blocks_ahead(args, curriculum.block_size, global_batch if grpo else None)
    sampler = CurriculumSampler(curriculum, seed=seed, ahead=ahead, wait=runtime.join)
    if grpo:
        buffer = None
        if config.replay_share:
            buffer = RolloutBuffer(config.replay_buffer_size, config.replay_max_age, generations)
        callback = RolloutCurriculumCallback(curriculum, sampler, data_fingerprint(dataset), runtime=runtime,
                                             data_columns=column_digests(dataset), buffer=buffer)
    else:
        callback = CurriculumCallback(curriculum, sampler, data_fingerprint(dataset), runtime=runtime,
                                      data_columns=column_digests(dataset))
    return CurriculumHandle(curriculum, sampler, callback, runtime)


class CurriculumTrainerMixin:
    r"""
    Mix into a `transformers.Trainer` (or TRL `SFTTrainer`) class, first in the bases, to train with a curriculum.

    Give it the [`CurriculumHandle`] of [`build_curriculum`] as `curriculum=` (its callback is added to the
    Trainer's). It routes each row's index through the data pipeline (`sample_index`, popped before the model's
    forward), reads per-row statistics from the training forward, trains on the handle's sampler, adds `curriculum/*`
    metrics to the logs, and restores the curriculum's state on `train(resume_from_checkpoint=...)`.

    Example:

    ```python
    from trl import SFTTrainer
    from curriculum import CurriculumConfig, CurriculumTrainerMixin, build_curriculum

    class CurriculumSFTTrainer(CurriculumTrainerMixin, SFTTrainer):
        pass

    handle = build_curriculum(CurriculumConfig(group_column="task"), train_dataset, args)
    trainer = CurriculumSFTTrainer(model=model, args=args, train_dataset=train_dataset, curriculum=handle)
    trainer.train()
    ```
    """

    def __init__(self, *args: Any, curriculum: CurriculumHandle | None = None, **kwargs: Any) -> None:
        if not isinstance(curriculum, CurriculumHandle):
            raise TypeError(
                f"{type(self).__name__} uses CurriculumTrainerMixin and needs `curriculum=build_curriculum(config, "
                f"train_dataset, args)`, got curriculum={curriculum!r}; or build a plain Trainer and use "
                "`curriculum.attach`"
            )
        super().__init__(*args, **kwargs)
        self._curriculum_handle = curriculum
        if curriculum.callback not in self.callback_handler.callbacks:
            self.add_callback(curriculum.callback)

    @property
    def curriculum_handle(self) -> CurriculumHandle:
        """The curriculum, its sampler, callback and runtime."""
        return self._curriculum_handle

    def _install_curriculum(self) -> None:
        if getattr(self, "_curriculum_installed", False):
            return
        capture = self.curriculum_handle.callback.capture
        check_supported(self)
        if not isinstance(self.data_collator, IndexCollator):
            self.data_collator = IndexCollator(self.data_collator)
        compat.add_signature_column(self, INDEX_KEY)
        self.model.register_forward_pre_hook(capture.pre_forward, with_kwargs=True)
        if _is_trl_sft(self):
            # TRL's fused LM head returns `log_probs` and `label_mask`: read them in a forward hook. (Under
            # use_liger_kernel=True TRL keeps this head and applies only Liger's layer kernels.)
            self.model.register_forward_hook(capture.post_forward, with_kwargs=True)
        else:
            if self.args.use_liger_kernel:
                capture.fused_head = FusedHead(self.model)
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
            dataset = compat.remove_unused_columns(self, dataset)
        return compat.train_dataloader(self, IndexedDataset(dataset), self._get_train_sampler,
                                       batch_size=self._loader_batch_size())

    def _loader_batch_size(self) -> int | None:
        """Rows per data-loader batch and process (None: the per-device training batch)."""
        return None

    def _get_train_sampler(self, train_dataset: Any = None) -> CurriculumSampler:
        sampler, curriculum = self.curriculum_handle.sampler, self.curriculum_handle.curriculum
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if curriculum.num_rows != len(dataset):
            raise ValueError(
                f"the curriculum draws from {curriculum.num_rows} rows but the training dataset has "
                f"{len(dataset)}; build the curriculum from the Trainer's own `train_dataset`"
            )
        global_batch = _global_batch_size(self.args)
        if curriculum.global_batch != global_batch:
            raise ValueError(
                f"the curriculum was built for a global batch of {curriculum.global_batch} but the Trainer's is "
                f"{global_batch} (per-device batch x processes x gradient accumulation): accelerate would split its "
                "stream unevenly. Build it with `build_curriculum(config, train_dataset, trainer.args)`."
            )
        return sampler

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        self._install_curriculum()
        if resume_from_checkpoint is True:
            # The newest checkpoint the Trainer and the curriculum both finished writing, on every process.
            resume_from_checkpoint = newest_complete_checkpoint(self.args.output_dir)
        elif resume_from_checkpoint is False:
            resume_from_checkpoint = None
        self._curriculum_step = None
        if resume_from_checkpoint is not None:
            self._curriculum_resume(resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _curriculum_resume(self, folder: str) -> None:
        """Restore the curriculum's state from checkpoint `folder`, before the Trainer restores its own."""
        self.curriculum_handle.callback.load(folder)
        self._curriculum_step = self.curriculum_handle.curriculum.step

    def _load_callback_state(self) -> None:
        super()._load_callback_state()
        # Right after the Trainer read trainer_state.json and before it computes the epochs and batches to skip: with
        # another global batch (elastic resume) the saved stream position is another step count in this run's batches.
        if getattr(self, "_curriculum_step", None) is not None:
            self.state.global_step = self._curriculum_step

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call=_internal_call)
        # The Trainer writes checkpoint-N as: the model (here), the optimizer, trainer_state.json, and only then deletes
        # older checkpoints. Writing the curriculum's state here makes it part of every checkpoint that has a
        # trainer_state.json, so a run killed while saving leaves an older complete checkpoint to resume from. Every
        # process holds the same state: the ones that save (one per node with save_on_each_node) write it.
        if self._is_checkpoint(output_dir, _internal_call) and self.args.should_save:
            self.curriculum_handle.callback.save(output_dir)

    def _is_checkpoint(self, output_dir: str | None, internal: bool) -> bool:
        """Whether `save_model` is writing the checkpoint of the current step (not a user's save)."""
        step = self.state.global_step
        return bool(internal and output_dir and os.path.basename(os.path.normpath(output_dir)) == f"checkpoint-{step}")

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            logs.update(self.curriculum_handle.callback.metrics())
        super().log(logs, *args, **kwargs)


_CLASSES: dict[type, type] = {}


def _curriculum_class(cls: type, mixin: type) -> type:
    if issubclass(cls, CurriculumTrainerMixin):
        return cls
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Curriculum{cls.__name__}", (mixin, cls), {"__module__": __name__})
    return _CLASSES[cls]


def attach(trainer: Trainer, config: CurriculumConfig | None = None) -> CurriculumHandle:
    r"""
    Give an existing `Trainer`, `SFTTrainer` or `GRPOTrainer` an online curriculum; call it before `trainer.train()`.

    The trainer keeps its model, data, collator and arguments. `attach` adds a
    [`~curriculum.callbacks.CurriculumCallback`], makes the instance's class a subclass with
    [`CurriculumTrainerMixin`] (for a `GRPOTrainer`, [`~curriculum.grpo.CurriculumGRPOMixin`], which scores prompts
    by the pass rate of their completions: `signal="pass_rate"`, its default config there), and checks that the
    set-up can be scored per row (packing, iterable datasets, `group_by_length` and data without labels are rejected
    with an explanation).

    Args:
        trainer (`transformers.Trainer`):
            The trainer, with its `train_dataset`.
        config ([`CurriculumConfig`], *optional*):
            The curriculum's settings; defaults to `CurriculumConfig()` (`CurriculumConfig(signal="pass_rate")` for a
            `GRPOTrainer`).

    Returns:
        [`CurriculumHandle`]: `curriculum` (the live [`Curriculum`]), `scores` (its [`ScoreTable`]), `sampler`,
        `callback`, `runtime` and `config`.

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
    if trainer.__dict__.get("_curriculum_handle") is not None:
        raise ValueError("this trainer already has a curriculum attached")
    grpo = _grpo()
    if grpo.is_grpo(trainer):
        config = config if config is not None else CurriculumConfig(signal="pass_rate")
        grpo.check_grpo_supported(trainer)
        grpo.check_grpo_config(trainer, config)
        mixin = grpo.CurriculumGRPOMixin
    else:
        config = config if config is not None else CurriculumConfig()
        check_supported(trainer, config)
        mixin = CurriculumTrainerMixin
    handle = build_curriculum(config, trainer.train_dataset, trainer.args)
    if mixin is CurriculumTrainerMixin:
        _check_unsupervised_rows(trainer, handle.curriculum)
    trainer.add_callback(handle.callback)
    trainer.__class__ = _curriculum_class(type(trainer), mixin)  # its __init__ does not run: the handle is set here
    trainer._curriculum_handle = handle
    trainer._install_curriculum()
    return handle
