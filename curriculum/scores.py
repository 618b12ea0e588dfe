"""`ScoreTable`: per-row running loss and confidence, updated in O(1) per trained row."""

from __future__ import annotations

import numpy as np

__all__ = ["ScoreTable"]

SIGNALS = ("loss", "confidence", "learnability")
_ARRAYS = ("loss", "confidence", "first_loss", "confidence_var", "count")
# Visits are counted in 16 bits and saturate: a row visited more often than this counts this many visits.
MAX_COUNT = np.iinfo(np.uint16).max


class ScoreTable:
    r"""
    Per-row training statistics of a dataset, one entry per row, identical on every process.

    `loss[i]` and `confidence[i]` are running means (exponential moving averages initialised with the first
    observation) of row i's mean token negative log-likelihood and mean target-token probability over its
    supervised tokens, as computed by the training forward pass. `variability[i]` is the running standard deviation
    of the confidence across visits (the exponentially weighted variance next to the running mean; 0 after one
    visit), the second axis of a dataset-cartography map. Rows never trained on hold NaN and count 0. `count[i]` is
    the number of visits, saturating at 65535 (`MAX_COUNT`).

    Storage is 4 float32 arrays (running loss and confidence, first loss, confidence variance) and a uint16 visit
    count: 18 bytes per row.

    Args:
        num_rows (`int`):
            Number of rows of the training dataset.
        ema (`float`, *optional*, defaults to `0.5`):
            Weight of the previous value in the running means: `new = ema * old + (1 - ema) * observation`.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import ScoreTable
    >>> table = ScoreTable(4, ema=0.5)
    >>> table.update(np.array([1, 1]), np.array([2.0, 1.0]), np.array([0.2, 0.4]), step=0)
    >>> float(table.loss[1]), int(table.count[1])
    (1.5, 2)
    ```
    """

    def __init__(self, num_rows: int, ema: float = 0.5) -> None:
        if not isinstance(num_rows, int) or isinstance(num_rows, bool) or num_rows <= 0:
            raise ValueError(f"num_rows should be a positive integer value, but got num_rows={num_rows!r}")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema should be in [0, 1), but got ema={ema!r}")
        self.ema = float(ema)
        self.loss = np.full(num_rows, np.nan, dtype=np.float32)
        self.confidence = np.full(num_rows, np.nan, dtype=np.float32)
        self.first_loss = np.full(num_rows, np.nan, dtype=np.float32)
        self.confidence_var = np.full(num_rows, np.nan, dtype=np.float32)
        self.count = np.zeros(num_rows, dtype=np.uint16)
        self.num_seen = 0

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def bytes_per_row(self) -> int:
        return sum(getattr(self, name).itemsize for name in _ARRAYS)

    @property
    def variability(self) -> np.ndarray:
        """Running standard deviation of each row's confidence across its visits (NaN for rows never trained on)."""
        return np.sqrt(self.confidence_var)

    @property
    def coverage(self) -> float:
        """Share of rows trained on at least once."""
        return self.num_seen / len(self)

    def first_visits(self, ids: np.ndarray) -> np.ndarray:
        """Whether each of `ids` (about to be folded in) is its row's first visit: never visited, and its first
        occurrence in `ids`."""
        first = self.count[ids] == 0
        if first.any():
            once = np.zeros(len(ids), dtype=bool)
            once[np.unique(ids, return_index=True)[1]] = True
            first &= once
        return first

    def update(self, ids: np.ndarray, loss: np.ndarray, confidence: np.ndarray, step: int = 0) -> None:
        """Fold one batch of observations in, in order: a row appearing twice is updated twice. (`step`, the optimizer
        step, is accepted for the callers' convenience; the table does not depend on it.)"""
        ids = np.asarray(ids, dtype=np.int64)
        loss = np.asarray(loss, dtype=np.float32)
        confidence = np.asarray(confidence, dtype=np.float32)
        if ids.size == 0:
            return
        if ids.min() < 0 or ids.max() >= len(self):
            raise IndexError(f"row ids should be in [0, {len(self)}), but got ids in [{ids.min()}, {ids.max()}]")
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        if (sorted_ids[1:] != sorted_ids[:-1]).all():
            self._update_unique(ids, loss, confidence, step)  # the usual case: no id twice, one round
            return
        # Occurrence rank of each id inside the batch: round k updates the k-th appearance of every id at once.
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_ids)) + 1]
        run_start = np.repeat(starts, np.diff(np.r_[starts, ids.size]))
        occurrence = np.empty(ids.size, dtype=np.int64)
        occurrence[order] = np.arange(ids.size) - run_start
        for k in range(int(occurrence.max()) + 1):
            sel = occurrence == k
            self._update_unique(ids[sel], loss[sel], confidence[sel], step)

    def _update_unique(self, ids: np.ndarray, loss: np.ndarray, confidence: np.ndarray, step: int) -> None:
        fresh = self.count[ids] == 0
        self.num_seen += int(fresh.sum())
        a = self.ema
        old_loss = np.where(fresh, loss, self.loss[ids])
        old_conf = np.where(fresh, confidence, self.confidence[ids])
        old_var = np.where(fresh, np.float32(0.0), self.confidence_var[ids])
        self.loss[ids] = a * old_loss + (1.0 - a) * loss
        self.confidence[ids] = a * old_conf + (1.0 - a) * confidence
        # Exponentially weighted variance: var <- a * (var + (1 - a) * (x - old mean)^2).
        deviation = confidence - old_conf
        self.confidence_var[ids] = a * (old_var + (1.0 - a) * deviation * deviation)
        self.first_loss[ids] = np.where(fresh, loss, self.first_loss[ids])
        count = self.count[ids]
        count += count < MAX_COUNT  # saturating
        self.count[ids] = count

    def signal(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Per-row signal (of `rows`, default all), higher = harder; NaN for rows never trained on."""
        pick = (lambda a: a) if rows is None else (lambda a: a[rows])
        if name == "loss":
            return pick(self.loss)
        if name == "confidence":
            return 1.0 - pick(self.confidence)
        if name == "learnability":
            return pick(self.first_loss) - pick(self.loss)
        raise ValueError(f"signal should be one of {list(SIGNALS)}, but got signal={name!r}")

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in _ARRAYS}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if len(state["loss"]) != len(self):
            raise ValueError(
                f"the saved score table has {len(state['loss'])} rows but the training dataset has {len(self)}; "
                "resume with the same training dataset"
            )
        missing = [name for name in _ARRAYS if name not in state]
        if missing:
            raise ValueError(
                f"the saved score table lacks {missing} (saved by an older version); it cannot be resumed exactly: "
                "start the curriculum afresh"
            )
        for name in _ARRAYS:
            saved = np.asarray(state[name])
            mine = getattr(self, name)
            if saved.dtype != mine.dtype:
                raise ValueError(
                    f"the saved score table's {name!r} is {saved.dtype}, not {mine.dtype} (saved by another version); it "
                    "cannot be resumed exactly: start the curriculum afresh"
                )
            mine[:] = saved
        self.num_seen = int((self.count > 0).sum())
