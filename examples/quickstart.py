"""Quickstart: a short TRL SFT run on CPU with an online curriculum attached, and a report of what it did."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import DataCollatorForSeq2Seq, TrainerCallback  # noqa: E402
from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402

from curriculum import CurriculumConfig, CurriculumHandle, attach  # noqa: E402
from curriculum.callbacks import StreamRecorder  # noqa: E402
from curriculum.integration import global_batch_size  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer, tokenize_for_causal_lm  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "quickstart.yaml"
TASKS = ("add", "reverse")
LEVELS = (1, 2, 3, 4, 5)


# ---------------------------------------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="curriculum YAML file (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=4000, help="optimizer steps (default: %(default)s)")
    parser.add_argument("--output-dir", default="outputs/quickstart", help="Trainer output dir (default: %(default)s)")
    parser.add_argument("--no-curriculum", action="store_true", help="plain run with shuffled data, to compare")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the model and the run")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of sampled difficulty/level vs the target")
    parser.add_argument("--report-to", default="none", help="comma-separated Trainer integrations (e.g. tensorboard)")
    parser.add_argument("--rows", type=int, default=4000, help="training rows (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="per-device batch size (default: %(default)s)")
    parser.add_argument("--hidden-size", type=int, default=128, help="model width (default: %(default)s)")
    parser.add_argument("--num-layers", type=int, default=2, help="model depth (default: %(default)s)")
    parser.add_argument("--phases", type=int, default=5, help="rows of the report's phase table (default: 5)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- training


def build_trainer(args: argparse.Namespace, dataset: Any, tokenizer: Any) -> Any:
    """A TRL `SFTTrainer` on prompt/completion data (loss on the completion only) with a tiny Llama."""
    from trl import SFTConfig, SFTTrainer

    report_to = [] if args.report_to in ("", "none") else args.report_to.split(",")
    config = SFTConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=3e-3,
        warmup_steps=min(20, args.max_steps // 10),
        weight_decay=0.0,
        logging_steps=max(1, args.max_steps // 40),
        logging_first_step=True,
        save_strategy="no",
        report_to=report_to,
        seed=args.seed,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        completion_only_loss=True,
        max_length=64,
        disable_tqdm=True,
    )
    model = make_tiny_model(len(tokenizer), hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


class LinePrinter(TrainerCallback):
    """Prints one compact line about every tenth of training instead of the Trainer's raw log dicts."""

    def __init__(self, max_steps: int) -> None:
        self.every = max(1, max_steps // 10)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any):
        if not logs or "loss" not in logs or (state.global_step % self.every and state.global_step != state.max_steps):
            return
        line = f"  step {state.global_step:>5}/{state.max_steps}  loss {logs['loss']:.3f}"
        if "curriculum/target" in logs:
            line += f"  target {logs['curriculum/target']:.2f}"
        if "curriculum/sampled_difficulty" in logs:
            line += f"  sampled difficulty {logs['curriculum/sampled_difficulty']:.2f}"
        if "curriculum/coverage" in logs:
            line += f"  coverage {logs['curriculum/coverage']:.0%}"
        print(line, flush=True)


# ---------------------------------------------------------------------------------------------------- evaluation


def heldout_loss(model: torch.nn.Module, tokenizer: Any, dataset: Any, batch_size: int = 100) -> np.ndarray:
    """Mean completion-token NLL of each held-out row (teacher forcing)."""
    data = tokenize_for_causal_lm(dataset, tokenizer).select_columns(["input_ids", "attention_mask", "labels"])
    collate = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            batch = collate([data[i] for i in range(start, min(start + batch_size, len(data)))])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2).float(), labels, ignore_index=-100, reduction="none")
            mask = labels != -100
            out.append((nll.sum(1) / mask.sum(1).clamp(min=1)).numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------------- report


def logged_losses(log_history: list[dict[str, float]]) -> list[tuple[int, float]]:
    return [(int(entry["step"]), float(entry["loss"])) for entry in log_history if "loss" in entry]


def window_mean(log_history: list[dict[str, float]], key: str, first: int, last: int) -> float:
    """Mean of a logged window metric over the log entries whose step lies in [first, last], each entry weighted
    by the number of steps its window covers (the steps since the previous entry)."""
    entries = [e for e in log_history if key in e]
    values, weights = [], []
    for previous, entry in zip([{"step": 0}, *entries], entries):
        if first <= entry["step"] <= last:
            values.append(entry[key])
            weights.append(entry["step"] - previous["step"])
    return float(np.average(values, weights=weights)) if values else float("nan")


def phase_rows(handle: CurriculumHandle, rows: np.ndarray, raw: Any, log_history: list, phases: int) -> list[dict]:
    """One dict per training phase: steps, schedule target, sampled difficulty, level, task shares, coverage."""
    levels = np.asarray(raw["level"])
    tasks = np.asarray(raw["task"])
    sampler = handle.sampler
    budget = sampler.budget or len(sampler)
    global_batch = rows.shape[1]
    table = []
    for steps in np.array_split(np.arange(1, len(rows) + 1), min(phases, len(rows))):
        first, last = int(steps[0]), int(steps[-1])
        drawn = rows[first - 1 : last].reshape(-1)
        progress = np.minimum(1.0, (steps - 0.5) * global_batch / budget)
        table.append(
            {
                "steps": f"{first}-{last}",
                "target": float(np.mean([sampler.schedule(p) for p in progress])),
                "sampled": window_mean(log_history, "curriculum/sampled_difficulty", first, last),
                "level": float(levels[drawn].mean()),
                **{task: float((tasks[drawn] == task).mean()) for task in TASKS},
                "coverage": np.unique(rows[:last]).size / len(levels),
            }
        )
    return table


def print_phase_table(table: list[dict]) -> None:
    print("What the curriculum drew, by training phase")
    print("  target   = schedule's target difficulty (quantile of the running loss within each task, 0 = easiest)")
    print("  sampled  = mean difficulty of the rows trained on (logged `curriculum/sampled_difficulty`)")
    print("  level    = mean true level (1 = easiest, 5 = hardest) of the rows trained on; uniform would be 3.00")
    print("  coverage = share of the training rows seen at least once by the end of the phase\n")
    header = f"| {'steps':>9} | target | sampled | level | {'add':>5} | {'reverse':>7} | coverage |"
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for r in table:
        print(
            f"| {r['steps']:>9} | {r['target']:6.2f} | {r['sampled']:7.2f} | {r['level']:5.2f} | "
            f"{r['add']:5.0%} | {r['reverse']:7.0%} | {r['coverage']:8.0%} |"
        )


def print_level_table(handle: CurriculumHandle | None, raw: Any, heldout_raw: Any, heldout: np.ndarray) -> None:
    print("\nLoss by level at the end of training")
    if handle is not None:
        print("  train (scores) = mean of the running per-row loss in `handle.scores.loss` over rows seen")
        print("  times drawn    = mean of `handle.scores.count`: how often a row of that level was trained on")
    print("  held-out       = completion loss of the final model on 500 unseen rows (compare with --no-curriculum)\n")
    print("| level | train (scores) | times drawn | held-out |")
    print("|------:|---------------:|------------:|---------:|")
    levels = np.asarray(raw["level"])
    heldout_levels = np.asarray(heldout_raw["level"])
    for level in LEVELS:
        in_level = levels == level
        train, drawn = "-", "-"
        if handle is not None:
            seen = in_level & (handle.scores.count > 0)
            train = f"{np.nanmean(handle.scores.loss[seen]):.3f}" if seen.any() else "n/a"
            drawn = f"{handle.scores.count[in_level].mean():.2f}"
        print(f"| {level:>5} | {train:>14} | {drawn:>11} | {heldout[heldout_levels == level].mean():8.3f} |")
    print(f"| {'all':>5} | {'':>14} | {'':>11} | {heldout.mean():8.3f} |")


def plot(path: str, handle: CurriculumHandle, rows: np.ndarray, raw: Any, log_history: list) -> None:
    """PNG: schedule target, logged sampled difficulty and the trained rows' mean level over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = np.asarray(raw["level"])[rows].mean(axis=1)
    window = max(1, len(levels) // 25)
    smooth = np.convolve(levels, np.ones(window) / window, mode="valid")
    logs = [e for e in log_history if "curriculum/target" in e]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([e["step"] for e in logs], [e["curriculum/target"] for e in logs], label="schedule target", lw=2)
    sampled = [e for e in logs if "curriculum/sampled_difficulty" in e]
    sampled_values = [e["curriculum/sampled_difficulty"] for e in sampled]
    ax.plot([e["step"] for e in sampled], sampled_values, label="sampled difficulty")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("difficulty quantile")
    ax.set_ylim(0, 1)
    right = ax.twinx()
    label = f"mean level drawn ({window}-step mean)"
    right.plot(np.arange(window, len(levels) + 1), smooth, color="tab:green", label=label)
    right.set_ylabel("level (1 = easiest)")
    right.set_ylim(1, 5)
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper left")
    ax.set_title("Online curriculum: what the sampler drew")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"\nPlot written to {path}")


# ---------------------------------------------------------------------------------------------------- main


def print_intro(args: argparse.Namespace, trainer: Any, raw: Any, handle: CurriculumHandle | None) -> None:
    params = sum(p.numel() for p in trainer.model.parameters())
    print(
        f"SFT (TRL SFTTrainer, loss on the completion only) of a {params / 1e6:.2f}M-parameter Llama on {len(raw)} "
        f"generated rows:\n  tasks {', '.join(TASKS)} (e.g. '12+7=' -> '19', 'rev abcd:' -> 'dcba'), levels 1-5 "
        f"(more digits / letters = harder)\n  {args.max_steps} steps of {global_batch_size(trainer.args)} rows on CPU"
    )
    if handle is None:
        print("  without curriculum: the Trainer shuffles the rows (run without --no-curriculum to compare)\n")
        return
    config = handle.config
    print(
        f"  with the curriculum of {args.config}:\n"
        f"  each row's difficulty is the quantile rank of its running training loss within its `{config.group_column}`"
        f" (unseen rows: 0.5);\n  rows are drawn near a target difficulty that moves ({config.schedule}) from "
        f"{config.start} to {config.end} over training, so easy rows come first and hard rows last.\n"
        "  The model never sees the `level` column: the report below uses it to check what was drawn.\n"
    )


def quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_libraries()
    started = time.perf_counter()
    tokenizer = make_tokenizer()
    raw = make_graded_dataset(args.rows, tasks=TASKS, levels=LEVELS, seed=args.seed)
    heldout_raw = make_graded_dataset(500, tasks=TASKS, levels=LEVELS, seed=args.seed + 1000)
    trainer = build_trainer(args, raw, tokenizer)
    trainer.add_callback(LinePrinter(args.max_steps))

    handle, recorder = None, None
    if not args.no_curriculum:
        config = CurriculumConfig.from_yaml(args.config)
        handle = attach(trainer, config)
        recorder = StreamRecorder(handle.sampler, global_batch_size(trainer.args))
        trainer.add_callback(recorder)

    print_intro(args, trainer, raw, handle)
    trainer.train()

    log_history = trainer.state.log_history
    losses = logged_losses(log_history)
    print(f"\nTrain loss: {losses[0][1]:.3f} at step {losses[0][0]} -> {losses[-1][1]:.3f} at step {losses[-1][0]}\n")
    if handle is not None and recorder is not None:
        rows = recorder.rows_per_step()
        print_phase_table(phase_rows(handle, rows, raw, log_history, args.phases))
        print(f"\nScore table: {handle.scores.bytes_per_row} bytes per row, {handle.scores.count.sum()} updates")
    else:
        print("(no phase table: run without --no-curriculum to see what the curriculum draws)")
    heldout = heldout_loss(trainer.model, tokenizer, heldout_raw)
    print_level_table(handle, raw, heldout_raw, heldout)
    if args.plot and handle is not None and recorder is not None:
        plot(args.plot, handle, recorder.rows_per_step(), raw, log_history)
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
