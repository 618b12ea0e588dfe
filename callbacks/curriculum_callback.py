"""`CurriculumCallback`: the adapter between a `Trainer`'s events and a `Curriculum` (capture, epochs, checkpoints)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..capture import LossCapture, StepRows
from ..checkpoint import STATE_FILE, load_state, save_state
from ..core import Curriculum
from ..distributed import check_same_stream, world_size
from ..resume import check_fingerprint, run_fingerprint
from ..samplers import CurriculumSampler

__all__ = ["CurriculumCallback"]

_FORMAT = 6  # 5: no last_step, uint16 visit counts, an int32 stream; 6: task progress on first visits, the pass drawn
# Sampler state kept as arrays in the state file (the rest goes to its JSON part).
_SAMPLER_ARRAYS = ("stream", "replayed", "taken")


class CurriculumCallback(TrainerCallback):
    r"""
    Runs a [`~curriculum.Curriculum`] inside a `transformers.Trainer`.

    Each optimizer step it gathers the (row, loss, confidence) triples of every process's micro-batches and hands
    them to [`Curriculum.observe`] in rank order (so every process holds the identical state). It keeps the
    sampler's epoch in step (`on_epoch_begin`). [`save`] writes the curriculum, the sampler's stream and a
    fingerprint of the run to `checkpoint-N/curriculum_state.npz` (atomically); the Trainer calls it through
    [`~curriculum.CurriculumTrainerMixin`] while it writes the checkpoint, before it deletes older ones. [`load`]
    refuses a checkpoint saved by another set-up, naming what changed. The Trainer's logs get
    [`Curriculum.metrics`] through the mixin.

    It needs the Trainer to route the row indices and to train on `sampler`: use [`~curriculum.attach`], or a
    Trainer class with [`~curriculum.CurriculumTrainerMixin`] first in its bases.

    Args:
        curriculum ([`~curriculum.Curriculum`]):
            The curriculum to run.
        sampler ([`~curriculum.samplers.CurriculumSampler`]):
            The sampler that draws the training stream from it.
        data_fingerprint (`str`, *optional*):
            A digest of the training data ([`~curriculum.resume.data_fingerprint`]); a resume with other data is then
            refused. [`~curriculum.build_curriculum`] passes it.

    Example:

    ```python
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> from curriculum.callbacks import CurriculumCallback
    >>> from curriculum.samplers import CurriculumSampler
    >>> curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none"), 100, global_batch=8)
    >>> callback = CurriculumCallback(curriculum, CurriculumSampler(curriculum, seed=0))
    ```
    """

    def __init__(self, curriculum: Curriculum, sampler: CurriculumSampler, data_fingerprint: str | None = None) -> None:
        if sampler.curriculum is not curriculum:
            raise ValueError("the sampler should be a view of this curriculum: CurriculumSampler(curriculum, seed)")
        self.curriculum = curriculum
        self.sampler = sampler
        self.data_fingerprint = data_fingerprint
        self.capture = LossCapture()

    # ------------------------------------------------------------------ events

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        # After a resume, `SkipBatchSampler(BatchSamplerShard(...))` never forwards `set_epoch`, so do it here.
        self.sampler.set_epoch(int(state.epoch or 0))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        rows = self.capture.start_gather()
        step = state.global_step
        window = self.sampler.consumed(step)
        replayed = None if window is None else self.sampler.replayed[window].copy()
        # Folded in by the background thread, in stream order with the draws: the loop waits neither for the fold nor
        # for the GPU to finish the step (the rows' copy to the host is waited for in that thread).
        self.sampler.submit(self._observe, rows, step, replayed)
        self._check_stream(step, window)
        self.sampler.advance(self.curriculum.position(step))

    def _observe(self, rows: StepRows, step: int, replayed: np.ndarray | None) -> None:
        ids, loss, confidence, tokens = rows.result()
        self.curriculum.observe(ids, loss, confidence, step=step, replayed=replayed, tokens=tokens)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.sampler.close()  # the state is final once training returns, and no thread outlives it

    def metrics(self) -> dict[str, float]:
        """[`Curriculum.metrics`], once the background thread has folded in every step handed to it."""
        self.sampler.join()
        return self.curriculum.metrics()

    def _check_stream(self, step: int, window: slice | None) -> None:
        """At refresh points, compare a digest of the stream consumed since the last one across processes."""
        if world_size() == 1 or window is None or step % self.curriculum.refresh_steps:
            return
        segment = self.sampler.drawn[max(0, window.stop - self.curriculum.block_size) : window.stop]
        check_same_stream(segment, where=f"step {step}, epoch {self.sampler.epoch}")

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """`(arrays, meta)`: the curriculum's and the sampler's arrays, and the JSON-serialisable rest."""
        sampler_state = self.sampler.state_dict()
        arrays = {f"curriculum.{k}": v for k, v in self.curriculum.state_dict().items()}
        for key in _SAMPLER_ARRAYS:
            if key in sampler_state:
                arrays[f"sampler.{key}"] = sampler_state.pop(key)
        return arrays, {"format": _FORMAT, "sampler": sampler_state, "fingerprint": self.fingerprint()}

    def fingerprint(self) -> dict[str, Any]:
        """What a resume must match: the data's digest, the config, the budget, the seed and the global batch."""
        c = self.curriculum
        return run_fingerprint(c.config, self.data_fingerprint, global_batch=c.global_batch,
                               epoch_length=c.epoch_length, budget=c.budget, seed=self.sampler.seed)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], path: str = "the checkpoint") -> None:
        if meta.get("format") != _FORMAT:
            raise ValueError(
                f"the curriculum state has format {meta.get('format')!r} but this version reads format {_FORMAT}; "
                "resume with the version that wrote it, or start a new run"
            )
        check_fingerprint(meta["fingerprint"], self.fingerprint(), self.curriculum.config.resume_allow_changes, path)
        prefix = "curriculum."
        self.curriculum.load_state_dict({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        stream = {key: arrays[f"sampler.{key}"] for key in _SAMPLER_ARRAYS if f"sampler.{key}" in arrays}
        self.sampler.load_state_dict({**meta["sampler"], **stream})

    def save(self, folder: str | os.PathLike) -> None:
        """Write the curriculum's state to `folder/curriculum_state.npz` atomically."""
        save_state(os.path.join(folder, STATE_FILE), *self.state_dict())

    def load(self, folder: str | os.PathLike) -> None:
        """Restore the state written by [`save`] into `folder`."""
        path = os.path.join(folder, STATE_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} does not exist: the checkpoint was not written by a run with the curriculum attached (or "
                "the run stopped while saving it). Resume from a checkpoint that has it, or start a new run."
            )
        self.load_state_dict(*load_state(path), path=folder)
