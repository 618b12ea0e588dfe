"""`CurriculumSampler`: the global index stream, drawn block by block from live difficulty weights."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ..replay import ReplayBuffer
from .weights import normalized_entropy, sampling_weights

__all__ = ["CurriculumSampler"]


class CurriculumSampler(Sampler[int]):
    r"""
    Yields the global stream of row indices of a curriculum, identical on every process.

    The stream is drawn in blocks of `refresh_every` indices, with replacement. At the start of each block the
    sampler reads every row's difficulty from `difficulty_fn`, the target difficulty `schedule(p)` at progress
    `p = (epoch * len(self) + position) / budget`, and draws the block from
    `(1 - uniform_mix) * kernel(difficulty - target) + uniform_mix / N`. Block boundaries are fixed positions of
    the stream, so the draw does not depend on timing, and the random generator is seeded by `(seed, epoch)`.

    Every drawn index of the current epoch is recorded: iterating again (as the Trainer does when it resumes and
    skips the batches already trained) replays the same stream, and [`state_dict`] carries the record and the
    generator, so a resumed run continues exactly where the interrupted one stopped.

    Do not shard it: under `accelerate`, every process iterates the full stream and accelerate's
    `BatchSamplerShard` hands process r the batches r, r + W, ...

    Args:
        num_rows (`int`):
            Number of rows of the dataset.
        difficulty_fn (`Callable[[], np.ndarray]`):
            Returns the current difficulty of every row, in [0, 1].
        schedule (`Callable[[float], float]`):
            Target difficulty as a function of progress in [0, 1].
        num_samples (`int` or `None`, *optional*):
            Indices per epoch before rounding; defaults to `num_rows`.
        multiple_of (`int`, *optional*, defaults to `1`):
            `len(self)` is `num_samples` rounded up to a multiple of this (per-device batch x processes x
            gradient accumulation under the Trainer).
        budget (`int` or `None`, *optional*):
            Samples that make progress 1; defaults to `len(self)` (one epoch). The Trainer integration sets it from
            `max_steps`.
        refresh_every (`int`, *optional*, defaults to `1024`):
            Block size: indices drawn from one set of weights.
        kernel (`str`, *optional*, defaults to `"laplace"`), width (`float`, *optional*, defaults to `0.15`),
        uniform_mix (`float`, *optional*, defaults to `0.1`):
            See [`~curriculum.samplers.sampling_weights`].
        seed (`int`, *optional*, defaults to `0`):
            Seed; the epoch's generator is `numpy.random.default_rng([seed, epoch])`.
        groups (`np.ndarray`, *optional*), shares_fn (`Callable[[], np.ndarray]`, *optional*):
            Task balance: group code per row, and a function giving each group's share of the kernel mass (see
            [`~curriculum.samplers.task_shares`]).
        replay ([`~curriculum.replay.ReplayBuffer`], *optional*), replay_share (`float`, *optional*, defaults to 0):
            round(replay_share x multiple_of) random slots of every global batch are drawn uniformly from the buffer.
        progress_fn (`Callable[[int], float]`, *optional*):
            Progress at a stream position, replacing samples consumed / budget (e.g. unique rows / budget).
        row_weights (`np.ndarray`, *optional*):
            Multiplies each row's kernel weight (e.g. 1 / copies for duplicates).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.samplers import CurriculumSampler
    >>> difficulty = np.linspace(0, 1, 100)
    >>> sampler = CurriculumSampler(100, lambda: difficulty, lambda p: 0.9, refresh_every=10, seed=0)
    >>> stream = list(sampler)
    >>> len(stream), stream == list(sampler), float(np.mean(difficulty[stream])) > 0.6
    (100, True, True)
    ```
    """

    def __init__(
        self,
        num_rows: int,
        difficulty_fn: Callable[[], np.ndarray],
        schedule: Callable[[float], float],
        num_samples: int | None = None,
        multiple_of: int = 1,
        budget: int | None = None,
        refresh_every: int = 1024,
        kernel: str = "laplace",
        width: float = 0.15,
        uniform_mix: float = 0.1,
        seed: int = 0,
        groups: np.ndarray | None = None,
        shares_fn: Callable[[], np.ndarray] | None = None,
        replay: ReplayBuffer | None = None,
        replay_share: float = 0.0,
        progress_fn: Callable[[int], float] | None = None,
        row_weights: np.ndarray | None = None,
    ) -> None:
        for name, value in (("num_rows", num_rows), ("multiple_of", multiple_of), ("refresh_every", refresh_every)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} should be a positive integer value, but got {name}={value!r}")
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples <= 0):
            raise ValueError(f"num_samples should be a positive integer value, but got num_samples={num_samples!r}")
        if not 0.0 <= replay_share < 1.0:
            raise ValueError(f"replay_share should be in [0, 1), but got replay_share={replay_share!r}")
        if (groups is None) != (shares_fn is None):
            raise ValueError("groups and shares_fn go together: pass both for task balance, or neither")
        self.num_rows = num_rows
        self.difficulty_fn = difficulty_fn
        self.schedule = schedule
        self.multiple_of = multiple_of
        self.num_samples = math.ceil((num_samples or num_rows) / multiple_of) * multiple_of
        self.budget = budget
        self.refresh_every = refresh_every
        self.kernel = kernel
        self.width = width
        self.uniform_mix = uniform_mix
        self.seed = int(seed)
        self.groups = None if groups is None else np.asarray(groups, dtype=np.int64)
        self.shares_fn = shares_fn
        self.replay = replay
        self.replay_share = float(replay_share)
        self.progress_fn = progress_fn
        self.row_weights = None if row_weights is None else np.asarray(row_weights, dtype=np.float64)
        self.epoch = 0
        self._reset_epoch()
        # Diagnostics of the latest refresh (not part of the stream's definition).
        self.last_difficulty: np.ndarray | None = None
        self.last_target: float | None = None
        self.last_entropy: float | None = None
        self.last_shares: np.ndarray | None = None

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`'s stream; a no-op when it is already the current epoch (so a resume keeps it)."""
        if epoch != self.epoch:
            self.epoch = int(epoch)
            self._reset_epoch()

    def _reset_epoch(self) -> None:
        self._stream = np.empty(self.num_samples, dtype=np.int64)
        self._replayed = np.zeros(self.num_samples, dtype=bool)
        self._drawn = 0
        self._rng = np.random.default_rng([self.seed, self.epoch])

    def progress(self, position: int) -> float:
        """Progress in [0, 1] at `position` of the current epoch's stream (samples consumed / budget, unless a
        `progress_fn` was given, such as unique rows trained on / budget)."""
        if self.progress_fn is not None:
            return float(self.progress_fn(position))
        budget = self.budget or self.num_samples
        return min(1.0, (self.epoch * self.num_samples + position) / budget)

    def _draw_block(self) -> None:
        start = self._drawn
        size = min(self.refresh_every, self.num_samples - start)
        difficulty = np.asarray(self.difficulty_fn(), dtype=np.float64)
        if difficulty.shape != (self.num_rows,):
            raise ValueError(f"difficulty_fn should return {self.num_rows} values, but returned {difficulty.shape}")
        target = float(self.schedule(self.progress(start)))
        shares = None if self.shares_fn is None else np.asarray(self.shares_fn(), dtype=np.float64)
        probs = sampling_weights(
            difficulty, target, self.kernel, self.width, self.uniform_mix, self.groups, shares, self.row_weights
        )
        cdf = np.cumsum(probs)
        cdf /= cdf[-1]
        draws = np.minimum(np.searchsorted(cdf, self._rng.random(size), side="right"), self.num_rows - 1)
        replayed = self._replay_slots(size)
        if replayed.any():
            buffer = self.replay.rows()
            draws[replayed] = buffer[self._rng.integers(0, buffer.size, int(replayed.sum()))]
        self._stream[start : start + size] = draws
        self._replayed[start : start + size] = replayed
        self._drawn = start + size
        self.last_difficulty, self.last_target, self.last_entropy = difficulty, target, normalized_entropy(probs)
        self.last_shares = shares

    def _replay_slots(self, size: int) -> np.ndarray:
        """Which positions of a block come from the replay buffer: round(replay_share x batch) random slots of
        every global batch (`multiple_of` positions), none while the buffer is empty."""
        slots = np.zeros(size, dtype=bool)
        per_batch = round(self.replay_share * self.multiple_of)
        if self.replay is None or per_batch == 0 or len(self.replay) == 0:
            return slots
        for batch_start in range(0, size, self.multiple_of):
            chosen = self._rng.choice(self.multiple_of, size=per_batch, replace=False)
            slots[batch_start + chosen[chosen < size - batch_start]] = True
        return slots

    def __iter__(self) -> Iterator[int]:
        position = 0
        while position < self.num_samples:
            if position >= self._drawn:
                self._draw_block()
            block = self._stream[position : self._drawn].tolist()
            position = self._drawn
            yield from block

    @property
    def replayed(self) -> np.ndarray:
        """Whether each position of `drawn` came from the replay buffer (a read-only view)."""
        view = self._replayed[: self._drawn]
        view.flags.writeable = False
        return view

    @property
    def drawn(self) -> np.ndarray:
        """The part of the current epoch's stream drawn so far (a read-only view)."""
        view = self._stream[: self._drawn]
        view.flags.writeable = False
        return view

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "num_samples": self.num_samples,
            "num_rows": self.num_rows,
            "stream": self._stream[: self._drawn].copy(),
            "replayed": self._replayed[: self._drawn].copy(),
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("num_samples", "num_rows"):
            if int(state[key]) != getattr(self, key):
                raise ValueError(
                    f"the saved sampler has {key}={int(state[key])} but this one has {key}={getattr(self, key)}; "
                    "resume with the same dataset, batch size, number of processes and gradient accumulation"
                )
        self.epoch = int(state["epoch"])
        self._reset_epoch()
        stream = np.asarray(state["stream"], dtype=np.int64)
        self._stream[: stream.size] = stream
        if "replayed" in state:
            self._replayed[: stream.size] = np.asarray(state["replayed"], dtype=bool)
        self._drawn = int(stream.size)
        self._rng.bit_generator.state = state["rng"]
