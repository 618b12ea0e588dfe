"""Task shares: each group's share of the sampling mass, by learning progress or by inverse confidence."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..progress import TaskProgress
from ..weights import normalized_entropy, task_shares
from .base import Factor, Observation, RowData

__all__ = ["MAX_LOGGED_TASKS", "TaskShares", "share_metrics"]


class TaskShares(Factor):
    """Per-task shares, on with task balance (`task_balance`, by default whenever `group_column` is set).

    `task_signal="progress"`: [`~curriculum.progress.TaskProgress`] on first-visit losses, around each task's
    natural mass (its drawable rows, each weighing its duplicate weight). `task_signal="confidence"`:
    [`~curriculum.weights.task_shares`] from the rows' running confidence, with the offline `confidence_prior` for
    tasks not trained on yet. A task whose every row is unscorable gets nothing; the others share its mass."""

    name = "tasks"

    def __init__(self, config: Any, rows: RowData, duplicates: Any = None) -> None:
        self.groups, self.num_groups = rows.groups, rows.num_groups
        self.gamma, self.min_share = config.task_gamma, config.task_min_share
        if self.min_share * self.num_groups > 1.0:
            raise ValueError(
                f"task_min_share={self.min_share} times {self.num_groups} tasks exceeds 1; use at most "
                f"{1.0 / self.num_groups:.4f}"
            )
        self.prior = None
        if rows.confidence_prior is not None:
            counts = np.bincount(self.groups, minlength=self.num_groups)
            offline = np.asarray(rows.confidence_prior, dtype=np.float64)
            self.prior = np.bincount(self.groups, weights=offline, minlength=self.num_groups) / counts
        self.duplicates = duplicates  # the duplicate-weights factor, asked for its weights when they are needed
        self.progress = None
        if config.task_signal == "progress":
            mass = np.bincount(self.groups, weights=self._duplicate_weights(), minlength=self.num_groups)
            self.progress = TaskProgress(mass, period=rows.refresh_steps, gamma=self.gamma, min_share=self.min_share)
        self.wants_first_visits = self.progress is not None
        self.empty: np.ndarray | None = None  # groups without a row that can be drawn
        self.last: np.ndarray | None = None  # the shares of the latest refresh

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "TaskShares | None":
        if not config.balances_tasks:
            return None
        return cls(config, rows, built.get("duplicates"))

    def _duplicate_weights(self) -> np.ndarray | None:
        return None if self.duplicates is None else self.duplicates.weights

    def observe(self, observation: Observation) -> None:
        if self.progress is not None:
            o = observation
            self.progress.observe(self.groups[o.rows], o.first, o.loss, o.step)

    def shares(self, scores: Any) -> np.ndarray:
        if self.progress is not None:
            shares = self.progress.shares()
        else:
            shares = task_shares(scores.confidence, self.groups, self.num_groups, self.gamma, self.min_share, self.prior)
        if self.empty is not None:
            shares = np.where(self.empty, 0.0, shares)
            shares /= shares.sum()
        self.last = shares
        return shares

    def drawable_changed(self, drawable: np.ndarray | None) -> None:
        if drawable is None:
            self.empty = None
            return
        counts = np.bincount(self.groups[drawable], minlength=self.num_groups)
        self.empty = counts == 0 if (counts == 0).any() else None
        if self.progress is not None:
            weights = self._duplicate_weights()
            weights = drawable * (1.0 if weights is None else weights)
            self.progress.natural = np.bincount(self.groups, weights=weights, minlength=self.num_groups)

    def set_refresh_steps(self, steps: int) -> None:
        if self.progress is not None:
            self.progress.period = steps

    def state_dict(self) -> dict[str, np.ndarray]:
        return {} if self.progress is None else {f"tasks.{k}": v for k, v in self.progress.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if self.progress is None:
            return
        if "tasks.current" not in state and "tasks.progress" not in state:
            raise ValueError("the checkpoint was saved without task_signal='progress'; resume with the same setting")
        self.progress.load_state_dict({k[len("tasks."):]: v for k, v in state.items() if k.startswith("tasks.")})


# Up to this many tasks each get a `curriculum/task_share/<task>` metric; beyond, the largest shares and a summary.
MAX_LOGGED_TASKS = 16


def share_metrics(names: list[str] | None, shares: np.ndarray | None, limit: int = MAX_LOGGED_TASKS) -> dict[str, float]:
    """The task-share metrics of one refresh: `curriculum/task_share/<task>` for every task when there are at most
    `limit`; otherwise for the `limit // 2` largest shares only, with `curriculum/task_shares/count`, `/entropy`
    (normalised: 1 is equal shares), `/min` and `/max`, so that a group column with thousands of values (a source
    URL, an annotator id) keeps every log line and `trainer_state.json` small.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.factors.task_shares import share_metrics
    >>> share_metrics(["a", "b"], np.array([0.25, 0.75]))
    {'curriculum/task_share/a': 0.25, 'curriculum/task_share/b': 0.75}
    >>> sorted(share_metrics([str(i) for i in range(100)], np.full(100, 0.01), limit=4))[:3]
    ['curriculum/task_share/0', 'curriculum/task_share/1', 'curriculum/task_shares/count']
    ```
    """
    if shares is None or names is None:
        return {}
    shares = np.asarray(shares, dtype=np.float64)
    if shares.size <= limit:
        return {f"curriculum/task_share/{name}": float(share) for name, share in zip(names, shares)}
    top = np.argsort(-shares, kind="stable")[: limit // 2]
    out = {f"curriculum/task_share/{names[i]}": float(shares[i]) for i in sorted(top.tolist())}
    return {**out, "curriculum/task_shares/count": float(shares.size),
            "curriculum/task_shares/entropy": normalized_entropy(shares),
            "curriculum/task_shares/min": float(shares.min()), "curriculum/task_shares/max": float(shares.max())}

