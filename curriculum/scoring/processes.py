"""The process state of a scoring run: several processes under `torchrun`/`accelerate launch`, on CPU too."""

from __future__ import annotations

from typing import Any

__all__: list[str] = []


def _has_accelerator() -> bool:
    import torch

    accelerator = getattr(torch, "accelerator", None)
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def process_state() -> Any:
    """
    The `accelerate.PartialState` of this process, created on first use.

    Without a GPU (or another accelerator), a plain `PartialState()` treats every process that `torchrun` started as
    a separate one-process run; here it is created with `cpu=True` so that the processes form one gloo group, as
    `TrainingArguments(use_cpu=True)` does. A state already created (by a `Trainer` or an `Accelerator`) is reused.

    Example:

    ```python
    >>> from curriculum.scoring.processes import process_state
    >>> state = process_state()
    >>> state.num_processes >= 1 and 0 <= state.process_index < state.num_processes
    True
    ```
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    if getattr(PartialState, "_shared_state", None):
        return PartialState()
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not _has_accelerator())
