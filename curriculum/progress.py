"""Task shares by learning progress: relative trends of first-visit losses, bounded around each task's natural share."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []

# The fast and slow running means of a task's first-visit loss: progress is their relative gap.
_FAST, _SLOW = 0.5, 0.9
# A task's target share stays within these factors of its natural share, before the floor mix.
_LOW, _HIGH = 0.5, 2.0
# The share of every task's natural mass that no progress estimate can take away.
FLOOR = 0.5
# The most a task's share may change (as a factor) from one refresh to the next, before renormalisation.
MAX_STEP = 1.25


class TaskProgress:
    r"""
    Learning progress of each task (in the spirit of Teacher-Student Curriculum Learning, Matiisen et al. 2017, and
    Online Data Mixing, Albalak et al. 2023), measured so that it can neither starve a task nor thrash.

    - **What counts as progress.** Only a row's *first* visit: its loss then is a held-out loss, so the trend of a
      task's first-visit losses measures generalisation, not memorisation of rows already trained on. Each task keeps
      a fast and a slow running mean of the mean first-visit loss of each period (`period` optimizer steps, the
      refresh interval); its progress is the relative gap `(slow - fast) / slow`, a fraction of the task's own loss,
      comparable across tasks whatever their loss scale. A period without a first visit of the task leaves it as is.
    - **Target shares.** Task t's progress relative to the natural-mass-weighted mean progress, raised to `gamma` and
      clipped to [0.5, 2], multiplies its natural mass `m_t`; the normalised result is mixed half and half with the
      natural shares. So a task never gets less than half of what shuffling would give it, nor more than 2.5 times.
      Tasks without a first-visit estimate yet, and every task while no task progresses, keep their natural share.
    - **Bounded change.** At each period's end the current shares move toward the target by at most a factor of
      `1.25` per task, then are renormalised: no share swings between two refreshes.

    A pure function of the observations in step order: identical on every process and on resume.

    Args:
        natural (`np.ndarray`): each task's natural sampling mass (its rows, or their summed duplicate weights).
        period (`int`): optimizer steps per update (the refresh interval).
        gamma (`float`, *optional*, defaults to `1.0`): exponent of the relative progress.
        min_share (`float`, *optional*, defaults to `0.0`): least share of every task.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.progress import TaskProgress
    >>> progress = TaskProgress(np.array([3.0, 1.0]), period=1)
    >>> progress.shares().round(3).tolist()
    [0.75, 0.25]
    >>> for step, loss in enumerate([2.0, 1.0, 0.5, 0.25], start=1):  # task 0's first-visit loss halves each step
    ...     progress.observe(np.array([0, 1]), np.array([True, True]), np.array([loss, 2.0]), step)
    >>> progress.shares().round(3).tolist()  # task 0 gains, within the bounds
    [0.819, 0.181]
    ```
    """

    def __init__(self, natural: np.ndarray, period: int, gamma: float = 1.0, min_share: float = 0.0) -> None:
        self.period = period
        self.gamma = gamma
        self.min_share = min_share
        self.natural = np.asarray(natural, dtype=np.float64)
        n = len(self.natural)
        self.fast = np.full(n, np.nan)
        self.slow = np.full(n, np.nan)
        self._sum = np.zeros(n)
        self._count = np.zeros(n, dtype=np.int64)
        self.current = self._natural_shares()

    def _natural_shares(self) -> np.ndarray:
        total = self.natural.sum()
        return self.natural / total if total > 0 else np.full(len(self.natural), 1.0 / len(self.natural))

    @property
    def progress(self) -> np.ndarray:
        """Each task's relative progress `(slow - fast) / slow` of its first-visit loss (NaN before an estimate)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.slow - self.fast) / self.slow

    @property
    def known(self) -> np.ndarray:
        """Whether each task has a progress estimate (a first visit observed)."""
        return np.isfinite(self.slow)

    def observe(self, groups: np.ndarray, first: np.ndarray, loss: np.ndarray, step: int) -> None:
        """Add the observations of optimizer step `step`: rows' `groups`, whether each is the row's first visit, and
        the visit's loss. At the end of a period, update the running means and move the shares."""
        first = np.asarray(first, dtype=bool)
        n = len(self.natural)
        self._sum += np.bincount(groups[first], weights=np.asarray(loss, dtype=np.float64)[first], minlength=n)
        self._count += np.bincount(groups[first], minlength=n)
        if step % self.period:
            return
        fresh = self._count > 0
        mean = self._sum[fresh] / self._count[fresh]
        for running, decay in ((self.fast, _FAST), (self.slow, _SLOW)):
            old = running[fresh]
            running[fresh] = np.where(np.isfinite(old), decay * old + (1.0 - decay) * mean, mean)
        self._sum[:] = 0.0
        self._count[:] = 0
        target = self.target()
        step_limit = np.clip(target, self.current / MAX_STEP, self.current * MAX_STEP)
        self.current = step_limit / step_limit.sum()

    def target(self) -> np.ndarray:
        """The shares the current ones move toward (see the class docstring)."""
        natural = self._natural_shares()
        progress = np.where(self.known, np.maximum(self.progress, 0.0), np.nan)
        weight = natural * self.known
        mean = float(np.nansum(progress * weight) / weight.sum()) if weight.sum() > 0 else 0.0
        ratio = np.ones(len(natural))
        if mean > 0:
            ratio = np.where(self.known, np.clip((np.nan_to_num(progress) / mean) ** self.gamma, _LOW, _HIGH), 1.0)
        tilted = natural * ratio
        return FLOOR * natural + (1.0 - FLOOR) * tilted / tilted.sum()

    def shares(self) -> np.ndarray:
        """Share of the sampling mass of each task now: the bounded, smoothed shares with `min_share` applied."""
        n = len(self.current)
        return self.min_share + (1.0 - n * self.min_share) * self.current

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"fast": self.fast.copy(), "slow": self.slow.copy(), "sum": self._sum.copy(), "count": self._count.copy(),
                "current": self.current.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if "current" not in state:
            raise ValueError(
                "the saved task progress is of an older version (loss drops between visits); it cannot be resumed "
                "exactly: resume with task_balance=false, or start the curriculum afresh"
            )
        if len(state["current"]) != len(self.current):
            raise ValueError(
                f"the saved task progress has {len(state['current'])} tasks but the dataset has {len(self.current)}; "
                "resume with the same group_column values"
            )
        self.fast[:], self.slow[:] = state["fast"], state["slow"]
        self._sum[:], self._count[:] = state["sum"], state["count"]
        self.current = np.asarray(state["current"], dtype=np.float64).copy()
