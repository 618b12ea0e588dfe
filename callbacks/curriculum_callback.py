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
from ..runtime import Runtime
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
        runtime ([`~curriculum.runtime.Runtime`], *optional*):
            The background thread that folds in each step's observations and draws the blocks they make due; the
            sampler must wait on it (`CurriculumSampler(..., wait=runtime.join)`). Defaults to a new one, which
            the sampler then does not wait on: pass the same runtime to both ([`~curriculum.build_curriculum`]
            does).
        data_columns (`dict[str, str]`, *optional*):
            Per-column digests of the training data ([`~curriculum.resume.column_digests`]), saved so that
            `curriculum report` can refuse another dataset; [`~curriculum.build_curriculum`] passes them.

    Example:

    ```python
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> from curriculum.callbacks import CurriculumCallback
    >>> from curriculum.samplers import CurriculumSampler
    >>> curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none"), 100, global_batch=8)
    >>> from curriculum.runtime import Runtime
    >>> runtime = Runtime()
    >>> sampler = CurriculumSampler(curriculum, seed=0, wait=runtime.join)
    >>> callback = CurriculumCallback(curriculum, sampler, runtime=runtime)
    ```
    """

    def __init__(
        self, curriculum: Curriculum, sampler: CurriculumSampler, data_fingerprint: str | None = None,
        runtime: Runtime | None = None, data_columns: dict[str, str] | None = None,
    ) -> None:
        self.curriculum = curriculum
        self.sampler = sampler
        self.runtime = runtime or Runtime()
        self.data_fingerprint = data_fingerprint
        self.data_columns = data_columns
        self.capture = LossCapture()

    # ------------------------------------------------------------------ events

    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        # After a resume, `SkipBatchSampler(BatchSamplerShard(...))` never forwards `set_epoch`, so do it here.
        self.sampler.set_epoch(int(state.epoch or 0))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        # At most a step's rows per process (the global batch's share): the gather is then asynchronous.
        rows = self.capture.start_gather(capacity=self.curriculum.global_batch // world_size())
        step = state.global_step
        record = self.sampler.step_record(step, self.curriculum.block_size)
        # Folded in by the background thread, in stream order with the draws: the loop waits neither for the fold nor
        # for the GPU to finish the step (the rows' copy to the host is waited for in that thread).
        self.runtime.submit(self._observe, rows, step, None if record is None else record[1])
        if record is not None and world_size() > 1 and step % self.curriculum.refresh_steps == 0:
            # At refresh points, compare a digest of the stream consumed since the last one across processes.
            check_same_stream(record[0], where=f"step {step}, epoch {state.epoch}")
        draw = self.sampler.claim(self.curriculum.position(step))
        if draw is not None:
            self.runtime.submit(draw)

    def _observe(self, rows: StepRows, step: int, replayed: np.ndarray | None) -> None:
        ids, loss, confidence, tokens = rows.result()
        self.curriculum.observe(ids, loss, confidence, step=step, replayed=replayed, tokens=tokens)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs):
        self.runtime.close()  # the state is final once training returns, and no thread outlives it

    def metrics(self) -> dict[str, float]:
        """[`Curriculum.metrics`], once the background thread has folded in every step handed to it."""
        self.runtime.join()
        return self.curriculum.metrics()

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """`(arrays, meta)`: the curriculum's and the sampler's arrays, and the JSON-serialisable rest."""
        self.runtime.join()
        sampler_state = self.sampler.state_dict()
        arrays = {f"curriculum.{k}": v for k, v in self.curriculum.state_dict().items()}
        for key in _SAMPLER_ARRAYS:
            if key in sampler_state:
                arrays[f"sampler.{key}"] = sampler_state.pop(key)
        meta = {"format": _FORMAT, "sampler": sampler_state, "fingerprint": self.fingerprint()}
        if self.data_columns:
            meta["data_columns"] = self.data_columns  # for `curriculum report`'s check of the dataset it is given
        return arrays, meta

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
        self.runtime.join()
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
