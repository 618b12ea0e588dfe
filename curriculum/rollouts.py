"""Per-prompt statistics of GRPO rollout groups (pass rate, reward mean and spread, zero advantage) and their table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GroupStats", "RolloutStats", "group_statistics"]


@dataclass(frozen=True)
class GroupStats:
    """Per prompt group: `pass_rate` in [0, 1] (NaN when no completion has a reward), reward `mean` and `std`
    (the sample standard deviation, as GRPO normalises by), `zero_advantage` (every reward equal: the group trains
    nothing) and `completions` (completions with a reward)."""

    pass_rate: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    zero_advantage: np.ndarray
    completions: np.ndarray


def group_statistics(
    rewards: np.ndarray, num_generations: int, pass_threshold: float = 0.5, pass_rate_from: str = "threshold",
    reward_range: tuple[float, float] = (0.0, 1.0),
) -> GroupStats:
    """Statistics of consecutive groups of `num_generations` rewards (one group per prompt, as GRPO lays them out).

    A NaN reward (every reward function returned None) does not count. The pass rate is the share of completions
    whose reward is at least `pass_threshold`, or with `pass_rate_from="scaled_reward"` the mean reward rescaled
    from `reward_range` to [0, 1] (clipped).

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.rollouts import group_statistics
    >>> s = group_statistics(np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]), 4)
    >>> s.pass_rate.tolist(), s.zero_advantage.tolist()
    ([0.75, 0.0], [False, True])
    ```
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1 or rewards.size % num_generations:
        raise ValueError(
            f"rewards should be a flat array of whole groups of num_generations={num_generations}, but got shape "
            f"{rewards.shape}"
        )
    grouped = rewards.reshape(-1, num_generations)
    valid = np.isfinite(grouped)
    count = valid.sum(axis=1)
    safe = np.where(valid, grouped, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = safe.sum(axis=1) / count
        deviation = np.where(valid, grouped - mean[:, None], 0.0)
        std = np.sqrt((deviation**2).sum(axis=1) / (count - 1))
        if pass_rate_from == "threshold":
            pass_rate = (valid & (safe >= pass_threshold)).sum(axis=1) / count
        else:
            low, high = reward_range
            pass_rate = np.clip((mean - low) / (high - low), 0.0, 1.0)
    std = np.where(count > 1, std, 0.0)
    low = np.where(valid, grouped, np.inf).min(axis=1)
    high = np.where(valid, grouped, -np.inf).max(axis=1)
    zero = (count == 0) | (high <= low)
    return GroupStats(pass_rate, mean, std, zero, count)


class RolloutStats:
    r"""
    The rollout side of the score table under `GRPOTrainer`: per prompt row, the running reward mean and spread and
    how often its group had zero advantage; over the run, the completions generated; and, between two metric
    calls, the zero-advantage share and the pass rates of the prompts rolled out. (The running pass rate itself is
    the score table's `confidence`, and 1 - pass rate its `loss`.)

    Args:
        num_rows (`int`): prompts of the training dataset.
        ema (`float`, *optional*, defaults to `0.5`): weight of the previous value in the running means.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.rollouts import RolloutStats, group_statistics
    >>> stats = RolloutStats(3)
    >>> stats.observe(np.array([2, 0]), group_statistics(np.array([1.0, 1.0, 0.0, 1.0]), 2))
    >>> stats.metrics()["curriculum/zero_advantage_share"], int(stats.completions)
    (0.5, 4)
    ```
    """

    def __init__(self, num_rows: int, ema: float = 0.5) -> None:
        self.ema = float(ema)
        self.reward_mean = np.full(num_rows, np.nan, dtype=np.float32)
        self.reward_std = np.full(num_rows, np.nan, dtype=np.float32)
        self.zero_advantage = np.zeros(num_rows, dtype=np.uint32)
        self.completions = 0
        self.replayed = 0
        self._window: list[GroupStats] = []
        self._window_replayed = 0

    def observe(self, rows: np.ndarray, stats: GroupStats, replayed: int = 0) -> None:
        """Fold in one generation round's groups (`rows[i]` is group i's prompt), in order, and the completions
        replayed (rollout replay) instead of generated that round."""
        rows = np.asarray(rows, dtype=np.int64)
        for k, row in enumerate(rows.tolist()):  # a prompt twice in a round: both groups, in order
            if stats.completions[k] == 0:
                continue
            a = self.ema if np.isfinite(self.reward_mean[row]) else 0.0  # the first visit initialises the means
            self.reward_mean[row] = a * np.nan_to_num(self.reward_mean[row]) + (1 - a) * stats.mean[k]
            self.reward_std[row] = a * np.nan_to_num(self.reward_std[row]) + (1 - a) * stats.std[k]
        np.add.at(self.zero_advantage, rows, stats.zero_advantage.astype(np.uint32))
        self.completions += int(stats.completions.sum())
        self.replayed += int(replayed)
        self._window_replayed += int(replayed)
        self._window.append(stats)

    def metrics(self, group_names: list[str] | None = None) -> dict[str, float]:
        """Since the previous call: the share of groups with zero advantage and the mean and spread of the rolled-out
        prompts' pass rates and the share of replayed completions among those trained on; and the completions
        generated and replayed so far."""
        out: dict[str, float] = {"curriculum/completions": float(self.completions),
                                 "curriculum/replayed_completions": float(self.replayed)}
        if self._window:
            generated = sum(int(s.completions.sum()) for s in self._window)
            total = generated + self._window_replayed
            out["curriculum/replay_share"] = round(self._window_replayed / total, 6) if total else 0.0
            zero = np.concatenate([s.zero_advantage for s in self._window])
            rates = np.concatenate([s.pass_rate for s in self._window])
            rates = rates[np.isfinite(rates)]
            out["curriculum/zero_advantage_share"] = round(float(zero.mean()), 6)
            if rates.size:
                out["curriculum/pass_rate_mean"] = round(float(rates.mean()), 6)
                out["curriculum/pass_rate_std"] = round(float(rates.std()), 6)
        self._window, self._window_replayed = [], 0
        return out

    def set_refresh_steps(self, steps: int) -> None:
        """Nothing depends on the refresh cadence."""

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"rollouts.reward_mean": self.reward_mean.copy(), "rollouts.reward_std": self.reward_std.copy(),
                "rollouts.zero_advantage": self.zero_advantage.copy(),
                "rollouts.completions": np.array(self.completions, dtype=np.int64),
                "rollouts.replayed": np.array(self.replayed, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("reward_mean", "reward_std", "zero_advantage"):
            getattr(self, name)[:] = state[f"rollouts.{name}"]
        self.completions = int(state["rollouts.completions"])
        self.replayed = int(state["rollouts.replayed"])
        self._window, self._window_replayed = [], 0
