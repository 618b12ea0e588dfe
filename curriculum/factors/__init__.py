"""The factors of the sampling weights: one small object per signal, built from the config in registry order."""

from __future__ import annotations

from typing import Any

from .balanced import BalancedFiltering
from .base import Factor, Observation, RowData
from .duplicates import DuplicateWeights
from .noise_filter import NoiseFilter
from .revisit import RevisitPenalty
from .task_shares import TaskShares
from .unscorable import UnscorableRows

__all__ = ["FACTORS", "Factor", "Observation", "RowData", "build_factors"]

# Every factor class, in the order their per-row factors multiply (a factor may ask those before it). A new factor
# is one module and one line here.
FACTORS: tuple[type[Factor], ...] = (
    UnscorableRows, DuplicateWeights, TaskShares, NoiseFilter, RevisitPenalty, BalancedFiltering
)


def build_factors(config: Any, rows: RowData) -> dict[str, Factor]:
    """The factors `config` turns on, by name, in registry order."""
    built: dict[str, Factor] = {}
    for cls in FACTORS:
        factor = cls.build(config, rows, built)
        if factor is not None:
            built[cls.name] = factor
    return built
