"""`CurriculumCallback`: per-step score updates, schedule, metrics and checkpoints of the curriculum."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..capture import LossCapture
from ..checkpoint import STATE_FILE, load_state, save_state
from ..distributed import check_same_stream, world_size
from ..replay import ReplayPolicy
from ..scores import ScoreTable
from ..samplers import CurriculumSampler

__all__ = ["CurriculumCallback"]


class CurriculumCallback(TrainerCallback):
    r"""
    Runs the curriculum inside a `transformers.Trainer`.

    Each optimizer step it gathers the (row, loss, confidence) triples of every process's micro-batches, folds them
    into the [`~curriculum.ScoreTable`] in rank order (so every process holds the identical table), and accumulates
    metrics. It keeps the sampler's epoch in step (`on_epoch_begin`), adds `curriculum/*` metrics to the Trainer's
    logs (through [`~curriculum.CurriculumTrainerMixin`]), and saves the table and the sampler's stream in
    `checkpoint-N/curriculum_state.npz` (atomically, by the main process).

    It needs the Trainer to route the row indices and to use its sampler: use [`~curriculum.attach`], or a Trainer
    class with [`~curriculum.CurriculumTrainerMixin`] first in its bases.

    Args:
        scores ([`~curriculum.ScoreTable`]):
            The table to update, one entry per training row.
        sampler ([`~curriculum.samplers.CurriculumSampler`]):
            The sampler that draws the training stream from the table.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import CurriculumConfig, ScoreTable
    >>> from curriculum.callbacks import CurriculumCallback
    >>> from curriculum.difficulty import Difficulty
    >>> from curriculum.samplers import CurriculumSampler
    >>> config = CurriculumConfig()
    >>> scores = ScoreTable(100, ema=config.ema)
    >>> difficulty = Difficulty(config.signal)
    >>> sampler = CurriculumSampler(100, lambda: difficulty(scores), config.schedule_fn(), refresh_every=32)
    >>> callback = CurriculumCallback(scores, sampler)  # pass to a Trainer with CurriculumTrainerMixin
    ```
    """

    def __init__(
        self,
        scores: ScoreTable,
        sampler: CurriculumSampler,
        replay: ReplayPolicy | None = None,
        task_names: list[str] | None = None,
    ) -> None:
        if len(scores) != sampler.num_rows:
            raise ValueError(
                f"the score table has {len(scores)} rows but the sampler draws from {sampler.num_rows}; "
                "both should be the training dataset's length"
            )
        if replay is not None and sampler.replay is not replay.buffer:
            raise ValueError("the replay policy should fill the buffer the sampler draws from (sampler.replay)")
        self.scores = scores
        self.sampler = sampler
        self.replay = replay
        self.task_names = task_names
        self.capture = LossCapture()
        self._difficulty_sum = 0.0
        self._difficulty_rows = 0
        self._replayed = 0
        self._consumed = 0
        self._global_step = 0

    # ------------------------------------------------------------------ events

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        # After a resume, `SkipBatchSampler(BatchSamplerShard(...))` never forwards `set_epoch`, so do it here.
        self.sampler.set_epoch(int(state.epoch or 0))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        ids, loss, confidence = self.capture.gather()
        difficulty = self.sampler.last_difficulty
        if difficulty is not None and ids.size:
            self._difficulty_sum += float(difficulty[ids].sum())
            self._difficulty_rows += int(ids.size)
        self.scores.update(ids, loss, confidence, step=state.global_step)
        self._global_step = state.global_step
        if self.replay is not None:
            self.replay.observe(ids, state.global_step, self.sampler.schedule(self._progress()))
        window = self._consumed_window(state.global_step)
        if window is not None:
            self._replayed += int(self.sampler.replayed[window].sum())
            self._consumed += window.stop - window.start
        self._check_stream(state.global_step)

    def _consumed_window(self, step: int) -> slice | None:
        """Positions of the current epoch's stream consumed by optimizer step `step`."""
        sampler = self.sampler
        end = step * sampler.multiple_of - sampler.epoch * len(sampler)
        if 0 < end <= sampler.drawn.size:
            return slice(end - sampler.multiple_of, end)
        return None

    def _progress(self) -> float:
        if self.sampler.progress_fn is not None:
            return self.sampler.progress(0)
        budget = self.sampler.budget or self.sampler.num_samples
        return min(1.0, self._global_step * self.sampler.multiple_of / budget)

    def _check_stream(self, step: int) -> None:
        """At refresh points, compare a digest of the stream consumed since the last one across processes."""
        sampler = self.sampler
        window = sampler.refresh_every
        if world_size() == 1 or step % max(1, window // sampler.multiple_of):
            return
        consumed = self._consumed_window(step)
        if consumed is not None:
            segment = sampler.drawn[max(0, consumed.stop - window) : consumed.stop]
            check_same_stream(segment, where=f"step {step}, epoch {sampler.epoch}")

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        if state.is_world_process_zero and args.should_save:
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            self.save(folder)

    # ------------------------------------------------------------------ metrics

    def metrics(self) -> dict[str, float]:
        """The `curriculum/*` metrics since the previous call (window means) and of the current state."""
        progress = self._progress()
        out = {
            "curriculum/progress": round(progress, 6),
            "curriculum/target": float(self.sampler.schedule(progress)),
            "curriculum/coverage": self.scores.coverage,
            "curriculum/unique_rows": self.scores.num_seen,
        }
        if self.sampler.last_entropy is not None:
            out["curriculum/entropy"] = self.sampler.last_entropy
        if self._difficulty_rows:
            out["curriculum/sampled_difficulty"] = self._difficulty_sum / self._difficulty_rows
        if self.replay is not None:
            out["curriculum/replay_share"] = self._replayed / self._consumed if self._consumed else 0.0
            out["curriculum/replay_buffer"] = len(self.replay.buffer)
        if self.sampler.last_shares is not None and self.task_names is not None:
            for name, share in zip(self.task_names, self.sampler.last_shares):
                out[f"curriculum/task_share/{name}"] = float(share)
        self._difficulty_sum, self._difficulty_rows = 0.0, 0
        self._replayed, self._consumed = 0, 0
        return out

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        sampler_state = self.sampler.state_dict()
        arrays = {f"scores.{k}": v for k, v in self.scores.state_dict().items()}
        for key in ("stream", "replayed"):
            arrays[f"sampler.{key}"] = sampler_state.pop(key)
        if self.replay is not None:
            arrays.update({f"replay.{k}": v for k, v in self.replay.state_dict().items()})
        meta = {"format": 1, "global_step": self._global_step, "sampler": sampler_state}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

        self.scores.load_state_dict(part("scores."))
        self.sampler.load_state_dict({**meta["sampler"], **part("sampler.")})
        if self.replay is not None:
            if "replay.buffer" not in arrays:
                raise ValueError("the checkpoint was saved without replay; resume with replay_share=0")
            self.replay.load_state_dict(part("replay."))
        self._global_step = int(meta["global_step"])

    def save(self, folder: str | os.PathLike) -> None:
        """Write the curriculum's state to `folder/curriculum_state.npz` atomically."""
        arrays, meta = self.state_dict()
        save_state(os.path.join(folder, STATE_FILE), arrays, meta)

    def load(self, folder: str | os.PathLike) -> None:
        """Restore the state written by [`save`] into `folder`."""
        path = os.path.join(folder, STATE_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} does not exist: the checkpoint was not written by a run with the curriculum attached (or "
                "the run stopped while saving it). Resume from a checkpoint that has it, or start a new run."
            )
        self.load_state_dict(*load_state(path))
