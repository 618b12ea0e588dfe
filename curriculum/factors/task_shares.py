"""Task shares: each group's share of the sampling mass, by learning progress or by inverse confidence."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..progress import TaskProgress
from ..weights import task_shares
from .base import Factor, Observation, RowData

__all__ = ["TaskShares"]


class TaskShares(Factor):
    """Per-task shares, on with task balance (`task_balance`, by default whenever `group_column` is set).

    `task_signal="progress"`: [`~curriculum.progress.TaskProgress`] on first-visit losses, around each task's
    natural mass (its drawable rows, each weighing its duplicate weight). `task_signal="confidence"`:
    [`~curriculum.weights.task_shares`] from the rows' running confidence, with the offline `confidence_prior` for
    tasks not trained on yet. A task whose every row is unscorable gets nothing; the others share its mass."""

    name = "tasks"

    def __init__(self, config: Any, rows: RowData, duplicate_weights: np.ndarray | None) -> None:
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
        self.duplicate_weights = duplicate_weights
        self.progress = None
        if config.task_signal == "progress":
            mass = np.bincount(self.groups, weights=duplicate_weights, minlength=self.num_groups)
            self.progress = TaskProgress(mass, period=rows.refresh_steps, gamma=self.gamma, min_share=self.min_share)
        self.wants_first_visits = self.progress is not None
        self.empty: np.ndarray | None = None  # groups without a row that can be drawn
        self.last: np.ndarray | None = None  # the shares of the latest refresh

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "TaskShares | None":
        if not config.balances_tasks:
            return None
        duplicates = built.get("duplicates")
        return cls(config, rows, None if duplicates is None else duplicates.weights)

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
            weights = drawable * (1.0 if self.duplicate_weights is None else self.duplicate_weights)
            self.progress.natural = np.bincount(self.groups, weights=weights, minlength=self.num_groups)

    def set_refresh_steps(self, steps: int) -> None:
        if self.progress is not None:
            self.progress.period = steps

    def metrics(self, group_names: list[str] | None) -> dict[str, float]:
        if self.last is None or group_names is None:
            return {}
        return {f"curriculum/task_share/{name}": float(share) for name, share in zip(group_names, self.last)}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {} if self.progress is None else {f"tasks.{k}": v for k, v in self.progress.state_dict().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if self.progress is None:
            return
        if "tasks.current" not in state and "tasks.progress" not in state:
            raise ValueError("the checkpoint was saved without task_signal='progress'; resume with the same setting")
        self.progress.load_state_dict({k[len("tasks."):]: v for k, v in state.items() if k.startswith("tasks.")})
