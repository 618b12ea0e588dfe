"""`EpochRecord`: one epoch's drawn stream, its replay flags, the pass's drawn rows and the generator that draws it."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["EpochRecord"]


def _bits(count: int) -> np.ndarray:
    """A packed array of `count` bits, all clear (bit i: byte i // 8, bit i % 8 from the least significant)."""
    return np.zeros((count + 7) // 8, dtype=np.uint8)


def _unpack(bits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Bits `lo` to `hi - 1` of a packed array, as booleans."""
    skip = lo & 7
    return np.unpackbits(bits[lo >> 3 : (hi + 7) >> 3], count=skip + hi - lo, bitorder="little")[skip:].view(bool)


class EpochRecord:
    """Everything drawn so far in epoch `epoch` of a stream of `length` samples over `num_rows` rows: the row of each
    position (4 bytes per sample below 2**31 rows), whether it is a replay (one bit per sample, allocated at the
    first replay), the rows drawn in the pass without replacement (`taken`, one bit per row; None with replacement),
    and the generator `numpy.random.default_rng([seed, epoch])`."""

    def __init__(self, length: int, num_rows: int, seed: int, epoch: int, replacement: bool) -> None:
        self.stream = np.empty(length, dtype=np.int32 if num_rows <= 2**31 else np.int64)
        self._replayed: np.ndarray | None = None
        self.size = 0  # positions drawn
        self.rng = np.random.default_rng([seed, epoch])
        self.num_rows = num_rows
        self._taken = None if replacement else _bits(num_rows)

    @property
    def taken(self) -> np.ndarray | None:
        """The rows drawn in the current pass, as a new boolean array (None with replacement)."""
        return None if self._taken is None else _unpack(self._taken, 0, self.num_rows)

    @taken.setter
    def taken(self, mask: np.ndarray) -> None:
        self._taken = np.packbits(mask, bitorder="little")

    def append(self, rows: np.ndarray, replayed: np.ndarray) -> None:
        """Record the next positions' rows and replay flags."""
        start, self.size = self.size, self.size + rows.size
        self.stream[start : self.size] = rows
        if self._replayed is None and replayed.any():
            self._replayed = _bits(self.stream.size)
        if self._replayed is not None:
            at = start + np.flatnonzero(replayed)
            np.bitwise_or.at(self._replayed, at >> 3, np.left_shift(1, at & 7).astype(np.uint8))

    @property
    def drawn(self) -> np.ndarray:
        view = self.stream[: self.size]
        view.flags.writeable = False
        return view

    def replayed_between(self, lo: int, hi: int) -> np.ndarray:
        """Whether each of the positions `lo` to `hi - 1` (drawn) is a replay (a new array)."""
        if self._replayed is None:
            return np.zeros(hi - lo, dtype=bool)
        return _unpack(self._replayed, lo, hi)

    @property
    def replayed(self) -> np.ndarray:
        if self._replayed is None:  # no replay so far this epoch: a read-only view of one False
            return np.broadcast_to(np.False_, (self.size,))
        view = self.replayed_between(0, self.size)
        view.flags.writeable = False
        return view

    def state_dict(self) -> dict[str, Any]:
        state = {"stream": self.drawn.copy(), "replayed": self.replayed.copy(), "rng": self.rng.bit_generator.state}
        return state if self._taken is None else {**state, "taken": np.packbits(self.taken)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.size = 0
        self._replayed = None
        self.append(np.asarray(state["stream"]), np.asarray(state["replayed"], dtype=bool))
        self.rng.bit_generator.state = state["rng"]
        if self._taken is not None:
            if "taken" not in state:
                raise ValueError(
                    "the checkpoint's sampler drew with replacement; resume with replacement=true (or start afresh)"
                )
            self.taken = np.unpackbits(np.asarray(state["taken"], dtype=np.uint8), count=self.num_rows).view(bool)
