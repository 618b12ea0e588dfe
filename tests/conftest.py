"""Shared builders for tests: tiny models, local tokenizer, generated data and trainers with the curriculum."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# The `datasets` cache (the rows of every `load_dataset` and `map`) in a folder of this test session, removed at its
# end, and inherited by the processes the tests launch: a test run leaves nothing in the user's cache.
_DATASETS_CACHE = tempfile.mkdtemp(prefix="curriculum-tests-datasets-")
os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE
torch.set_num_threads(2)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_DATASETS_CACHE, ignore_errors=True)

# tqdm's monitor thread can hold a lock while DataLoader workers are forked, hanging them: do not start it.
import tqdm  # noqa: E402

tqdm.tqdm.monitor_interval = 0

from transformers import TrainerCallback  # noqa: E402 - after the offline settings above


@pytest.fixture(scope="session")
def tokenizer():
    from curriculum.toy import make_tokenizer

    return make_tokenizer()


def deepspeed_available() -> bool:
    try:
        import deepspeed  # noqa: F401
    except Exception:
        return False
    return True


def record_trained_rows(handle: Any) -> list[np.ndarray]:
    """Record, per optimizer step, the rows folded into the score table (all processes' rows, in rank order)."""
    steps: list[np.ndarray] = []
    update = handle.scores.update

    def recording_update(ids, loss, confidence, step=0):
        steps.append(np.asarray(ids).copy())
        return update(ids, loss, confidence, step=step)

    handle.scores.update = recording_update
    return steps


class StopAt(TrainerCallback):
    """Ends training after optimizer step `step` (a stand-in for an interruption)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def make_trainer(
    kind: str,
    dataset: Any,
    tokenizer: Any,
    output_dir: str,
    *,
    config: Any = None,
    max_steps: int = 4,
    learning_rate: float = 0.0,
    batch_size: int = 4,
    grad_accum: int = 2,
    workers: int = 0,
    padding_free: bool = False,
    save_steps: int | None = None,
    callbacks: Sequence[Any] = (),
    seed: int = 0,
    attach_curriculum: bool = True,
    eval_dataset: Any = None,
    **extra_args: Any,
):
    """A `Trainer` ("trainer": pre-tokenized data) or `SFTTrainer` ("sft": prompt/completion data) with the
    curriculum attached; returns `(trainer, handle)`."""
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from curriculum import CurriculumConfig, attach
    from curriculum.toy import make_tiny_model

    common = dict(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=max_steps,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        report_to=[],
        logging_steps=1,
        use_cpu=True,
        dataloader_num_workers=workers,
        save_strategy="steps" if save_steps else "no",
        save_steps=save_steps or 500,
        seed=seed,
        disable_tqdm=True,
        **extra_args,
    )
    model = make_tiny_model(len(tokenizer), seed=seed)
    if kind == "trainer":
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**common),
            train_dataset=dataset,
            eval_dataset=eval_dataset,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
            callbacks=list(callbacks),
        )
    elif kind == "sft":
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(**common, padding_free=padding_free, max_length=None if padding_free else 128)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            eval_dataset=eval_dataset,
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )
    else:
        raise ValueError(kind)
    handle = attach(trainer, config if config is not None else CurriculumConfig()) if attach_curriculum else None
    return trainer, handle


def reference_row_stats(model: torch.nn.Module, input_ids: list[int], labels: list[int]) -> tuple[float, float]:
    """Mean token NLL and mean target probability of one row over its supervised tokens, computed directly."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([input_ids])).logits[0].double()
    target = torch.tensor(labels[1:])
    mask = target != -100
    logp = torch.log_softmax(logits[:-1], dim=-1)[mask].gather(1, target[mask][:, None])[:, 0]
    return float(-logp.mean()), float(logp.exp().mean())
