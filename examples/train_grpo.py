"""The curriculum with TRL's `GRPOTrainer`: prompts chosen by the pass rate of their completions, rollouts replayed.

A tiny model is first warmed up by supervised fine-tuning on easy arithmetic and string reversal, so that some
prompts are solved, some are out of reach and some are in between. GRPO then trains it on a pool of all levels with
a verifiable reward (exact match). Prints the completions generated, the share of groups with zero advantage (the
generations that trained nothing), and held-out accuracy before and after; `--no-curriculum` runs plain GRPO.
"""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "grpo.yaml"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="curriculum YAML file (default: %(default)s)")
    parser.add_argument("--no-curriculum", action="store_true", help="plain GRPO (shuffled prompts)")
    parser.add_argument("--warmup-steps", type=int, default=300, help="supervised warm-up steps")
    parser.add_argument("--max-steps", type=int, default=60, help="GRPO steps (one generation round each)")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--output-dir", default="outputs/train_grpo")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def exact_match(prompts: list[str], completions: list[str], answer: list[str], **kwargs) -> list[float]:
    """The verifiable reward: 1 when the completion is the answer."""
    return [float(c.strip() == a) for c, a in zip(completions, answer)]


def accuracy(model, tokenizer, rows) -> float:
    """Greedy exact-match accuracy on `rows` (prompt, answer)."""
    model.eval()
    tokenizer.padding_side = "left"
    batch = tokenizer([r["prompt"] for r in rows], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return float(np.mean([t.strip() == r["answer"] for t, r in zip(texts, rows)]))


class ZeroAdvantage(TrainerCallback):
    """Collects GRPO's own share of groups whose rewards were all equal (zero advantage), per logged step."""

    def __init__(self) -> None:
        self.shares: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "frac_reward_zero_std" in logs:
            self.shares.append(logs["frac_reward_zero_std"])


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tokenizer = make_tokenizer()
    model = make_tiny_model(len(tokenizer), hidden_size=96, seed=args.seed)
    common = dict(report_to=[], use_cpu=True, seed=args.seed, disable_tqdm=True, save_strategy="no")

    # 1. Supervised warm-up on levels 1-2: some prompts solved, the harder levels out of reach at first.
    warmup = make_graded_dataset(3000, levels=(1, 2), seed=args.seed + 1)
    SFTTrainer(model=model, processing_class=tokenizer, train_dataset=warmup,
               args=SFTConfig(output_dir=os.path.join(args.output_dir, "warmup"), max_steps=args.warmup_steps,
                              per_device_train_batch_size=32, learning_rate=3e-3, logging_steps=100,
                              **common)).train()

    # 2. GRPO on prompts of every level, with a verifiable reward.
    pool = make_graded_dataset(1000, levels=(1, 2, 3), seed=args.seed + 2).rename_column("completion", "answer")
    held_out = list(make_graded_dataset(120, levels=(1, 2, 3), seed=args.seed + 3).rename_column("completion", "answer"))
    before = accuracy(model, tokenizer, held_out)
    tokenizer.padding_side = "left"
    trainer = GRPOTrainer(
        model=model, reward_funcs=exact_match, processing_class=tokenizer, train_dataset=pool,
        args=GRPOConfig(output_dir=args.output_dir, max_steps=args.max_steps, per_device_train_batch_size=32,
                        num_generations=8, max_completion_length=8, learning_rate=args.learning_rate, beta=0.0, logging_steps=5,
                        **common),
    )
    zero = ZeroAdvantage()
    trainer.add_callback(zero)
    handle = None
    if not args.no_curriculum:
        handle = attach(trainer, CurriculumConfig.from_yaml(args.config))
    trainer.train()

    after = accuracy(trainer.model, tokenizer, held_out)
    generated = args.max_steps * 32 if handle is None else handle.curriculum.rollouts.completions
    replayed = 0 if handle is None else handle.curriculum.rollouts.replayed
    name = "plain GRPO" if handle is None else f"GRPO + curriculum ({Path(args.config).name})"
    print(f"\n{name}: {args.max_steps} steps")
    print(f"Completions generated: {generated}, replayed: {replayed}")
    print(f"Groups with zero advantage: {np.mean(zero.shares):.0%} over training "
          f"(first logs {np.mean(zero.shares[:2]):.0%}, last logs {np.mean(zero.shares[-2:]):.0%})")
    print(f"Held-out accuracy: {before:.1%} before GRPO, {after:.1%} after")
    if handle is not None:
        metrics = handle.callback.metrics()
        shares = {k.rsplit("/", 1)[1]: round(v, 2) for k, v in metrics.items() if k.startswith("curriculum/task_share/")}
        print(f"Task shares at the end: {shares}")


if __name__ == "__main__":
    main()
