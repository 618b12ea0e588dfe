"""Noise filter: rows down-weighted by their posterior of being a wrong answer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..noise import noise_posterior
from .base import Factor, RowData

__all__ = ["NoiseFilter"]


class NoiseFilter(Factor):
    """Each row's factor 1 - p, p its posterior of the high component of the noise mixture within its group (see
    [`~curriculum.noise.noise_probability`]), fitted to the config's `noise_signal`; on with `noise_filter="mixture"`."""

    name = "noise"

    def __init__(self, signal: str, min_visits: int, groups: np.ndarray | None) -> None:
        self.signal, self.min_visits, self.groups = signal, min_visits, groups

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "NoiseFilter | None":
        if config.noise_filter != "mixture":
            return None
        return cls(config.noise_signal, config.noise_min_visits, rows.groups)

    def row_factor(self, scores: Any) -> np.ndarray:
        return 1.0 - noise_posterior(scores, self.signal, self.min_visits, self.groups)
