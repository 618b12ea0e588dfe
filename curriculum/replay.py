"""Replay of recent valuable rows: a bounded, deduplicated FIFO buffer and the rank test that admits rows."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

from .buckets import bucketed, value_buckets
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


# A snapshot keeps at most about this many points of all groups' sorted values together, and at least
# `_GROUP_POINTS` of each group's: its memory does not grow with the rows.
_SKETCH_POINTS = 1 << 16
_GROUP_POINTS = 1 << 10


class RankSnapshot:
    r"""
    Per-group quantiles of a signal, taken at a refresh point, to rank new observations in O(log n).

    `rank(rows, values)` is the share of the group's snapshot values below each value (0.5 for an empty group). A
    group keeps a sketch of its sorted values: each kept value with the number of the group's values below it and
    not above it. It keeps every distinct value while it has at most its share of `points` (at least
    `_GROUP_POINTS`), so the ranks are exact; a larger group keeps that many evenly spaced order statistics, and a
    value between two of them is ranked by linear interpolation, within 1 / (points kept) of the exact rank. From
    2**24 values (in up to 16 groups) the points are the least values of value buckets, from one counting pass
    instead of a sort. The snapshot holds O(points) memory, not O(rows).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.replay import RankSnapshot
    >>> snap = RankSnapshot(np.array([1.0, 2.0, 3.0, np.nan]), groups=None)
    >>> snap.rank(np.array([0, 3]), np.array([2.5, 0.0])).tolist()
    [0.6666666666666666, 0.0]
    ```
    """

    def __init__(self, values: np.ndarray, groups: np.ndarray | None, points: int = _SKETCH_POINTS) -> None:
        values = np.asarray(values)
        if values.dtype not in (np.float32, np.float64):
            values = values.astype(np.float64)
        self.groups = None if groups is None else _integer_codes(groups)  # no copy of the curriculum's codes
        rows = np.flatnonzero(np.isfinite(values))
        if bucketed(rows.size, self.groups):
            self._from_buckets(values, rows, points)
            return
        if self.groups is None:
            ordered = np.sort(values[rows]).astype(np.float64, copy=False)
            counts = np.array([rows.size])
        else:
            num_groups = int(self.groups.max()) + 1 if self.groups.size else 1
            ordered = sort_within_groups(values, self.groups, rows)
            counts = np.bincount(self.groups[rows], minlength=num_groups)
        starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        total = max(1, int(counts.sum()))
        sketches = [
            _sketch(ordered[start : start + count], max(_GROUP_POINTS, -(-points * int(count) // total)))
            for start, count in zip(starts.tolist(), counts.tolist())
        ]
        self._set(counts, *(np.concatenate(part) if part else np.zeros(0) for part in zip(*sketches)),
                  sizes=[len(sketch[0]) for sketch in sketches])

    def _from_buckets(self, values: np.ndarray, rows: np.ndarray, points: int) -> None:
        """The sketches from one counting pass over value buckets ([`~curriculum.buckets.value_buckets`]),
        without a sort: each kept point is the least value of a bucket, with the values below it; a value inside a
        bucket is ranked by interpolation between the bucket's ends."""
        bucket, least = value_buckets(values, rows)
        codes = None if self.groups is None else self.groups[rows]
        num_groups = 1 if codes is None else int(self.groups.max()) + 1  # codes from 0 (the curriculum's)
        counts, parts = np.zeros(num_groups, dtype=np.int64), []
        for group in range(num_groups):
            b = bucket if codes is None else bucket[codes == group]
            counts[group] = b.size
            if not b.size:
                parts.append((np.zeros(0), np.zeros(0, dtype=np.int64)))
                continue
            per_bucket = np.bincount(b)
            cumulative = np.cumsum(per_bucket)
            size = max(_GROUP_POINTS, -(-points * b.size // rows.size))
            picks = np.unique(np.searchsorted(cumulative, np.linspace(0, b.size - 1, size), side="right"))
            picks = np.r_[picks, per_bucket.size]  # the end of the last bucket: every value is below it
            below = np.r_[cumulative, b.size][picks] - np.r_[per_bucket, 0][picks]
            parts.append((least(picks), below))
        values_kept = np.concatenate([p[0] for p in parts])
        below = np.concatenate([p[1] for p in parts])
        self._set(counts, values_kept, below, below, sizes=[p[0].size for p in parts])

    @property
    def size(self) -> int:
        """The number of values ranked."""
        return int(self._count.sum())

    def _set(self, counts: np.ndarray, values: np.ndarray, below: np.ndarray, not_above: np.ndarray,
             sizes: list[int]) -> None:
        self._count = np.asarray(counts, dtype=np.int64)
        self._values = np.asarray(values, dtype=np.float64)
        self._below = np.asarray(below, dtype=np.int64)
        self._not_above = np.asarray(not_above, dtype=np.int64)
        self._start = np.r_[0, np.cumsum(sizes)].astype(np.int64)  # group g's points: _start[g] to _start[g + 1]

    def rank(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.groups is None:
            return self._rank_in(0, values)
        groups = self.groups[np.asarray(rows, dtype=np.int64)]
        out = np.full(len(groups), 0.5)
        for g in np.unique(groups):
            sel = groups == g
            out[sel] = self._rank_in(int(g), values[sel])
        return out

    def _rank_in(self, group: int, values: np.ndarray) -> np.ndarray:
        """The ranks of `values` among `group`'s snapshot values."""
        n = int(self._count[group]) if group < len(self._count) else 0
        if n == 0:
            return np.full(len(values), 0.5)
        lo, hi = self._start[group], self._start[group + 1]
        kept, below, not_above = self._values[lo:hi], self._below[lo:hi], self._not_above[lo:hi]
        j = np.searchsorted(kept, values, side="left")  # kept[j - 1] < value <= kept[j]
        count = np.full(len(values), float(n))  # above every kept value (and NaN): all of them are below
        inside = j < kept.size
        at = np.minimum(j, kept.size - 1)
        hit = inside & (kept[at] == values)
        count[hit] = below[at[hit]]
        between = inside & ~hit
        count[between & (j == 0)] = 0.0
        mid = np.flatnonzero(between & (j > 0))
        if mid.size:
            right, left = j[mid], j[mid] - 1
            fraction = (values[mid] - kept[left]) / (kept[right] - kept[left])
            # Every value between two kept ones: exactly not_above[left] below when all values are kept.
            count[mid] = not_above[left] + (below[right] - not_above[left]) * fraction
        return count / n

    def state_dict(self) -> dict[str, np.ndarray]:
        """The sketch: per group its count of values, and its kept values with the counts below and not above."""
        return {"counts": self._count, "values": self._values, "below": self._below, "not_above": self._not_above,
                "sizes": np.diff(self._start)}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], groups: np.ndarray | None) -> "RankSnapshot":
        snapshot = cls.__new__(cls)
        snapshot.groups = None if groups is None else _integer_codes(groups)
        snapshot._set(state["counts"], state["values"], state["below"], state["not_above"],
                      np.asarray(state["sizes"]).tolist())
        return snapshot


def _sketch(ordered: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values among `size` evenly spaced order statistics of the sorted `ordered` (all of them when
    there are at most `size`), each with the number of values below it and not above it."""
    if ordered.size > size:
        kept = np.unique(ordered[np.linspace(0, ordered.size - 1, size).round().astype(np.int64)])
    else:
        kept = np.unique(ordered)
    return kept, np.searchsorted(ordered, kept, side="left"), np.searchsorted(ordered, kept, side="right")


_SNAPSHOT = "replay.snapshot."  # the prefix of the snapshot's keys in a checkpoint's state
# The replay's snapshot is retaken once the rows observed since it reach this share of the values it ranked.
RESNAPSHOT_SHARE = 0.01


class ReplayPolicy:
    r"""
    Owns the [`ReplayBuffer`] and decides which trained rows enter it.

    A row is admitted when the quantile of its value within its group, against a snapshot of all rows' values, is
    >= `threshold`; with `near_target` when that quantile is within `threshold` of the schedule's target. The
    snapshot is retaken at the first multiple of `refresh_steps` optimizer steps after the rows observed since it
    reach `RESNAPSHOT_SHARE` of the values it ranked (every refresh on small data; on 100M rows a distribution that
    2,560 new observations cannot move is not re-ranked every 10 steps). O(batch log N) per step, O(N log N) per
    snapshot (O(N) from 2**24 values).

    Args:
        capacity (`int`): most rows held by the buffer.
        groups (`np.ndarray` or `None`): group code per row; quantiles are taken within groups.
        threshold (`float`): admission threshold.
        near_target (`bool`): admit by distance to the target instead of by quantile.
        refresh_steps (`int`): the snapshot is retaken only at multiples of this many steps.

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
        self._since = 0  # rows observed since the snapshot

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
        if self._snapshot is None:
            return True
        return step % self.refresh_steps == 0 and self._since >= RESNAPSHOT_SHARE * self._snapshot.size

    def snapshot(self, values: np.ndarray) -> None:
        """Take the snapshot that ranks later observations: every row's value (NaN = never trained on)."""
        self._snapshot = RankSnapshot(np.asarray(values, dtype=np.float32), self.groups)
        self._since = 0

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
        self._since += rows.size

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
        """`replay.buffer` (the rows held, oldest first) and `replay.snapshot.*` (the sketch that ranks admissions)."""
        state = {"replay.buffer": self.buffer.rows(), "replay.since": np.array(self._since, dtype=np.int64)}
        if self._snapshot is not None:
            state.update({f"{_SNAPSHOT}{k}": v for k, v in self._snapshot.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from the whole checkpoint state; refuse one saved without replay."""
        if "replay.buffer" not in state:
            raise ValueError("the checkpoint was saved without replay; resume with replay_share=0")
        self.buffer.load_state_dict({"rows": state["replay.buffer"]})
        self._snapshot = None
        sketch = {k[len(_SNAPSHOT):]: v for k, v in state.items() if k.startswith(_SNAPSHOT)}
        if sketch:
            self._snapshot = RankSnapshot.from_state(sketch, self.groups)
        elif "replay.snapshot" in state:  # saved by an earlier version: every row's value
            self.snapshot(state["replay.snapshot"])
        # Saved by an earlier version (a snapshot at every refresh): the next refresh takes one.
        self._since = int(state["replay.since"]) if "replay.since" in state else np.iinfo(np.int64).max
