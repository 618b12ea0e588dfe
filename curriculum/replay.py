"""Replay of recent valuable rows: a bounded, deduplicated FIFO buffer and the rank test that admits rows."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from .difficulty import _integer_codes, sort_within_groups

__all__: list[str] = []


class ReplayBuffer:
    r"""
    Bounded FIFO of row indices, without duplicates, in the style of DOTS' rollout replay.

    Admitting a row already in the buffer moves it to the newest end; when full, the oldest row leaves. The
    buffer is updated from the gathered rows of each step, so it is identical on every process.

    Args:
        capacity (`int`): most rows held.

    Example:

    ```python
    >>> from curriculum.replay import ReplayBuffer
    >>> buffer = ReplayBuffer(3)
    >>> buffer.admit([5, 6, 5, 7, 8])
    >>> buffer.rows().tolist()
    [5, 7, 8]
    ```
    """

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity should be a positive integer value, but got capacity={capacity!r}")
        self.capacity = capacity
        self._rows: OrderedDict[int, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def admit(self, rows: Iterable[int]) -> None:
        for row in rows:
            row = int(row)
            self._rows.pop(row, None)
            self._rows[row] = None
            if len(self._rows) > self.capacity:
                self._rows.popitem(last=False)

    def rows(self) -> np.ndarray:
        """The rows held, oldest first."""
        return np.fromiter(self._rows, dtype=np.int64, count=len(self._rows))

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"rows": self.rows()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self._rows = OrderedDict((int(r), None) for r in state["rows"])


class RankSnapshot:
    r"""
    Sorted per-group values of a signal, taken at a refresh point, to rank new observations in O(log n).

    `rank(rows, values)` is the share of the group's snapshot values below each value (0.5 for an empty group).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.replay import RankSnapshot
    >>> snap = RankSnapshot(np.array([1.0, 2.0, 3.0, np.nan]), groups=None)
    >>> snap.rank(np.array([0, 3]), np.array([2.5, 0.0])).tolist()
    [0.6666666666666666, 0.0]
    ```
    """

    def __init__(self, values: np.ndarray, groups: np.ndarray | None) -> None:
        values = np.asarray(values)
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float64)
        self.groups = None if groups is None else _integer_codes(groups)  # no copy of the curriculum's codes
        rows = np.flatnonzero(np.isfinite(values))
        if self.groups is None:
            self._sorted = np.sort(values[rows]).astype(np.float64, copy=False)
            self._start, self._count = np.zeros(1, dtype=np.int64), np.array([rows.size])
            return
        num_groups = int(self.groups.max()) + 1 if self.groups.size else 1
        self._sorted = sort_within_groups(values, self.groups, rows)
        counts = np.bincount(self.groups[rows], minlength=num_groups)
        self._start = np.r_[0, np.cumsum(counts)[:-1]]
        self._count = counts

    def rank(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values)
        if self.groups is None:
            n = self._count[0]
            if n == 0:
                return np.full(len(values), 0.5)
            return np.searchsorted(self._sorted, values, side="left") / n
        groups = self.groups[np.asarray(rows, dtype=np.int64)]
        out = np.full(len(groups), 0.5)
        for g in np.unique(groups):
            n = self._count[g]
            if n == 0:
                continue
            sel = groups == g
            segment = self._sorted[self._start[g] : self._start[g] + n]
            out[sel] = np.searchsorted(segment, values[sel], side="left") / n
        return out


class ReplayPolicy:
    r"""
    Owns the [`ReplayBuffer`] and decides which trained rows enter it.

    A row is admitted when the quantile of its value within its group, against a snapshot of all rows' values
    taken every `refresh_steps` optimizer steps, is >= `threshold`; with `near_target` when that quantile is within
    `threshold` of the schedule's target. O(batch log N) per step, O(N log N) per snapshot.

    Args:
        capacity (`int`): most rows held by the buffer.
        groups (`np.ndarray` or `None`): group code per row; quantiles are taken within groups.
        threshold (`float`): admission threshold.
        near_target (`bool`): admit by distance to the target instead of by quantile.
        refresh_steps (`int`): steps between two snapshots.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.replay import ReplayPolicy
    >>> policy = ReplayPolicy(4, groups=None, threshold=0.5)
    >>> policy.snapshot(np.array([1.0, 2.0, 3.0, 4.0]))
    >>> policy.admit(np.array([0, 3]), np.array([1.0, 4.0]), target=0.5)
    >>> policy.rows().tolist()
    [3]
    ```
    """

    def __init__(
        self,
        capacity: int,
        groups: np.ndarray | None,
        threshold: float,
        near_target: bool = False,
        refresh_steps: int = 1,
    ) -> None:
        self.buffer = ReplayBuffer(capacity)
        self.groups = groups
        self.threshold = threshold
        self.near_target = near_target
        self.refresh_steps = max(1, refresh_steps)
        self._snapshot: RankSnapshot | None = None
        self._snapshot_values: np.ndarray | None = None

    @classmethod
    def from_config(cls, config: Any, groups: np.ndarray | None, refresh_steps: int) -> "ReplayPolicy | None":
        """The policy `config` asks for (`replay_share > 0`), or None."""
        if config.replay_share <= 0:
            return None
        return cls(config.replay_buffer_size, groups, config.replay_threshold,
                   near_target=config.replay_value == "near_target", refresh_steps=refresh_steps)

    def set_refresh_steps(self, steps: int) -> None:
        self.refresh_steps = max(1, steps)

    def __len__(self) -> int:
        return len(self.buffer)

    def rows(self) -> np.ndarray:
        """The rows held, oldest first."""
        return self.buffer.rows()

    def due(self, step: int) -> bool:
        """Whether a new snapshot of the values should be taken before admitting the rows of `step`."""
        return self._snapshot is None or step % self.refresh_steps == 0

    def snapshot(self, values: np.ndarray) -> None:
        """Take the snapshot that ranks later observations: every row's value (NaN = never trained on)."""
        self._snapshot_values = np.asarray(values, dtype=np.float32).copy()
        self._snapshot = RankSnapshot(self._snapshot_values, self.groups)

    def admit(self, rows: np.ndarray, values: np.ndarray, target: float) -> None:
        """Admit the valuable ones among `rows` (just trained on, in order), whose values are `values`."""
        rank = self._snapshot.rank(rows, values)
        keep = np.abs(rank - target) <= self.threshold if self.near_target else rank >= self.threshold
        self.buffer.admit(rows[keep])

    def observe(self, rows: np.ndarray, step: int, values: Any, target: float) -> None:
        """Admit the valuable rows of optimizer `step` (`values(rows)` their values, `values(None)` every row's, for a
        snapshot taken when one is due)."""
        if self.due(step):
            self.snapshot(values(None))
        self.admit(rows, values(rows), target)

    def substitute(
        self, rows: np.ndarray, per_batch: int, global_batch: int, rng: np.random.Generator, taken: np.ndarray | None
    ) -> np.ndarray:
        """Replace `per_batch` random slots of every global batch of the drawn `rows` (in place) by rows of the
        buffer, chosen at random, once it holds one; returns whether each slot is a replay. A replaced row goes back
        to the rows not yet `taken` in the pass (a draw without replacement)."""
        replayed = np.zeros(rows.size, dtype=bool)
        if not per_batch or not len(self):
            return replayed
        for start in range(0, rows.size, global_batch):
            chosen = rng.choice(global_batch, size=per_batch, replace=False)
            replayed[start + chosen[chosen < rows.size - start]] = True
        buffer = self.rows()
        if taken is not None:
            taken[rows[replayed]] = False  # drawn, then replaced by a replay: not trained in this pass
        rows[replayed] = buffer[rng.integers(0, buffer.size, int(replayed.sum()))]
        return replayed

    def metrics(self, group_names: list[str] | None = None) -> dict[str, float]:
        return {"curriculum/replay_buffer": len(self)}

    def state_dict(self) -> dict[str, np.ndarray]:
        """`replay.buffer` (the rows held, oldest first) and `replay.snapshot` (the values that rank admissions)."""
        state = {"replay.buffer": self.buffer.rows()}
        if self._snapshot_values is not None:
            state["replay.snapshot"] = self._snapshot_values
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from the whole checkpoint state; refuse one saved without replay."""
        if "replay.buffer" not in state:
            raise ValueError("the checkpoint was saved without replay; resume with replay_share=0")
        self.buffer.load_state_dict({"rows": state["replay.buffer"]})
        self._snapshot = self._snapshot_values = None
        if "replay.snapshot" in state:
            self.snapshot(state["replay.snapshot"])
