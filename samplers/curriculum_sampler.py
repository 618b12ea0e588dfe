"""`CurriculumSampler`: a seeded view of a `Curriculum` as the global index stream of each epoch."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..core import Curriculum

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
        curriculum ([`~curriculum.Curriculum`]):
            The curriculum whose stream this is; `len(self)` is its `epoch_length`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the stream.
        ahead (`int`, *optional*, defaults to `1`):
            Blocks drawn ahead of training: more than the data loader reads ahead of the step being trained
            ([`~curriculum.build_curriculum`] sets it from the `TrainingArguments`).
        wait (`Callable`, *optional*):
            Called before the sampler draws a block itself, to wait for the draws handed to a background thread
            ([`~curriculum.runtime.Runtime.join`]).

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
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed should be a non-negative integer value, but got seed={seed!r}")
        if not isinstance(ahead, (int, np.integer)) or isinstance(ahead, bool) or ahead < 1:
            raise ValueError(f"ahead should be a positive integer value, but got ahead={ahead!r}")
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
        # Row indices in 32 bits below 2**31 rows: 4 bytes per sample of the epoch.
        self._stream = np.empty(len(self), dtype=np.int32 if self.curriculum.num_rows <= 2**31 else np.int64)
        self._replayed: np.ndarray | None = None  # allocated at the first replayed position of the epoch
        self._drawn = 0
        self._scheduled = 0  # blocks drawn or being drawn in the background
        self._rng = np.random.default_rng([self.seed, self.epoch])
        # Without replacement: the rows drawn in the current pass (each epoch starts a new one).
        self._taken = None if self.curriculum.config.replacement else np.zeros(self.curriculum.num_rows, dtype=bool)

    def _draw_block(self) -> None:
        start = self._drawn
        stop = min(start + self.curriculum.block_size, len(self))
        rows, replayed = self.curriculum.draw(self.epoch * len(self) + start, stop - start, self._rng, self._taken)
        self._stream[start:stop] = rows
        self._record_replayed(start, replayed)
        self._drawn = stop

    def _record_replayed(self, start: int, replayed: np.ndarray) -> None:
        if self._replayed is None:
            if not replayed.any():
                return
            self._replayed = np.zeros(len(self), dtype=bool)
        self._replayed[start : start + replayed.size] = replayed

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
            if position >= self._drawn:
                self._wait()  # the blocks being drawn in the background
            if position >= self._drawn:
                # None was due: at an epoch's start (or outside training) this block and the next ones from the
                # same table.
                self._check_not_ahead()
                trigger = self._trigger(self._drawn)
                while self._drawn < len(self) and self._trigger(self._drawn) <= trigger:
                    self._draw_block()
                self._scheduled = self._drawn
            block = self._stream[position : self._drawn].tolist()
            position = self._drawn
            yield from block

    def _check_not_ahead(self) -> None:
        """Drawing on demand is timing-free at an epoch's start or outside training; warn when the data loader
        reached a block before training reached the position its table is from."""
        trigger = self._trigger(self._drawn)
        if self._trained >= 0 and trigger > self._trained and self._drawn > 0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"curriculum: the data loader reached stream position {self.epoch * len(self) + self._drawn} while "
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
        if not 0 < end <= self._drawn:
            return None
        return self._stream[max(0, end - history) : end].copy(), self.replayed[end - self.curriculum.global_batch : end].copy()

    @property
    def drawn(self) -> np.ndarray:
        """The part of the current epoch's stream drawn so far (a read-only view)."""
        view = self._stream[: self._drawn]
        view.flags.writeable = False
        return view

    @property
    def replayed(self) -> np.ndarray:
        """Whether each position of `drawn` came from the replay buffer (a read-only view)."""
        if self._replayed is None:  # no replay so far this epoch: a read-only view of one False
            return np.broadcast_to(np.False_, (self._drawn,))
        view = self._replayed[: self._drawn]
        view.flags.writeable = False
        return view

    def state_dict(self) -> dict[str, Any]:
        self._wait()
        return {
            "epoch": self.epoch,
            "num_samples": len(self),
            "num_rows": self.curriculum.num_rows,
            "stream": self._stream[: self._drawn].copy(),
            "replayed": self.replayed.copy(),
            "rng": self._rng.bit_generator.state,
            "ahead": self.ahead,
            **({} if self._taken is None else {"taken": np.packbits(self._taken)}),
        }

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
        stream = np.asarray(state["stream"])
        self._stream[: stream.size] = stream
        self._record_replayed(0, np.asarray(state["replayed"], dtype=bool))
        self._drawn = self._scheduled = int(stream.size)
        self._rng.bit_generator.state = state["rng"]
        if self._taken is not None:
            if "taken" not in state:
                raise ValueError(
                    "the checkpoint's sampler drew with replacement; resume with replacement=true (or start afresh)"
                )
            self._taken[:] = np.unpackbits(np.asarray(state["taken"], dtype=np.uint8), count=len(self._taken)).astype(bool)
