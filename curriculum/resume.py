"""Resuming: the newest complete checkpoint, and a fingerprint that refuses to resume into a changed set-up."""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

import numpy as np
from transformers.utils import logging

from .checkpoint import STATE_FILE
from .config import CurriculumConfig
from .distributed import common_values

__all__: list[str] = []

logger = logging.get_logger(__name__)

TRAINER_STATE = "trainer_state.json"  # written by the Trainer last, after the model, optimizer and curriculum
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# Rows read for the data fingerprint, spread evenly over the dataset (first and last included).
FINGERPRINT_ROWS = 1024


# ---------------------------------------------------------------------- the checkpoint to resume from


def missing_files(folder: str) -> list[str]:
    """The files a complete checkpoint has that `folder` lacks: the curriculum's state and the Trainer's state,
    which the Trainer writes after everything else (and before it deletes older checkpoints)."""
    return [name for name in (STATE_FILE, TRAINER_STATE) if not os.path.isfile(os.path.join(folder, name))]


def newest_complete_checkpoint(output_dir: str) -> str:
    """The newest `checkpoint-N` of `output_dir` that is complete on every process (each node may have its own
    output directory), warning about each newer one skipped; raises when there is none."""
    found = []
    if os.path.isdir(output_dir):
        found = sorted(
            ((int(m.group(1)), entry.path) for entry in os.scandir(output_dir) if (m := _CHECKPOINT.match(entry.name))),
            reverse=True,
        )
    complete = [step for step, path in found if not missing_files(path)]
    steps = common_values(complete)
    if not steps:
        raise ValueError(
            f"no complete checkpoint in {output_dir} (one with {STATE_FILE} and {TRAINER_STATE}"
            f"{' on every process' if len(complete) else ''}): train without resume_from_checkpoint, or pass the "
            "path of a checkpoint saved with the curriculum attached"
        )
    chosen = max(steps)
    for step, path in found:
        if step > chosen:
            lacking = missing_files(path)
            why = f"it lacks {', '.join(lacking)}" if lacking else "another process's copy of it is incomplete"
            logger.warning(
                f"curriculum: skipping the incomplete checkpoint {path} ({why}: the run was probably stopped while "
                f"saving it); resuming from checkpoint-{chosen}"
            )
    return os.path.join(output_dir, f"checkpoint-{chosen}")


# ---------------------------------------------------------------------- the fingerprint of a run


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for a cell JSON cannot write: arrays as lists, bytes by their digest, anything else by
    its type (its repr may hold a memory address, which would differ between runs)."""
    if hasattr(value, "tolist"):  # NumPy arrays and scalars, torch tensors
        return value.tolist()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return hashlib.blake2b(bytes(value), digest_size=16).hexdigest()
    return type(value).__name__


def data_fingerprint(dataset: Any) -> str:
    """A digest of the training data: its length, its column names and the content of `FINGERPRINT_ROWS` rows
    spread evenly over it. A reordered, filtered, grown or re-tokenised dataset gets another digest; an edit to a
    few rows outside the sample does not.

    Example:

    ```python
    >>> from curriculum.resume import data_fingerprint
    >>> rows = [{"text": t} for t in ("a", "b", "c")]
    >>> data_fingerprint(rows) == data_fingerprint(list(rows)), data_fingerprint(rows) == data_fingerprint(rows[::-1])
    (True, False)
    ```
    """
    n = len(dataset)
    picked = np.unique(np.linspace(0, n - 1, num=min(n, FINGERPRINT_ROWS)).round().astype(np.int64)).tolist()
    digest = hashlib.blake2b(digest_size=16)
    columns = getattr(dataset, "column_names", None)
    digest.update(json.dumps([n, columns]).encode())
    if columns is not None and hasattr(dataset, "select"):  # a `datasets.Dataset`: one batched read
        content = dataset.select(picked).to_dict()
        digest.update(json.dumps(content, sort_keys=True, default=_plain).encode())
    else:
        for i in picked:
            digest.update(json.dumps(dataset[i], sort_keys=True, default=_plain).encode())
    return digest.hexdigest()


def column_digests(dataset: Any) -> dict[str, str]:
    """Per column, a digest of its values in the rows [`data_fingerprint`] samples (columns with one value in every
    sampled row left out): what `curriculum report` compares on the columns a checkpoint's training data and a given
    dataset share (a trainer's dataset gains columns, such as `input_ids`, that the file it was read from lacks, and
    may rewrite some, as `SFTTrainer` appends the EOS to `completion`). Empty for data without named columns.

    Example:

    ```python
    >>> from curriculum.resume import column_digests
    >>> rows = [{"text": t, "n": i} for i, t in enumerate("abc")]
    >>> a, b = column_digests(rows), column_digests([{**r, "text": r["text"].upper()} for r in rows])
    >>> a["n"] == b["n"], a["text"] == b["text"]
    (True, False)
    ```
    """
    n = len(dataset)
    if n == 0:
        return {}
    picked = np.unique(np.linspace(0, n - 1, num=min(n, FINGERPRINT_ROWS)).round().astype(np.int64)).tolist()
    if hasattr(dataset, "column_names") and hasattr(dataset, "select"):  # a `datasets.Dataset`: one batched read
        content = dataset.select(picked).to_dict()
    elif isinstance(dataset[0], dict):
        rows = [dataset[i] for i in picked]
        content = {key: [row.get(key) for row in rows] for key in rows[0]}
    else:
        return {}
    out = {}
    for key, values in content.items():
        text = [json.dumps(v, sort_keys=True, default=_plain) for v in values]
        if len(set(text)) > 1:  # a column with one value in every sampled row tells no order apart
            out[str(key)] = hashlib.blake2b(json.dumps([n, text]).encode(), digest_size=16).hexdigest()
    return out


def check_same_data(saved: dict[str, str] | None, dataset: Any, where: str) -> list[str]:
    """Raise when every column `dataset` shares with the digests `saved` by [`column_digests`] holds other values
    in the same rows (another dataset, or the same rows in another order; one column alike is enough to pass, as a
    trainer may rewrite others); returns the columns compared (none when the checkpoint has no digests)."""
    if not saved:
        return []
    mine = column_digests(dataset)
    shared = sorted(set(saved) & set(mine))
    differ = [name for name in shared if saved[name] != mine[name]]
    if differ and len(differ) == len(shared):
        raise ValueError(
            f"{where}: the dataset is not the training data of the run that saved it: its column(s) {differ} hold "
            "other values in the same rows (other rows, or the same rows in another order). Pass the run's own "
            "training data, in its order."
        )
    return shared


def run_fingerprint(config: CurriculumConfig, data: str | None, *, global_batch: int, epoch_length: int,
                    budget: int, seed: int) -> dict[str, Any]:
    """What must match between the run that saved a checkpoint and the run resuming from it."""
    settings = {k: v for k, v in config.to_dict().items() if k != "resume_allow_changes"}
    return {"data": data, "budget": budget, "seed": seed, "global_batch": global_batch,
            "epoch_length": epoch_length, "config": settings}


def check_fingerprint(saved: dict[str, Any], current: dict[str, Any], allowed: list[str], path: str) -> None:
    """Raise naming every difference between `saved` and `current` that `allowed` (`resume_allow_changes`) does not
    list. The global batch may change (the curriculum continues the saved stream in the new batches)."""
    changed = []
    for key in ("data", "budget", "seed"):
        if saved[key] != current[key] and saved[key] is not None and current[key] is not None and key not in allowed:
            changed.append(key)
    old, new = saved["config"], current["config"]
    changed += [k for k in new if k not in allowed and k in old and old[k] != new[k]]
    if not changed:
        return
    what = {
        "data": "the training data (its rows, their order or their columns) differs, so the saved scores would "
        "belong to other rows",
        "budget": f"the budget was {saved['budget']} samples and is now {current['budget']} (max_steps, epochs or "
        "budget_samples changed), so the schedule would jump"
        + (f"; with this run's global batch of {current['global_batch']}, max_steps="
           f"{saved['budget'] // current['global_batch']} keeps it"
           if saved["global_batch"] != current["global_batch"] and saved["budget"] % current["global_batch"] == 0
           else ""),
        "seed": f"the sampler seed was {saved['seed']} and is now {current['seed']}",
    }
    lines = [what.get(k, f"{k} was {old.get(k)!r} and is now {new.get(k)!r}") for k in changed]
    raise ValueError(
        f"cannot resume from {path}: it was saved by another set-up: " + "; ".join(lines) + ". Resume with the "
        "set-up that saved it, or, to change it deliberately, set resume_allow_changes: "
        f"[{', '.join(changed)}] in the curriculum config"
    )
