"""Rows that can never be scored (no supervised token), never drawn; observations with a non-finite loss, counted."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .base import Factor, RowData

__all__ = ["UnscorableRows"]

logger = logging.getLogger(__name__)


class UnscorableRows(Factor):
    """The rows without a supervised token (every label is -100), given at build or found in training: they get
    probability 0 (also in the `uniform_mix` part). Also counts the observations with a non-finite loss or confidence
    (usually an fp16 overflow), which are not scored. Always on."""

    name = "unscorable"

    def __init__(self, num_rows: int, mask: np.ndarray | None = None) -> None:
        self.num_rows = num_rows
        self.mask: np.ndarray | None = None  # None while there is none: no memory
        self.count = 0
        self.nonfinite_rows = 0
        self._warned = False
        if mask is not None:
            self.set(_mask(mask, num_rows))
            if self.count:
                logger.warning(
                    f"curriculum: {self.count} of {num_rows} rows have no supervised token (every label is -100); "
                    "they are never drawn"
                )

    @classmethod
    def build(cls, config: Any, rows: RowData, built: dict[str, Factor]) -> "UnscorableRows":
        return cls(rows.num_rows, rows.unscorable)

    @property
    def rows(self) -> np.ndarray:
        """Boolean mask of the rows known to have no supervised token (read-only)."""
        if self.mask is None:
            return np.broadcast_to(np.False_, (self.num_rows,))
        return self.mask

    def drawable(self) -> np.ndarray | None:
        return None if self.mask is None else ~self.mask

    def set(self, mask: np.ndarray) -> None:
        count = int(np.count_nonzero(mask))
        if count == self.num_rows:
            raise ValueError(
                f"all {self.num_rows} training rows have no supervised token (every label is -100), so there "
                "is nothing to train on or score: check that the data (or the collator) sets `labels` to the token "
                "ids to learn, with -100 only on the positions without loss"
            )
        self.mask = mask if count else None
        self.count = count

    def screen(
        self, rows: np.ndarray, loss: np.ndarray, confidence: np.ndarray, tokens: np.ndarray | None, step: int
    ) -> tuple[np.ndarray | None, bool]:
        """Mark the rows without a supervised token and count the non-finite observations. Returns the mask of the
        observations to score (None when all are) and whether the unscorable rows changed."""
        keep = np.isfinite(np.asarray(loss, dtype=np.float32)) & np.isfinite(np.asarray(confidence, dtype=np.float32))
        changed = False
        if tokens is not None:
            unsupervised = np.asarray(tokens) == 0
            if unsupervised.any():
                fresh = np.unique(rows[unsupervised & ~self.rows[rows]])
                if fresh.size:
                    mask = self.rows.copy()
                    mask[fresh] = True
                    self.set(mask)
                    changed = True
                keep &= ~unsupervised
                self._count_nonfinite(int(np.count_nonzero(~keep & ~unsupervised)), step)
                return keep, changed
        if keep.all():
            return None, changed
        self._count_nonfinite(int(np.count_nonzero(~keep)), step)
        return keep, changed

    def _count_nonfinite(self, count: int, step: int) -> None:
        if not count:
            return
        self.nonfinite_rows += count
        if not self._warned:
            self._warned = True
            logger.warning(
                f"curriculum: {count} row observation(s) at step {step} had a non-finite loss or confidence "
                "(inf or NaN) and were not scored (counted in curriculum/nonfinite_rows; warned once). The usual "
                "cause is an fp16 overflow: train with bf16=True, or keep fp16 with its loss scaling and check the "
                "learning rate."
            )

    def metrics(self, group_names: list[str] | None) -> dict[str, float]:
        return {"curriculum/nonfinite_rows": self.nonfinite_rows, "curriculum/unscorable_rows": self.count}

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"unscorable": self.rows.copy(), "nonfinite_rows": np.array(self.nonfinite_rows, dtype=np.int64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the count and add the saved unscorable rows to those known now (older checkpoints have none)."""
        if "unscorable" in state:
            saved = np.asarray(state["unscorable"], dtype=bool)
            if saved.shape != (self.num_rows,):
                raise ValueError(
                    f"the saved unscorable mask has {saved.size} rows but the training dataset has {self.num_rows}; "
                    "resume with the same training dataset"
                )
            self.set(saved | self.rows)
        self.nonfinite_rows = int(state.get("nonfinite_rows", 0))


def _mask(values: np.ndarray, num_rows: int) -> np.ndarray:
    """`values` as a boolean mask of `num_rows` rows."""
    mask = np.asarray(values, dtype=bool)
    if mask.shape != (num_rows,):
        raise ValueError(f"unscorable should be a boolean mask of the {num_rows} rows, but got shape {mask.shape}")
    return mask.copy()
