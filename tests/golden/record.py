"""Fixed real-Trainer runs whose streams, score tables and logged metrics must not change under a refactor.

`python tests/golden/record.py record` writes `tests/golden/records.npz` from the current code; `python
tests/golden/record.py check` reruns every case and compares bit for bit, naming the first difference. Run `record`
on the commit before a change that must keep behaviour, `check` after it. Not part of the test suite: float results
may differ across CPUs, so the records hold for the machine that wrote them.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from conftest import StopAt, make_trainer, record_trained_rows  # noqa: E402

RECORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "records.npz")
TABLE = ("loss", "confidence", "first_loss", "confidence_var", "count")


def _graded(kind: str, tokenizer: Any, rows: int = 48, copies: int = 0, unscorable: tuple[int, ...] = ()) -> Any:
    from datasets import concatenate_datasets

    from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm

    data = make_graded_dataset(rows, seed=2)
    if copies:  # the first `copies` rows again at the end: duplicates for score sharing
        data = concatenate_datasets([data, data.select(range(copies))])
    if kind == "trainer":
        data = tokenize_for_causal_lm(data, tokenizer)
        if unscorable:
            data = data.map(lambda r, i: {"labels": [-100] * len(r["labels"]) if i in unscorable else r["labels"]},
                            with_indices=True)
    return data


def _settings(**changes: Any) -> Any:
    from curriculum import CurriculumConfig

    return CurriculumConfig(**{"group_column": "task", "refresh_every_steps": 2, "start": 0.0, "end": 1.0, **changes})


CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # name: (trainer kind, dataset options, config changes)
    "sft-defaults-progress-shares": ("sft", {}, {}),
    "trainer-replay-confidence-shares-with-replacement": (
        "trainer", {}, {"replay_share": 0.25, "replay_buffer_size": 8, "replay_threshold": 0.5,
                        "task_signal": "confidence", "task_balance": True, "replacement": True, "revisit_penalty": 1.0}),
    "trainer-duplicates-noise-weighted-passes": (
        "trainer", {"copies": 16}, {"share_scores": "duplicates", "noise_filter": "mixture", "noise_min_visits": 1,
                                    "pass_order": "weighted"}),
    "sft-near-duplicates-gap-noise": (
        "sft", {"copies": 16}, {"share_scores": "near_duplicates", "noise_filter": "mixture", "noise_signal": "gap"}),
    "trainer-unscorable-rows-unique-budget": (
        "trainer", {"unscorable": (3, 7, 11)}, {"budget_unit": "unique_rows", "revisit_penalty": 0.5}),
}


def _run(kind: str, dataset: Any, tokenizer: Any, out: str, config: Any, resume: str | None = None,
         **args: Any) -> tuple[Any, Any, list]:
    trainer, handle = make_trainer(kind, dataset, tokenizer, out, config=config, learning_rate=3e-3, **args)
    rows = record_trained_rows(handle)
    trainer.train(resume_from_checkpoint=resume)
    return trainer, handle, rows


def _record(trainer: Any, handle: Any, rows: list) -> dict[str, np.ndarray]:
    metrics = [{k: v for k, v in entry.items() if k.startswith("curriculum/")} for entry in trainer.state.log_history]
    out = {f"table/{name}": np.asarray(getattr(handle.scores, name)) for name in TABLE}
    out["stream"] = np.concatenate(rows)
    out["drawn"] = np.asarray(handle.sampler.drawn)
    out["replayed"] = np.asarray(handle.sampler.replayed)
    out["metrics"] = np.frombuffer(json.dumps(metrics, sort_keys=True).encode(), dtype=np.uint8)
    return out


def _case(name: str, tokenizer: Any, root: str) -> dict[str, np.ndarray]:
    kind, data_options, changes = CASES[name]
    trainer, handle, rows = _run(kind, _graded(kind, tokenizer, **data_options), tokenizer, os.path.join(root, name),
                                 _settings(**changes), max_steps=12)
    return _record(trainer, handle, rows)


def _elastic(tokenizer: Any, root: str) -> dict[str, np.ndarray]:
    """A run of 64 samples in global batches of 8 stopped after its checkpoint at step 2, resumed in batches of 4."""
    dataset = _graded("trainer", tokenizer)
    out = os.path.join(root, "elastic")
    _run("trainer", dataset, tokenizer, out, _settings(), max_steps=8, save_steps=2, callbacks=[StopAt(3)])
    trainer, handle, rows = _run("trainer", dataset, tokenizer, out, _settings(), max_steps=16, batch_size=2,
                                 resume=os.path.join(out, "checkpoint-2"))
    return _record(trainer, handle, rows)


def run_all() -> dict[str, np.ndarray]:
    from curriculum.toy import make_tokenizer

    tokenizer = make_tokenizer()
    runs: dict[str, Callable[[str], dict[str, np.ndarray]]] = {name: (lambda root, n=name: _case(n, tokenizer, root))
                                                                for name in CASES}
    runs["trainer-elastic-resume"] = lambda root: _elastic(tokenizer, root)
    records = {}
    with tempfile.TemporaryDirectory() as root:
        for name, run in runs.items():
            for key, value in run(root).items():
                records[f"{name}/{key}"] = value
    return records


def main(argv: list[str]) -> int:
    if argv[1:] not in (["record"], ["check"]):
        print(__doc__, file=sys.stderr)
        return 2
    records = run_all()
    if argv[1] == "record":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **records)
        with open(RECORDS, "wb") as f:
            f.write(buffer.getvalue())
        print(f"recorded {len(records)} arrays to {RECORDS}")
        return 0
    saved = dict(np.load(RECORDS))
    differ = sorted(set(saved) ^ set(records))
    differ += [k for k in sorted(set(saved) & set(records))
               if saved[k].shape != records[k].shape or not np.array_equal(saved[k], records[k], equal_nan=True)]
    for key in differ:
        print(f"differs: {key}")
    print(f"{len(records) - len(differ)} of {len(records)} arrays identical")
    return 1 if differ else 0


if __name__ == "__main__":
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    sys.exit(main(sys.argv))
