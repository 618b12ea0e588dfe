"""`CurriculumSampler`: a seeded view of a `Curriculum` as the global index stream of each epoch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..core import Curriculum
from .block_schedule import BlockSchedule
from .epoch_record import EpochRecord

__all__ = ["CurriculumSampler"]


class CurriculumSampler(Sampler[int]):
    r"""
    Yields the global stream of row indices of a [`~curriculum.Curriculum`], identical on every process.

    The stream is drawn block by block ([`Curriculum.draw`], `refresh_every_steps` optimizer steps of rows per block)
    from `numpy.random.default_rng([seed, epoch])`, each block from the table as it is at a fixed stream position
    ([`~curriculum.samplers.block_schedule.BlockSchedule`]; during training [`claim`] hands the draws to the
    curriculum's background thread), so the weights never depend on timing. The epoch's drawn stream is recorded:
    iterating again (as the Trainer does when it resumes and skips the batches already trained) replays it, and
    [`state_dict`] carries it with the generator. Iterated without training, each block is drawn when reached.

    Do not shard it: under `accelerate`, every process iterates the full stream and accelerate's
    `BatchSamplerShard` hands process r the batches r, r + W, ...

    Args:
        curriculum ([`~curriculum.Curriculum`]): the curriculum whose stream this is (`len(self)`: its `epoch_length`).
        seed (`int`, *optional*, defaults to `0`): seed of the stream.
        ahead (`int`, *optional*, defaults to `1`): blocks drawn ahead of training, more than the data loader reads
            ahead ([`~curriculum.build_curriculum`] sets it from the `TrainingArguments`).
        wait (`Callable`, *optional*): called before the sampler draws a block itself, to wait for the draws handed
            to a background thread ([`~curriculum.runtime.Runtime.join`]).

    Example:

    ```python
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> from curriculum.samplers import CurriculumSampler
    >>> curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none"), 100, global_batch=10)
    >>> sampler = CurriculumSampler(curriculum, seed=0)
    >>> stream = list(sampler)
    >>> len(stream), stream == list(sampler)
    (100, True)
    ```
    """

    def __init__(
        self, curriculum: Curriculum, seed: int = 0, ahead: int = 1, wait: Callable[[], None] | None = None
    ) -> None:
        for name, value, least in (("seed", seed, 0), ("ahead", ahead, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} should be an integer value of at least {least}, but got {name}={value!r}")
        self.curriculum = curriculum
        self.seed = int(seed)
        self.epoch = 0
        self._wait = wait or (lambda: None)
        self._schedule = BlockSchedule(int(ahead), curriculum)
        self._reset_epoch()

    def __len__(self) -> int:
        return self.curriculum.epoch_length

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`'s stream; a no-op when it is already the current epoch (so a resume keeps it)."""
        if epoch != self.epoch:
            self._wait()
            self.epoch = int(epoch)
            self._reset_epoch()

    @property
    def ahead(self) -> int:
        """Blocks drawn ahead of training."""
        return self._schedule.ahead

    def _reset_epoch(self) -> None:
        c = self.curriculum
        self._record = EpochRecord(len(self), c.num_rows, self.seed, self.epoch, c.config.replacement)
        self._schedule.start(self.epoch)

    def _draw_blocks(self, count: int) -> None:
        record = self._record
        for _ in range(count):
            size = min(self.curriculum.block_size, len(self) - record.size)
            taken = record.taken  # the pass's rows as booleans, updated by the draw
            record.append(*self.curriculum.draw(self.epoch * len(self) + record.size, size, record.rng, taken))
            if taken is not None:
                record.taken = taken

    def claim(self, position: int) -> Callable[[], None] | None:
        """Training has reached stream `position` (its observations handed over): the draw of the blocks of the
        current epoch whose table is the one as of `position` or earlier, to run after those observations (None if
        no block is due; see [`~curriculum.samplers.block_schedule.BlockSchedule`])."""
        due = self._schedule.claim(position)
        return (lambda: self._draw_blocks(due)) if due else None

    def __iter__(self) -> Iterator[int]:
        position = 0
        while position < len(self):
            if position >= self._record.size:
                self._wait()  # the blocks being drawn in the background
            if position >= self._record.size:  # none was due (an epoch's start, no training)
                self._draw_blocks(self._schedule.on_demand(self._record.size))
            block = self._record.stream[position : self._record.size].tolist()
            position = self._record.size
            yield from block

    def trained(self, step: int) -> int:
        """Positions of the current epoch's stream consumed once optimizer step `step` is done."""
        return self.curriculum.position(step) - self.epoch * len(self)

    def step_record(self, step: int, history: int) -> tuple[np.ndarray, np.ndarray] | None:
        """What optimizer step `step` trained on, from the record (None if not drawn): the last `history` positions
        of the stream up to the step's end, and whether each of the step's own positions was a replay (copies)."""
        end = self.trained(step)
        if not 0 < end <= self._record.size:
            return None
        batch = self.curriculum.global_batch
        return self.drawn[max(0, end - history) : end].copy(), self._record.replayed_between(end - batch, end)

    @property
    def drawn(self) -> np.ndarray:
        """The part of the current epoch's stream drawn so far (a read-only view)."""
        return self._record.drawn

    @property
    def replayed(self) -> np.ndarray:
        """Whether each position of `drawn` came from the replay buffer (a read-only view)."""
        return self._record.replayed

    def state_dict(self) -> dict[str, Any]:
        self._wait()
        return {"epoch": self.epoch, "num_samples": len(self), "num_rows": self.curriculum.num_rows,
                "ahead": self.ahead, **self._record.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, mine in (("num_samples", len(self)), ("num_rows", self.curriculum.num_rows)):
            if int(state[key]) != mine:
                raise ValueError(
                    f"the saved sampler has {key}={int(state[key])} but this one has {key}={mine}; "
                    "resume with the same dataset, batch size, number of processes and gradient accumulation"
                )
        saved = int(state.get("ahead", self.ahead))
        if self.ahead > saved:
            raise ValueError(
                f"the saved run drew {saved} block(s) of the stream ahead of training, but this set-up's data loader "
                f"reads {self.ahead} ahead (more dataloader_num_workers, a larger dataloader_prefetch_factor or more "
                "gradient accumulation): the blocks it would read early were drawn from later tables in the saved "
                "run, so the stream could not continue exactly. Resume with the saved run's data loader settings."
            )
        self._wait()
        self._schedule.ahead = saved  # the saved run's (enough for this loader): the same blocks, same tables
        self.epoch = int(state["epoch"])
        self._reset_epoch()
        self._record.load_state_dict(state)
        self._schedule.start(self.epoch, self._record.size)
