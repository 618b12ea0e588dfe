"""`CurriculumSampler`: a seeded view of a `Curriculum` as the global index stream of each epoch."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..core import Curriculum
from .epoch_record import EpochRecord

__all__ = ["CurriculumSampler"]


class CurriculumSampler(Sampler[int]):
    r"""
    Yields the global stream of row indices of a [`~curriculum.Curriculum`], identical on every process.

    The stream is drawn block by block ([`Curriculum.draw`], `refresh_every_steps` optimizer steps of rows per
    block) from the generator `numpy.random.default_rng([seed, epoch])`; without replacement (the default) it keeps
    the rows drawn in the epoch's pass. Block j of an epoch is drawn from the table as it is at a fixed stream
    position: the epoch's start for the first `ahead` blocks, else once the position `(j - ahead) x block` is
    trained on ([`claim`] hands those draws to the curriculum's background thread during training); so the weights
    never depend on timing. Every drawn index of the epoch is recorded: iterating again (as the Trainer does when it
    resumes and skips the batches already trained) replays the same stream, and [`state_dict`] carries the record
    and the generator. Iterated without training, each block is drawn when it is reached.

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
        self.ahead = int(ahead)
        self.epoch = 0
        self._wait = wait or (lambda: None)
        self._trained = -1  # the stream position trained on so far, as told by `claim` (-1: not training)
        self._warned = False
        self._reset_epoch()

    def __len__(self) -> int:
        return self.curriculum.epoch_length

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`'s stream; a no-op when it is already the current epoch (so a resume keeps it)."""
        if epoch != self.epoch:
            self._wait()
            self.epoch = int(epoch)
            self._reset_epoch()

    def _reset_epoch(self) -> None:
        c = self.curriculum
        self._record = EpochRecord(len(self), c.num_rows, self.seed, self.epoch, c.config.replacement)
        self._scheduled = 0  # positions drawn or being drawn in the background

    def _draw_block(self) -> None:
        record = self._record
        size = min(self.curriculum.block_size, len(self) - record.size)
        record.append(*self.curriculum.draw(self.epoch * len(self) + record.size, size, record.rng, record.taken))

    def _trigger(self, start: int) -> int:
        """The stream position whose table draws the block that starts at `start` of the current epoch."""
        return self.epoch * len(self) + max(0, start - self.ahead * self.curriculum.block_size)

    def claim(self, position: int) -> Callable[[], None] | None:
        """Training has reached stream `position` (its observations handed over): the draw of the blocks of the
        current epoch whose table is the one as of `position` or earlier, to run after those observations (None if
        no block is due)."""
        self._trained = position
        due = 0
        while self._scheduled < len(self) and self._trigger(self._scheduled) <= position:
            due += 1
            self._scheduled = min(self._scheduled + self.curriculum.block_size, len(self))
        return (lambda: self._draw_blocks(due)) if due else None

    def _draw_blocks(self, count: int) -> None:
        for _ in range(count):
            self._draw_block()

    def __iter__(self) -> Iterator[int]:
        position = 0
        while position < len(self):
            if position >= self._record.size:
                self._wait()  # the blocks being drawn in the background
            if position >= self._record.size:  # none was due (an epoch's start, no training): this block and the
                self._check_not_ahead()  # next ones from the same table
                trigger = self._trigger(self._record.size)
                while self._record.size < len(self) and self._trigger(self._record.size) <= trigger:
                    self._draw_block()
                self._scheduled = self._record.size
            block = self._record.stream[position : self._record.size].tolist()
            position = self._record.size
            yield from block

    def _check_not_ahead(self) -> None:
        """Drawing on demand is timing-free at an epoch's start or outside training; warn when the data loader
        reached a block before training reached the position its table is from."""
        trigger = self._trigger(self._record.size)
        if self._trained >= 0 and trigger > self._trained and self._record.size > 0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"curriculum: the data loader reached stream position {self.epoch * len(self) + self._record.size} while "
                f"training had reached {self._trained}: the block was drawn from the table as it was then, which "
                "depends on timing (processes may disagree). Raise refresh_every_steps, or lower "
                "dataloader_num_workers x dataloader_prefetch_factor.",
                stacklevel=2,
            )

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
        return self.drawn[max(0, end - history) : end].copy(), self.replayed[end - batch : end].copy()

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
        self._wait()
        self.ahead = int(state.get("ahead", self.ahead))  # the saved run's: the same blocks from the same tables
        self.epoch = int(state["epoch"])
        self._reset_epoch()
        self._record.load_state_dict(state)
        self._scheduled = self._record.size
