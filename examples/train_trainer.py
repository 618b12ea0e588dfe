"""The curriculum with a plain `transformers.Trainer` on pre-tokenized data (labels -100 on the prompt)."""

from __future__ import annotations

import argparse
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer, tokenize_for_causal_lm  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "quickstart.yaml"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="curriculum YAML file (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--output-dir", default="outputs/train_trainer")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    tokenizer = make_tokenizer()
    raw = make_graded_dataset(2000, seed=args.seed)
    # Keep `task` and `level`: the curriculum reads `group_column` from the Trainer's `train_dataset`.
    train_dataset = tokenize_for_causal_lm(raw, tokenizer, max_length=64)
    trainer = Trainer(
        model=make_tiny_model(len(tokenizer), seed=args.seed),
        args=TrainingArguments(
            output_dir=args.output_dir,
            max_steps=args.max_steps,
            per_device_train_batch_size=16,
            learning_rate=3e-3,
            logging_steps=max(1, args.max_steps // 10),
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=args.seed,
        ),
        train_dataset=train_dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
    )

    handle = attach(trainer, CurriculumConfig.from_yaml(args.config))  # before trainer.train()
    trainer.train()

    logs = [entry for entry in trainer.state.log_history if "curriculum/target" in entry]
    print("\nstep  loss   target  sampled difficulty  coverage")
    for entry in logs:
        sampled = entry.get("curriculum/sampled_difficulty", float("nan"))
        print(
            f"{entry['step']:>4}  {entry['loss']:.3f}  {entry['curriculum/target']:.2f}    "
            f"{sampled:.2f}                {entry['curriculum/coverage']:.0%}"
        )
    levels = np.asarray(raw["level"])
    seen = handle.scores.count > 0
    print("\nrunning training loss by level (rows seen):")
    for level in sorted(set(levels.tolist())):
        rows = seen & (levels == level)
        print(f"  level {level}: {np.nanmean(handle.scores.loss[rows]):.3f} over {rows.sum()} rows")


if __name__ == "__main__":
    main()
