"""`StreamRecorder`: the rows each optimizer step trained on, read from the curriculum sampler's recorded stream."""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import TrainerCallback

from ..samplers import CurriculumSampler

__all__ = ["StreamRecorder"]


class StreamRecorder(TrainerCallback):
    r"""
    Keeps the rows each optimizer step trained on, for reports of what the curriculum drew.

    The sampler records its epoch's global index stream (`sampler.drawn`, with `sampler.replayed` marking replays).
    At each epoch end the recorder keeps the entries of the steps taken ([`CurriculumSampler.trained`]) and drops
    those drawn beyond them (prefetched, not trained).

    Args:
        sampler ([`~curriculum.samplers.CurriculumSampler`]):
            The sampler of the attached curriculum (`handle.sampler`).

    Example:

    ```python
    >>> from curriculum.callbacks import StreamRecorder
    >>> recorder = StreamRecorder(handle.sampler)  # doctest: +SKIP
    >>> trainer.add_callback(recorder); trainer.train()  # doctest: +SKIP
    >>> recorder.rows_per_step().shape  # doctest: +SKIP
    (max_steps, global_batch)
    ```
    """

    def __init__(self, sampler: CurriculumSampler) -> None:
        self.sampler = sampler
        self._rows: list[np.ndarray] = []
        self._replayed: list[np.ndarray] = []

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        taken = max(0, self.sampler.trained(state.global_step))
        self._rows.append(np.array(self.sampler.drawn[:taken]))
        self._replayed.append(np.array(self.sampler.replayed[:taken]))

    @property
    def global_batch(self) -> int:
        return self.sampler.curriculum.global_batch

    def _per_step(self, chunks: list[np.ndarray], dtype: type) -> np.ndarray:
        if not chunks:
            return np.zeros((0, self.global_batch), dtype=dtype)
        return np.concatenate(chunks).reshape(-1, self.global_batch)

    def rows_per_step(self) -> np.ndarray:
        """`(steps, global_batch)` array of trained row indices, step 1 first."""
        return self._per_step(self._rows, np.int64)

    def replayed_per_step(self) -> np.ndarray:
        """`(steps, global_batch)` boolean array: whether each trained row came from the replay buffer."""
        return self._per_step(self._replayed, bool)
