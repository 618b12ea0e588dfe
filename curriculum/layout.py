"""The stream's layout: samples per optimizer step, per block of draws and per epoch, and the budget."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MIN_REFRESH_STEPS", "REFRESHES_PER_EPOCH", "StreamLayout", "default_refresh_steps"]

# With refresh_every_steps unset: a recomputation at least every this many steps, and about this many per epoch.
MIN_REFRESH_STEPS = 10
REFRESHES_PER_EPOCH = 1000


def default_refresh_steps(config: Any, epoch_steps: int) -> int:
    """`config.refresh_every_steps`, or when unset `max(10, epoch_steps // 1000)` (`max(1, ...)` generation rounds
    with `signal="pass_rate"`): a recomputation of the weights costs O(rows), so on large datasets one per
    thousandth of an epoch keeps its cost per step bounded.

    Example:

    ```python
    >>> from curriculum import CurriculumConfig
    >>> default_refresh_steps(CurriculumConfig(), 400), default_refresh_steps(CurriculumConfig(), 390_625)
    (10, 390)
    >>> default_refresh_steps(CurriculumConfig(refresh_every_steps=5), 390_625)
    5
    ```
    """
    if config.refresh_every_steps is not None:
        return config.refresh_every_steps
    # Under GRPO a step is a generation round, far costlier than a recomputation: refresh every round.
    least = 1 if config.signal == "pass_rate" else MIN_REFRESH_STEPS
    return max(least, epoch_steps // REFRESHES_PER_EPOCH)


class StreamLayout:
    """Samples per optimizer step (`global_batch`), per block of the stream drawn at once (`block_size`, one refresh
    of the weights) and per epoch (`epoch_length`), and the `budget` that makes progress 1: `budget_samples`, or the
    dataset's rows with `budget_unit="unique_rows"`, or `max_steps` global batches, or `epochs` epochs."""

    def __init__(self, config: Any, num_rows: int, global_batch: int, max_steps: int | None, epochs: float) -> None:
        if not isinstance(global_batch, int) or isinstance(global_batch, bool) or global_batch <= 0:
            raise ValueError(f"global_batch should be a positive integer value, but got global_batch={global_batch!r}")
        self.global_batch = global_batch
        self.epoch_length = math.ceil((config.samples_per_epoch or num_rows) / global_batch) * global_batch
        self.block_size = default_refresh_steps(config, self.epoch_length // global_batch) * global_batch
        if config.budget_samples is not None:
            self.budget = config.budget_samples
        elif config.budget_unit == "unique_rows":
            self.budget = num_rows
        elif max_steps is not None and max_steps > 0:
            self.budget = max_steps * global_batch
        else:
            self.budget = math.ceil(epochs * self.epoch_length / global_batch) * global_batch

    @property
    def refresh_steps(self) -> int:
        """Optimizer steps per block (`refresh_every_steps` or its default, see [`default_refresh_steps`]; after an
        elastic resume the saved block in this run's steps)."""
        return self.block_size // self.global_batch

    def saved(self) -> list[int]:
        return [self.global_batch, self.block_size, self.epoch_length]

    def continue_saved(self, step: int, global_batch: int, block_size: int, epoch_length: int) -> int:
        """Continue a saved run's stream, at its `step` of `global_batch` samples, with this run's global batch
        (elastic resume): the same blocks and epochs in samples, so the same draws at the same stream positions.
        Returns the step reached in this run's batches. The new global batch must divide the saved block, epoch and
        position."""
        position = step * global_batch
        if (global_batch, block_size, epoch_length) == (self.global_batch, self.block_size, self.epoch_length):
            return step
        uneven = {name: value for name, value in (("block", block_size), ("epoch", epoch_length),
                                                   ("stream position", position)) if value % self.global_batch}
        if uneven:
            fits = [b for b in range(1, block_size + 1)
                    if block_size % b == 0 and epoch_length % b == 0 and position % b == 0]
            raise ValueError(
                f"cannot continue the saved stream with a global batch of {self.global_batch} samples per optimizer "
                f"step: it does not divide the saved run's "
                + ", ".join(f"{name} of {value} samples" for name, value in uneven.items())
                + f" (saved with a global batch of {global_batch}). Use a global batch (per-device batch x processes x "
                f"gradient accumulation) among {fits}."
            )
        self.block_size, self.epoch_length = block_size, epoch_length
        return position // self.global_batch
