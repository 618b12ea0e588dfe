"""Multi-process test harness: one short training run with the curriculum, each rank dumping what it saw.

Launched by tests/integration/test_distributed.py with `torchrun --nproc_per_node 2` (gloo, CPU). Each rank writes
`rank{R}.npz` with its score table, the sampler's stream of the current epoch, the rows of its own
micro-batches (read before the curriculum pops them) and the logged training losses.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import warnings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import tqdm  # noqa: E402

# tqdm's monitor thread (started by the datasets progress bars) can hold a lock while the DataLoader forks its
# workers, which then hang in the child: a known fork-with-threads hazard. Do not start it.
tqdm.tqdm.monitor_interval = 0
from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer, tokenize_for_causal_lm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The DeepSpeed configs shipped with the examples ("auto" values filled from the TrainingArguments).
DEEPSPEED = {stage: os.path.join(ROOT, "examples", "deepspeed", f"{stage}.json") for stage in ("zero2", "zero3")}


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--kind", choices=["trainer", "sft"], default="trainer")
    p.add_argument("--deepspeed", choices=["none", *DEEPSPEED], default="none")
    p.add_argument("--out", required=True)
    p.add_argument("--max-steps", type=int, default=6)
    p.add_argument("--save-steps", type=int, default=0)
    p.add_argument("--stop-at", type=int, default=0)
    p.add_argument("--resume", default=None, help="a checkpoint path, or `true` for the newest complete one")
    p.add_argument("--kill-rank", type=int, default=-1, help="this rank SIGKILLs itself in the middle of --kill-step")
    p.add_argument("--kill-step", type=int, default=0)
    p.add_argument("--save-on-each-node", action="store_true", help="nodes without a shared filesystem")
    p.add_argument("--refresh", type=int, default=1, help="refresh_every_steps")
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--samples-per-epoch", type=int, default=None)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--share-scores", default="duplicates", help="curriculum share_scores setting")
    p.add_argument("--diverge", action="store_true", help="give rank 1 another curriculum seed (guard test)")
    p.add_argument("--no-use-cpu", action="store_true", help="omit use_cpu=True (guard test)")
    return p.parse_args()


def main() -> int:
    a = parse()
    rank = int(os.environ.get("RANK", 0))
    tokenizer = make_tokenizer()
    raw = make_graded_dataset(a.rows, seed=5)
    common = dict(
        output_dir=a.out,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=a.max_steps,
        learning_rate=a.lr,
        lr_scheduler_type="constant",
        report_to=[],
        logging_steps=1,
        use_cpu=not a.no_use_cpu,
        dataloader_num_workers=a.workers,
        save_strategy="steps" if a.save_steps else "no",
        save_steps=a.save_steps or 500,
        seed=0,
        disable_tqdm=True,
        deepspeed=DEEPSPEED.get(a.deepspeed),
        save_on_each_node=a.save_on_each_node,
    )
    model = make_tiny_model(len(tokenizer), seed=0)
    callbacks = [StopAt(a.stop_at)] if a.stop_at else []
    if a.kind == "trainer":
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**common),
            train_dataset=tokenize_for_causal_lm(raw, tokenizer),
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
            callbacks=callbacks,
        )
    else:
        from trl import SFTConfig, SFTTrainer

        trainer = SFTTrainer(
            model=model,
            args=SFTConfig(**common, max_length=128, activation_checkpointing=False),
            train_dataset=raw,
            processing_class=tokenizer,
            callbacks=callbacks,
        )

    local_rows: list[int] = []

    def record(module, args, kwargs):
        if module.training and "sample_index" in kwargs:
            local_rows.extend(kwargs["sample_index"].tolist())

    trainer.model.register_forward_pre_hook(record, with_kwargs=True)  # runs before the curriculum's own hook
    if rank == a.kill_rank:
        forwards = []

        def kill_mid_step(module, args, kwargs):
            # The second micro-batch of step --kill-step: the first one's gradients are accumulated, not applied.
            if module.training and "sample_index" in kwargs:
                forwards.append(1)
                if len(forwards) == (a.kill_step - 1) * 2 + 2:
                    os.kill(os.getpid(), signal.SIGKILL)

        trainer.model.register_forward_pre_hook(kill_mid_step, with_kwargs=True)
    seed = 1 if (a.diverge and rank == 1) else None
    config = CurriculumConfig(
        group_column="task", refresh_every_steps=a.refresh, start=0.0, end=1.0, samples_per_epoch=a.samples_per_epoch,
        seed=seed,
        share_scores=a.share_scores,
    )
    handle = attach(trainer, config)
    trainer.train(resume_from_checkpoint=True if a.resume == "true" else a.resume)

    losses = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    np.savez(
        os.path.join(a.out, f"rank{rank}.npz"),
        **{f"scores_{k}": v for k, v in handle.scores.state_dict().items()},
        stream=np.asarray(handle.sampler.drawn),
        epoch=handle.sampler.epoch,
        local_rows=np.asarray(local_rows, dtype=np.int64),
        losses=np.asarray(losses, dtype=np.float64).reshape(-1, 2),
        global_step=trainer.state.global_step,
        world_size=torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1,
        meta=json.dumps({"kind": a.kind, "deepspeed": a.deepspeed}),
    )
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        # Leave without tearing gloo down: its destructors at interpreter exit can abort ("terminate called without
        # an active exception") on a loaded machine, after everything this harness checks is written.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
