"""Learning progress per task: the running drop of its rows' loss between visits, for the task shares."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


class TaskProgress:
    r"""
    Learning progress of each task (Teacher-Student Curriculum Learning, Matiisen et al. 2017; Online Data Mixing,
    Albalak et al. 2023), from the observations the training already makes.

    Each revisit of a row gives one progress sample: its running loss before the visit minus the visit's loss. The
    samples of a task are summed over `period` optimizer steps, and at the end of each period the task's progress
    becomes `decay x progress + (1 - decay) x (mean sample of the period)`. A pure function of the observations in
    step order: identical on every process and on resume.

    [`shares`] gives task t the share `min_share + (1 - T x min_share) x m_t x q_t^gamma / Z`, with `m_t` its
    natural mass (its rows, or their summed duplicate weights) and `q_t` its progress floored at a tenth of the mean
    positive progress; a task with no revisit yet takes the largest `q` (explore it). Tasks that progress alike keep
    their natural shares; a task that stopped progressing (learnt, or unlearnable) keeps a tenth of its own.

    Args:
        num_groups (`int`): tasks.
        period (`int`): optimizer steps per update (the refresh interval).
        decay (`float`): weight of the previous progress.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.progress import TaskProgress
    >>> progress = TaskProgress(2, period=1, decay=0.0)
    >>> progress.observe(np.array([0, 0, 1]), prev_loss=np.array([2.0, 2.0, 1.0]), loss=np.array([1.0, 1.0, 1.0]), step=1)
    >>> progress.progress.tolist(), progress.shares(natural=np.array([1.0, 3.0])).round(3).tolist()
    ([1.0, 0.0], [0.87, 0.13])
    ```
    """

    def __init__(self, num_groups: int, period: int, decay: float = 0.5) -> None:
        self.period = period
        self.decay = decay
        self.progress = np.zeros(num_groups)
        self.known = np.zeros(num_groups, dtype=bool)
        self._sum = np.zeros(num_groups)
        self._count = np.zeros(num_groups, dtype=np.int64)

    def observe(self, groups: np.ndarray, prev_loss: np.ndarray, loss: np.ndarray, step: int) -> None:
        """Add the progress samples of optimizer step `step`: rows' `groups`, their running loss before the visit
        (NaN for a first visit, which gives no sample) and the visit's loss."""
        delta = np.asarray(prev_loss, dtype=np.float64) - np.asarray(loss, dtype=np.float64)
        ok = np.isfinite(delta)
        n = len(self.progress)
        self._sum += np.bincount(groups[ok], weights=delta[ok], minlength=n)
        self._count += np.bincount(groups[ok], minlength=n)
        if step % self.period == 0:
            fresh = self._count > 0
            mean = self._sum[fresh] / self._count[fresh]
            old = self.progress[fresh]
            self.progress[fresh] = np.where(self.known[fresh], self.decay * old + (1.0 - self.decay) * mean, mean)
            self.known |= fresh
            self._sum[:] = 0.0
            self._count[:] = 0

    def shares(self, natural: np.ndarray | None = None, gamma: float = 1.0, min_share: float = 0.0) -> np.ndarray:
        """Share of the sampling mass of each task (see the class docstring); `natural`: each task's natural mass
        (default: equal)."""
        n = len(self.progress)
        raw = np.ones(n) if natural is None else np.asarray(natural, dtype=np.float64).copy()
        positive = np.maximum(self.progress, 0.0)
        if self.known.any() and positive[self.known].max() > 0.0:
            floor = 0.1 * positive[self.known].mean()
            q = np.where(self.known, np.maximum(positive, floor), positive[self.known].max())
            raw *= q**gamma
        return min_share + (1.0 - n * min_share) * raw / raw.sum()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"progress": self.progress.copy(), "known": self.known.copy(), "sum": self._sum.copy(),
                "count": self._count.copy()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if len(state["progress"]) != len(self.progress):
            raise ValueError(
                f"the saved task progress has {len(state['progress'])} tasks but the dataset has {len(self.progress)}; "
                "resume with the same group_column values"
            )
        self.progress[:], self.known[:] = state["progress"], state["known"]
        self._sum[:], self._count[:] = state["sum"], state["count"]
