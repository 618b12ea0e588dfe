"""Plugging the curriculum into TRL's `GRPOTrainer`: prompts scored by pass rate, GRPO's stream, rollout replay."""

from __future__ import annotations

import math
from typing import Any

import torch

from . import compat
from .data import INDEX_KEY
from .distributed import rank
from .checks import check_dataset
from .integration import CurriculumTrainerMixin
from .rollout_buffer import pad_rows
from .samplers import RepeatCurriculumSampler

__all__ = ["CurriculumGRPOMixin", "check_grpo_supported", "grpo_stream", "is_grpo"]

# The per-row key that carries each rollout's id in the rollout buffer through GRPO's shuffle and split.
ROLLOUT_KEY = "curriculum_rollout"
# What a generation batch of GRPO may hold for rollout replay to splice replayed groups into it.
_REPLAYABLE_KEYS = {"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages",
                    "num_items_in_batch", "old_per_token_logps", "ref_per_token_logps", ROLLOUT_KEY}


def is_grpo(trainer_or_args: Any) -> bool:
    """Whether `trainer_or_args` is TRL's `GRPOTrainer` (or a subclass) or its `GRPOConfig`."""
    try:
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:  # pragma: no cover - trl is a dependency
        return False
    return isinstance(trainer_or_args, (GRPOTrainer, GRPOConfig))


def grpo_stream(args: Any) -> tuple[int, int | None, int]:
    """GRPO's prompt stream from its `GRPOConfig`: prompts per generation round (`generation_batch_size //
    num_generations`), the run's generation rounds (None when `max_steps` is unset: the epochs decide) and the
    completions per prompt."""
    g = args.num_generations
    every = args.steps_per_generation * args.num_iterations  # micro-steps per generation round
    rounds = math.ceil(args.max_steps * args.gradient_accumulation_steps / every) if args.max_steps > 0 else None
    return args.generation_batch_size // g, rounds, g


def check_grpo_supported(trainer: Any) -> None:
    """Raise a clear error for `GRPOTrainer` set-ups the curriculum cannot serve, saying why."""
    config = trainer._curriculum_handle.config if trainer.__dict__.get("_curriculum_handle") else None
    check_dataset(trainer.train_dataset)
    if config is not None:
        check_grpo_config(trainer, config)


def check_grpo_config(trainer: Any, config: Any) -> None:
    """The checks of [`check_grpo_supported`] that depend on the curriculum's config."""
    args = trainer.args
    if config.signal != "pass_rate":
        raise ValueError(
            f"signal={config.signal!r} reads a supervised answer's loss, which GRPO does not compute: under GRPOTrainer "
            "a prompt is scored by the pass rate of its completions. Use CurriculumConfig(signal='pass_rate')."
        )
    if config.replay_share == 0:
        return
    local = args.per_device_train_batch_size * args.steps_per_generation
    why = None
    if local % args.num_generations:
        why = (f"each process must hold whole groups of completions: per_device_train_batch_size x steps_per_generation "
               f"= {local} is not a multiple of num_generations = {args.num_generations}")
    elif args.use_vllm and getattr(args, "vllm_importance_sampling_correction", False):
        why = "vLLM's importance-sampling correction needs the sampling log-probabilities, which replay does not keep"
    elif getattr(trainer, "tools", None) or getattr(trainer, "environment_factories", None):
        why = "tool calls and environments make completions with tool masks, which replay does not keep"
    elif args.use_liger_kernel:
        why = "use_liger_kernel=True computes GRPO's loss without per-token log-probabilities to keep as the behaviour's"
    if why:
        raise ValueError(f"replay_share={config.replay_share} (rollout replay) is not supported here: {why}. "
                         "Set replay_share=0, or change the setting.")


class CurriculumGRPOMixin(CurriculumTrainerMixin):
    r"""
    [`~curriculum.CurriculumTrainerMixin`] for TRL's `GRPOTrainer` ([`~curriculum.attach`] uses it for a
    `GRPOTrainer`). The prompts are drawn by the curriculum in GRPO's layout
    ([`~curriculum.samplers.RepeatCurriculumSampler`]); after each generation round the rewards GRPO gathered score
    every rolled-out prompt by its pass rate ([`Curriculum.observe_rollouts`]), with no extra generation or
    forward. With `replay_share > 0` a share of each round's groups comes from recent rollouts
    ([`~curriculum.rollout_buffer.RolloutBuffer`]) instead of being generated; their behaviour log-probabilities
    (read from the forward that first trained on them) become `old_per_token_logps`, so GRPO's clipped importance
    ratio corrects for the policy having moved.

    Example:

    ```python
    from trl import GRPOConfig, GRPOTrainer
    from curriculum import CurriculumConfig, attach

    trainer = GRPOTrainer(model=model, reward_funcs=exact_match, args=GRPOConfig(...), train_dataset=prompts)
    handle = attach(trainer, CurriculumConfig(signal="pass_rate", group_column="task"))
    trainer.train()
    ```
    """

    def _install_curriculum(self) -> None:
        if getattr(self, "_curriculum_installed", False):
            return
        check_grpo_supported(self)
        compat.add_signature_column(self, INDEX_KEY)
        self._curriculum_installed = True

    def _loader_batch_size(self) -> int:
        return self._train_batch_size * self.args.steps_per_generation  # GRPO's loader yields generation batches

    def _get_train_sampler(self, train_dataset: Any = None) -> RepeatCurriculumSampler:
        sampler = super()._get_train_sampler(train_dataset)
        args = self.args
        return RepeatCurriculumSampler(sampler, self.num_generations, args.generation_batch_size // self.num_generations,
                                       self.num_iterations * args.steps_per_generation)

    def _curriculum_resume(self, folder: str) -> None:
        callback = self.curriculum_handle.callback
        callback.load(folder)
        callback.load_buffer(folder)
        self._curriculum_step = None  # the curriculum counts generation rounds; the Trainer's own step is right

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call=_internal_call)
        if self._is_checkpoint(output_dir, _internal_call):
            self.curriculum_handle.callback.save_buffer(output_dir)  # every process: each has its own rollouts

    # ------------------------------------------------------------------ a generation round

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        rows = [x[INDEX_KEY] for x in inputs]
        inputs = [{k: v for k, v in x.items() if k != INDEX_KEY} for x in inputs]
        callback = self.curriculum_handle.callback
        buffer, round_, g = callback.buffer, callback.rounds + 1, self.num_generations
        replayed = self._replay_groups(round_, len(inputs) // g) if buffer is not None else 0
        if replayed:
            inputs, rows = inputs[: len(inputs) - replayed * g], rows[: len(rows) - replayed * g]
        self._curriculum_rows = (rows, replayed * g * self.accelerator.num_processes)
        output = super()._generate_and_score_completions(inputs)
        if buffer is not None:
            output[ROLLOUT_KEY] = buffer.admit(round_, output).to(output["advantages"].device)
            if replayed:
                seed = [self.curriculum_handle.sampler.seed, round_, rank()]
                output = self._splice(output, buffer.take(replayed, round_, seed))
        return output

    def _replay_groups(self, round_: int, local_groups: int) -> int:
        """Groups of this round to take from the rollout buffer, the same on every process: the config's share of
        the local groups, at most what every process's buffer can replay, leaving at least one group generated."""
        want = min(round(self.curriculum_handle.config.replay_share * local_groups), local_groups - 1)
        if want <= 0:
            return 0
        ready = torch.tensor([len(self.curriculum_handle.callback.buffer.ready(round_))], device=self.accelerator.device)
        return min(want, int(self.accelerator.gather(ready).min()))

    def _splice(self, fresh: dict[str, Any], replay: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The generated groups of `fresh` followed by the `replay` groups, padded to common widths (prompts on the
        left, completions on the right, as GRPO pads); generated rows get NaN behaviour log-probabilities unless GRPO
        computed them (filled in by the training forward, see [`_get_per_token_logps_and_entropies`])."""
        unsupported = sorted(k for k, v in fresh.items() if v is not None and k not in _REPLAYABLE_KEYS)
        if unsupported:
            raise ValueError(f"rollout replay cannot splice generation batches with {unsupported}; set replay_share=0")
        device = fresh["prompt_ids"].device
        pad = getattr(self.processing_class, "tokenizer", self.processing_class).pad_token_id

        def join(key: str, value: float, left: bool = False, fresh_value: torch.Tensor | None = None) -> torch.Tensor:
            rows = [*(fresh[key] if fresh_value is None else fresh_value), *replay[key].to(device)]
            return pad_rows(list(rows), value, left=left)

        if "ref_per_token_logps" in fresh and "ref_per_token_logps" not in replay:
            raise ValueError("rollout replay: a replayed group has no reference log-probabilities (beta changed?)")
        old = fresh.get("old_per_token_logps")
        if old is None:
            old = torch.full(fresh["completion_ids"].shape, float("nan"), device=device)
        out = {
            "prompt_ids": join("prompt_ids", pad, left=True),
            "prompt_mask": join("prompt_mask", 0, left=True),
            "completion_ids": join("completion_ids", pad),
            "completion_mask": join("completion_mask", 0),
            "advantages": torch.cat([fresh["advantages"], replay["advantages"].to(device)]),
            "old_per_token_logps": join("old_per_token_logps", 0.0, fresh_value=old),
            ROLLOUT_KEY: torch.cat([fresh[ROLLOUT_KEY], torch.full((len(replay["advantages"]),), -1, device=device)]),
        }
        if "ref_per_token_logps" in fresh:
            out["ref_per_token_logps"] = join("ref_per_token_logps", 0.0)
        out["num_items_in_batch"] = self.accelerator.gather(out["completion_mask"].sum()).sum()
        return out

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        pending, self._curriculum_rows = getattr(self, "_curriculum_rows", None), None
        if pending is None or not self.model.training:
            return rewards_per_func
        rows, replayed = pending
        local = torch.tensor(rows, dtype=torch.long, device=rewards_per_func.device)
        every_row = self.accelerator.gather(local).cpu().numpy().reshape(-1, self.num_generations)
        if (every_row != every_row[:, :1]).any():
            raise RuntimeError(
                "curriculum: GRPO's groups of completions do not line up with the prompts drawn (each prompt "
                "num_generations times in a row); was the train sampler replaced?"
            )
        # The reward GRPO normalises: the weighted sum of the reward functions, NaN where every function gave None.
        total = (rewards_per_func * self.reward_weights.to(rewards_per_func.device)).nansum(dim=1)
        total[torch.isnan(rewards_per_func).all(dim=1)] = float("nan")
        self.curriculum_handle.callback.observe_round(every_row[:, 0], total.cpu().numpy(), replayed)
        return rewards_per_func

    # ------------------------------------------------------------------ behaviour log-probabilities for replay

    def _compute_loss(self, model, inputs):
        ids = inputs.pop(ROLLOUT_KEY, None)
        self._curriculum_capture = None if ids is None else (inputs, ids)
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._curriculum_capture = None

    def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any):
        out = super()._get_per_token_logps_and_entropies(*args, **kwargs)
        capture, self._curriculum_capture = getattr(self, "_curriculum_capture", None), None
        if capture is not None:  # the training forward of a micro-batch that rollout replay reads
            inputs, ids = capture
            logps = out[0].detach()
            old = inputs.get("old_per_token_logps")
            if old is not None:  # generated rows: the policy that generated them is the one training on them now
                old.copy_(torch.where(torch.isnan(old), logps, old))  # in place: later iterations reuse the batch
            keep = ids >= 0
            if keep.any():
                self.curriculum_handle.callback.buffer.record_logps(ids[keep].cpu(), logps[keep].cpu())
        return out
