"""A real `GRPOTrainer` on the tiny model with a verifiable reward whose pass rates spread from 0 to 1.

Imported by the GRPO tests; run under `torchrun --nproc_per_node 2` by tests/integration/test_grpo_distributed.py,
each rank writing `rank{R}.npz` with its score table, its prompt stream and the rewards it saw.

Tasks: `solved` (every completion passes), `mid` (a completion passes when the sum of its character codes is odd:
about half do) and `impossible` (none passes). Each reward is logged with its prompt row (the dataset's `row`
column, which GRPO hands to reward functions).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TASKS = ("solved", "mid", "impossible")


def prompts(rows: int = 60):
    from datasets import Dataset

    return Dataset.from_list([{"prompt": f"{i}?", "task": TASKS[i % 3], "row": i} for i in range(rows)])


class Reward:
    """The verifiable reward, logging `(row, reward)` for every completion in the order GRPO asked for them."""

    __name__ = "verifiable"

    def __init__(self) -> None:
        self.log: list[tuple[int, float]] = []

    def __call__(self, prompts: list, completions: list, task: list, row: list, **kwargs: Any) -> list[float]:
        out = [1.0 if t == "solved" else 0.0 if t == "impossible" else float(sum(map(ord, c)) % 2)
               for c, t in zip(completions, task)]
        self.log.extend(zip(row, out))
        return out


def make_grpo(
    output_dir: str, *, config: Any = None, max_steps: int = 6, save_steps: int | None = None, seed: int = 0,
    batch_size: int = 8, grad_accum: int = 2, generations: int = 4, attach_curriculum: bool = True, rows: int = 60,
    learning_rate: float = 1e-3,
    **extra: Any,
):
    """`(trainer, handle, reward)`: a `GRPOTrainer` with the curriculum attached (`config`: a `CurriculumConfig`,
    default `signal="pass_rate"` by task)."""
    from trl import GRPOConfig, GRPOTrainer

    from curriculum import CurriculumConfig, attach
    from curriculum.toy import make_tiny_model, make_tokenizer

    tokenizer = make_tokenizer()
    args = GRPOConfig(
        output_dir=output_dir, per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum,
        num_generations=generations, max_completion_length=4, max_steps=max_steps, learning_rate=learning_rate,
        logging_steps=1, report_to=[], use_cpu=True, beta=0.0, seed=seed, disable_tqdm=True,
        save_strategy="steps" if save_steps else "no", save_steps=save_steps or 500, **extra,
    )
    reward = Reward()
    trainer = GRPOTrainer(model=make_tiny_model(len(tokenizer), seed=seed), reward_funcs=reward, args=args,
                          train_dataset=prompts(rows), processing_class=tokenizer)
    handle = None
    if attach_curriculum:
        handle = attach(trainer, config if config is not None else CurriculumConfig(signal="pass_rate",
                                                                                    group_column="task"))
    return trainer, handle, reward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--replay", type=float, default=0.0)
    parser.add_argument("--deepspeed", choices=["none", "zero2", "zero3"], default="none")
    a = parser.parse_args()
    import torch.distributed as dist

    from curriculum import CurriculumConfig

    config = CurriculumConfig(signal="pass_rate", group_column="task", replay_share=a.replay)
    deepspeed = {} if a.deepspeed == "none" else {"deepspeed": os.path.join(ROOT, "examples", "deepspeed", f"{a.deepspeed}.json")}
    trainer, handle, reward = make_grpo(os.path.join(a.out, "run"), config=config, batch_size=4, max_steps=5, **deepspeed)
    trainer.train()
    rank = dist.get_rank() if dist.is_initialized() else 0
    t = handle.scores
    np.savez(os.path.join(a.out, f"rank{rank}.npz"), loss=t.loss, confidence=t.confidence, count=t.count,
             stream=handle.sampler.drawn, rewards=np.array(reward.log, dtype=np.float64).reshape(-1, 2),
             completions=handle.curriculum.rollouts.completions, replayed=handle.curriculum.rollouts.replayed)


if __name__ == "__main__":
    main()
