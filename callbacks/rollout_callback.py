"""`RolloutCurriculumCallback`: the curriculum's callback under TRL's `GRPOTrainer`, scored per generation round."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from transformers import TrainerControl, TrainerState, TrainingArguments

from ..distributed import rank
from ..rollout_buffer import RolloutBuffer
from .curriculum_callback import CurriculumCallback

__all__ = ["RolloutCurriculumCallback"]

BUFFER_FILE = "curriculum_rollouts_rank{rank}.pt"


class RolloutCurriculumCallback(CurriculumCallback):
    r"""
    A [`~curriculum.callbacks.CurriculumCallback`] for `GRPOTrainer`: a step of the curriculum is a generation
    round. [`observe_round`] hands each round's gathered rewards to [`Curriculum.observe_rollouts`] (in the background
    thread, in stream order with the draws) and claims the blocks of the prompt stream it makes due. With rollout
    replay it also owns this process's [`~curriculum.rollout_buffer.RolloutBuffer`], saved beside the curriculum's
    state in every checkpoint (one file per process: each holds its own rollouts).

    The other arguments (`curriculum`, `sampler`, `data_fingerprint`, `runtime`) are those of
    [`~curriculum.callbacks.CurriculumCallback`]; the sampler is the prompt stream's
    [`~curriculum.samplers.CurriculumSampler`].

    Args:
        buffer ([`~curriculum.rollout_buffer.RolloutBuffer`], *optional*): the rollout replay buffer, when
            `replay_share > 0`.

    Example:

    ```python
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> from curriculum.callbacks import RolloutCurriculumCallback
    >>> from curriculum.samplers import CurriculumSampler
    >>> import numpy as np
    >>> curriculum = Curriculum.from_arrays(CurriculumConfig(signal="pass_rate"), 8, global_batch=2, num_generations=2)
    >>> callback = RolloutCurriculumCallback(curriculum, CurriculumSampler(curriculum))
    >>> callback.observe_round(np.array([3, 5]), np.array([1.0, 0.0, 1.0, 1.0]))
    >>> callback.metrics()["curriculum/zero_advantage_share"], callback.rounds
    (0.5, 1)
    ```
    """

    def __init__(self, *args: Any, buffer: RolloutBuffer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer = buffer
        self.rounds = 0

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        """Nothing: a generation round, not an optimizer step, is what [`observe_round`] folds in."""

    def observe_round(self, rows: np.ndarray, rewards: np.ndarray, replayed: int = 0) -> None:
        """Fold in one generation round: every process's prompt rows (one per group, gathered in process order), the
        groups' rewards (`num_generations` per group, in the same order) and the completions replayed instead of
        generated."""
        self.rounds += 1
        self.runtime.submit(self._observe_round, np.asarray(rows), np.asarray(rewards), self.rounds, replayed)
        draw = self.sampler.claim(self.curriculum.position(self.rounds))
        if draw is not None:
            self.runtime.submit(draw)

    def _observe_round(self, rows: np.ndarray, rewards: np.ndarray, step: int, replayed: int) -> None:
        self.curriculum.observe_rollouts(rows, rewards, step=step, replayed=replayed)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], path: str = "the checkpoint") -> None:
        super().load_state_dict(arrays, meta, path)
        self.rounds = self.curriculum.step

    def save_buffer(self, folder: str | os.PathLike) -> None:
        """Write this process's rollout buffer to `folder` atomically (every process calls it)."""
        if self.buffer is None:
            return
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, BUFFER_FILE.format(rank=rank()))
        torch.save(self.buffer.state_dict(), path + ".tmp")
        os.replace(path + ".tmp", path)

    def load_buffer(self, folder: str | os.PathLike) -> None:
        """Restore this process's rollout buffer from `folder`."""
        if self.buffer is None:
            return
        path = os.path.join(folder, BUFFER_FILE.format(rank=rank()))
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} does not exist: the checkpoint was saved without rollout replay, or by fewer processes. "
                "Resume with the run's replay_share and number of processes."
            )
        self.buffer.load_state_dict(torch.load(path, weights_only=False))
