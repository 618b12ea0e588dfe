"""The interface every factor of the sampling weights implements, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["Factor", "Observation", "RowData"]


@dataclass(frozen=True)
class RowData:
    """What a factor may know about the rows when it is built: their number, their group (task) codes and the
    number of groups, their score sharing, the per-row inputs of the config's columns, the refresh cadence, and the
    completions per prompt (`num_generations`, under `GRPOTrainer`)."""

    num_rows: int
    groups: np.ndarray | None = None
    num_groups: int = 0
    sharing: Any = None
    copies_of: np.ndarray | None = None
    confidence_prior: np.ndarray | None = None
    unscorable: np.ndarray | None = None
    refresh_steps: int = 1
    num_generations: int = 1


@dataclass(frozen=True)
class Observation:
    """One optimizer step's scorable observations: rows, their loss and confidence, whether each is the row's first
    visit (a row twice in the step: its first occurrence only; None unless a factor `wants_first_visits`), and the
    step."""

    rows: np.ndarray
    loss: np.ndarray
    confidence: np.ndarray
    first: np.ndarray | None
    step: int


class Factor:
    """One part of the sampling weights. A factor observes training steps, contributes at each refresh a per-row
    factor, per-group shares or the rows that can be drawn, reports metrics and checkpoints its own state. Every
    method has a neutral default, so a factor implements only what it uses.

    `build` returns the factor when the config turns it on (None otherwise); `built` holds the factors built before
    it, by name, for those it asks (a factor never changes another's state). A new factor is a subclass in its own
    module and one line in `curriculum.factors.FACTORS`.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.factors import Factor, RowData
    >>> class EvenRows(Factor):  # rows of even index weigh twice as much
    ...     name = "even"
    ...     @classmethod
    ...     def build(cls, config, rows, built):
    ...         return cls()
    ...     def row_factor(self, scores):
    ...         return np.where(np.arange(len(scores)) % 2 == 0, 2.0, 1.0)
    >>> from curriculum.scores import ScoreTable
    >>> EvenRows.build(None, RowData(num_rows=4), {}).row_factor(ScoreTable(4)).tolist()
    [2.0, 1.0, 2.0, 1.0]
    ```
    """

    name: ClassVar[str] = ""
    # Whether `observe` reads `Observation.first` (computing it costs a lookup and a sort of the step's rows).
    wants_first_visits: bool = False

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, "Factor"]) -> "Factor | None":
        raise NotImplementedError

    def observe(self, observation: Observation) -> None:
        """Fold in one optimizer step's scorable observations (before the score table does)."""

    def row_factor(self, scores: Any) -> np.ndarray | None:
        """Per-row factor of the weights at a refresh (None: 1 for every row)."""
        return None

    def shares(self, scores: Any) -> np.ndarray | None:
        """Per-group shares of the sampling mass at a refresh (None: no group balance)."""
        return None

    def share_factor(self, scores: Any) -> np.ndarray | None:
        """Per-group factor of the shares at a refresh, called after `row_factor` (None: 1 for every group)."""
        return None

    def drawable(self) -> np.ndarray | None:
        """Mask of the rows that can be drawn at all (None: every row)."""
        return None

    def drawable_changed(self, drawable: np.ndarray | None) -> None:
        """The rows that can be drawn changed (None: all of them)."""

    def set_refresh_steps(self, steps: int) -> None:
        """The refresh cadence changed (an elastic resume counts it in the new run's steps)."""

    def metrics(self, group_names: list[str] | None) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore from the whole checkpoint state (a factor reads its own keys)."""
