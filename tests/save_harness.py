"""Fault injection: a short `Trainer` run with the curriculum that SIGKILLs itself at a chosen point of a save.

Launched by tests/integration/test_preemption.py. Checkpoints every 4 of 10 steps; `--kill POINT` kills the process while it
writes `checkpoint-8`: before the curriculum's file (`before_state`), halfway through writing it (`during_state`,
leaving a partial temporary file), right after it (`after_state`, before the Trainer's own state and the rotation
of older checkpoints), or once the whole checkpoint is written (`after_checkpoint`). `--dump FILE` writes the final
score table and the rows trained at each step.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

import curriculum.callbacks.curriculum_callback as callback_module  # noqa: E402
from conftest import make_trainer, record_trained_rows  # noqa: E402
from curriculum import CurriculumConfig  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tokenizer, tokenize_for_causal_lm  # noqa: E402

MAX_STEPS, SAVE_STEPS, KILL_STEP = 10, 4, 8
POINTS = ("none", "before_state", "during_state", "after_state", "after_checkpoint")


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def inject(point: str) -> None:
    """Make the save of checkpoint-KILL_STEP kill the process at `point`."""
    original = callback_module.save_state

    def save_state(path, arrays, meta):
        if os.path.basename(os.path.dirname(path)) != f"checkpoint-{KILL_STEP}":
            return original(path, arrays, meta)
        if point == "before_state":
            die()
        if point == "during_state":
            fd, tmp = tempfile.mkstemp(prefix=".curriculum_state.", suffix=".tmp", dir=os.path.dirname(path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"PK\x03\x04" + b"\0" * 60)  # the start of a zip archive, then nothing
                fh.flush()
                os.fsync(fh.fileno())
            die()
        original(path, arrays, meta)
        if point == "after_state":
            die()

    callback_module.save_state = save_state


class KillAfterCheckpoint(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        if state.global_step == KILL_STEP:
            die()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--kill", choices=POINTS, default="none")
    p.add_argument("--save-total-limit", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="train(resume_from_checkpoint=True)")
    p.add_argument("--dump", default=None)
    a = p.parse_args()

    if a.kill in ("before_state", "during_state", "after_state"):
        inject(a.kill)
    tokenizer = make_tokenizer()
    dataset = tokenize_for_causal_lm(make_graded_dataset(48, seed=2), tokenizer)
    config = CurriculumConfig(group_column="task", refresh_every_steps=1, start=0.0, end=1.0, width=0.1)
    trainer, handle = make_trainer(
        "trainer", dataset, tokenizer, a.out, config=config, max_steps=MAX_STEPS, learning_rate=3e-3,
        save_steps=SAVE_STEPS, save_total_limit=a.save_total_limit or None,
        callbacks=[KillAfterCheckpoint()] if a.kill == "after_checkpoint" else [],
    )
    rows = record_trained_rows(handle)
    trainer.train(resume_from_checkpoint=True if a.resume else None)
    if a.dump:
        scores = handle.scores
        np.savez(
            a.dump,
            rows=np.stack(rows),
            first_step=np.array(trainer.state.global_step - len(rows) + 1),
            **{name: getattr(scores, name) for name in ("loss", "confidence", "confidence_var", "count",
                                                       "first_loss")},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
