"""`EpochRecord`: one epoch's drawn stream, its replay flags, the pass's drawn rows and the generator that draws it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["EpochRecord"]


class EpochRecord:
    """Everything drawn so far in epoch `epoch` of a stream of `length` samples over `num_rows` rows: the row of each
    position (4 bytes per sample below 2**31 rows), whether it is a replay (allocated at the first replay), the
    rows drawn in the pass without replacement (`taken`, 1 byte per row; None with replacement), and the generator
    `numpy.random.default_rng([seed, epoch])`."""

    def __init__(self, length: int, num_rows: int, seed: int, epoch: int, replacement: bool) -> None:
        self.stream = np.empty(length, dtype=np.int32 if num_rows <= 2**31 else np.int64)
        self._replayed: np.ndarray | None = None
        self.size = 0  # positions drawn
        self.rng = np.random.default_rng([seed, epoch])
        self.taken = None if replacement else np.zeros(num_rows, dtype=bool)

    def append(self, rows: np.ndarray, replayed: np.ndarray) -> None:
        """Record the next positions' rows and replay flags."""
        start, self.size = self.size, self.size + rows.size
        self.stream[start : self.size] = rows
        if self._replayed is None and replayed.any():
            self._replayed = np.zeros(self.stream.size, dtype=bool)
        if self._replayed is not None:
            self._replayed[start : self.size] = replayed

    @property
    def drawn(self) -> np.ndarray:
        view = self.stream[: self.size]
        view.flags.writeable = False
        return view

    @property
    def replayed(self) -> np.ndarray:
        if self._replayed is None:  # no replay so far this epoch: a read-only view of one False
            return np.broadcast_to(np.False_, (self.size,))
        view = self._replayed[: self.size]
        view.flags.writeable = False
        return view

    def state_dict(self) -> dict[str, Any]:
        state = {"stream": self.drawn.copy(), "replayed": self.replayed.copy(), "rng": self.rng.bit_generator.state}
        return state if self.taken is None else {**state, "taken": np.packbits(self.taken)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = 0
        self.append(np.asarray(state["stream"]), np.asarray(state["replayed"], dtype=bool))
        self.rng.bit_generator.state = state["rng"]
        if self.taken is not None:
            if "taken" not in state:
                raise ValueError(
                    "the checkpoint's sampler drew with replacement; resume with replacement=true (or start afresh)"
                )
            self.taken[:] = np.unpackbits(np.asarray(state["taken"], dtype=np.uint8), count=len(self.taken)).astype(bool)
