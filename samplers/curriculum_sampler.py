"""`CurriculumSampler`: a seeded view of a `Curriculum` as the global index stream of each epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..core import Curriculum

__all__ = ["CurriculumSampler"]


class CurriculumSampler(Sampler[int]):
    r"""
    Yields the global stream of row indices of a [`~curriculum.Curriculum`], identical on every process.

    The stream is drawn block by block ([`Curriculum.draw`], `refresh_every_steps` optimizer steps of rows per
    block) from the generator `numpy.random.default_rng([seed, epoch])`. Block boundaries are fixed stream
    positions, so the draw does not depend on timing. Every drawn index of the epoch is recorded: iterating again
    (as the Trainer does when it resumes and skips the batches already trained) replays the same stream, and
    [`state_dict`] carries the record and the generator, so a resumed run continues exactly.

    Do not shard it: under `accelerate`, every process iterates the full stream and accelerate's
    `BatchSamplerShard` hands process r the batches r, r + W, ...

    Args:
        curriculum ([`~curriculum.Curriculum`]):
            The curriculum whose stream this is; `len(self)` is its `epoch_length`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the stream.

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

    def __init__(self, curriculum: Curriculum, seed: int = 0) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed should be a non-negative integer value, but got seed={seed!r}")
        self.curriculum = curriculum
        self.seed = int(seed)
        self.epoch = 0
        self._reset_epoch()

    def __len__(self) -> int:
        return self.curriculum.epoch_length

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`'s stream; a no-op when it is already the current epoch (so a resume keeps it)."""
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._stream = np.empty(len(self), dtype=np.int64)
        self._replayed = np.zeros(len(self), dtype=bool)
        self._drawn = 0
        self._rng = np.random.default_rng([self.seed, self.epoch])

    def _draw_block(self) -> None:
        start = self._drawn
        stop = min(start + self.curriculum.block_size, len(self))
        rows, replayed = self.curriculum.draw(self.epoch * len(self) + start, stop - start, self._rng)
        self._stream[start:stop] = rows
        self._replayed[start:stop] = replayed
        self._drawn = stop

    def __iter__(self) -> Iterator[int]:
        position = 0
        while position < len(self):
            if position >= self._drawn:
                self._draw_block()
            block = self._stream[position : self._drawn].tolist()
            position = self._drawn
            yield from block

    def trained(self, step: int) -> int:
        """Positions of the current epoch's stream consumed once optimizer step `step` is done."""
        return self.curriculum.position(step) - self.epoch * len(self)

    def consumed(self, step: int) -> slice | None:
        """The positions of the current epoch's stream that optimizer step `step` trained on (None if not drawn)."""
        end = self.trained(step)
        if 0 < end <= self._drawn:
            return slice(end - self.curriculum.global_batch, end)
        return None

    @property
    def drawn(self) -> np.ndarray:
        """The part of the current epoch's stream drawn so far (a read-only view)."""
        view = self._stream[: self._drawn]
        view.flags.writeable = False
        return view

    @property
    def replayed(self) -> np.ndarray:
        """Whether each position of `drawn` came from the replay buffer (a read-only view)."""
        view = self._replayed[: self._drawn]
        view.flags.writeable = False
        return view

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "num_samples": len(self),
            "num_rows": self.curriculum.num_rows,
            "stream": self._stream[: self._drawn].copy(),
            "replayed": self._replayed[: self._drawn].copy(),
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, mine in (("num_samples", len(self)), ("num_rows", self.curriculum.num_rows)):
            if int(state[key]) != mine:
                raise ValueError(
                    f"the saved sampler has {key}={int(state[key])} but this one has {key}={mine}; "
                    "resume with the same dataset, batch size, number of processes and gradient accumulation"
                )
        self.epoch = int(state["epoch"])
        self._reset_epoch()
        stream = np.asarray(state["stream"], dtype=np.int64)
        self._stream[: stream.size] = stream
        self._replayed[: stream.size] = np.asarray(state["replayed"], dtype=bool)
        self._drawn = int(stream.size)
        self._rng.bit_generator.state = state["rng"]
