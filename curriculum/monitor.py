"""Window metrics of the stream: the mean difficulty of the rows trained since the last log, and the replayed share."""

from __future__ import annotations

from collections import deque

import numpy as np

__all__ = ["StreamMonitor"]

# Blocks of the stream whose drawn rows' difficulty is kept for the sampled-difficulty metric: more than the blocks
# drawn ahead of training.
_SAMPLED_BLOCKS = 64


class StreamMonitor:
    """Keeps the difficulty (when drawn) of the rows of the latest blocks drawn, a block's rows only (never an array of
    the dataset's size), and sums over the steps since the last [`window`] call: the mean sampled difficulty of the
    rows consumed, and the share of consumed positions that were replays."""

    def __init__(self) -> None:
        self._sampled: deque[tuple[int, np.ndarray]] = deque(maxlen=_SAMPLED_BLOCKS)
        self._reset()

    def _reset(self) -> None:
        self.difficulty_sum, self.difficulty_rows, self.replayed, self.consumed = 0.0, 0, 0, 0

    def drawn(self, position: int, difficulty: np.ndarray) -> None:
        """The block drawn at stream `position`, as the difficulty of each of its rows."""
        self._sampled.append((position, np.asarray(difficulty, dtype=np.float64)))

    def trained(self, start: int, stop: int) -> None:
        """A step consumed the stream positions `start` to `stop - 1`."""
        for begin, values in self._sampled:
            lo, hi = max(start, begin), min(stop, begin + values.size)
            if lo < hi:
                self.difficulty_sum += float(values[lo - begin : hi - begin].sum())
                self.difficulty_rows += hi - lo
        while self._sampled and self._sampled[0][0] + self._sampled[0][1].size <= start:
            self._sampled.popleft()  # consumed

    def replays(self, replayed: np.ndarray) -> None:
        """Whether each position a step consumed was a replay."""
        self.replayed += int(np.count_nonzero(replayed))
        self.consumed += len(replayed)

    def window(self, replay: bool) -> dict[str, float]:
        """The window's metrics (`replay`: report the replayed share), then a new window."""
        out = {}
        if self.difficulty_rows:
            out["curriculum/sampled_difficulty"] = self.difficulty_sum / self.difficulty_rows
        if replay:
            out["curriculum/replay_share"] = self.replayed / self.consumed if self.consumed else 0.0
        self._reset()
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """The difficulty of the rows drawn and not yet consumed (the sampled-difficulty metric continues exactly)."""
        return {
            "sampled.position": np.array([begin for begin, _ in self._sampled], dtype=np.int64),
            "sampled.size": np.array([values.size for _, values in self._sampled], dtype=np.int64),
            "sampled.difficulty": np.concatenate([values for _, values in self._sampled] or [np.zeros(0)]),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._sampled.clear()
        if "sampled.position" in state:
            bounds = np.cumsum(np.r_[0, state["sampled.size"]])
            difficulty = np.asarray(state["sampled.difficulty"], dtype=np.float64)
            for begin, lo, hi in zip(state["sampled.position"].tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
                self._sampled.append((begin, difficulty[lo:hi].copy()))
