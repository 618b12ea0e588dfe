"""What the schedule demo prints and plots: what the curriculum drew by phase, losses by level, a PNG."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import DataCollatorForSeq2Seq, TrainerCallback

from curriculum import CurriculumHandle
from curriculum.toy import LEVELS, TASKS, tokenize_for_causal_lm

__all__ = ["LinePrinter", "heldout_loss", "logged_losses", "print_intro", "print_level_table", "print_phase_table", "phase_rows", "plot"]


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
    global_batch = rows.shape[1]
    table = []
    for steps in np.array_split(np.arange(1, len(rows) + 1), min(phases, len(rows))):
        first, last = int(steps[0]), int(steps[-1])
        drawn = rows[first - 1 : last].reshape(-1)
        table.append(
            {
                "steps": f"{first}-{last}",
                "target": float(np.mean([handle.curriculum.target((s - 0.5) * global_batch) for s in steps])),
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


def print_intro(args: Any, trainer: Any, raw: Any, handle: CurriculumHandle | None) -> None:
    params = sum(p.numel() for p in trainer.model.parameters())
    print(
        f"SFT (TRL SFTTrainer, loss on the completion only) of a {params / 1e6:.2f}M-parameter Llama on {len(raw)} "
        f"generated rows:\n  tasks {', '.join(TASKS)} (e.g. '12+7=' -> '19', 'rev abcd:' -> 'dcba'), levels 1-5 "
        f"(more digits / letters = harder)\n  {args.max_steps} steps of {trainer.args.train_batch_size} rows on CPU"
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
