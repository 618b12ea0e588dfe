"""Tables, headline figures and plots of the learning benchmark, from its JSONL results."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .testbed import TASKS, TRAIN_LEVELS

__all__ = ["STUDY", "budget_to_reach", "load_results", "write_report"]

MAIN_TABLE = (
    "uniform", "easy_only", "hard_only", "offline", "ordered",
    "online_first", "online", "online_replay", "online_balance", "online_learnability",
)
CLEAN_TABLE = ("clean_uniform", "clean_online")
BANDS = tuple(f"band{lv}" for lv in TRAIN_LEVELS)
# The strategies of the single-pool study, what `python -m benchmarks.learning` runs without `--pools`.
STUDY = MAIN_TABLE + CLEAN_TABLE + BANDS


def load_results(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _by_cell(results: Iterable[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    cells: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        cells[(r["strategy"], r["budget"])].append(r)
    return cells


def _seed_count(results: Iterable[dict[str, Any]], names: Iterable[str]) -> int:
    names = set(names)
    return len({r["seed"] for r in results if r["strategy"] in names})


def _mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def _cell(rs: list[dict[str, Any]], key: str, scale: float = 100.0, digits: int = 1) -> str:
    if not rs:
        return "-"
    mean, std = _mean_std([r[key] * scale for r in rs])
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def budget_to_reach(budgets: list[int], accuracy: list[float], goal: float) -> float | None:
    """Smallest budget at which the accuracy curve (linear in log budget between measured points) reaches `goal`;
    None if it never does. Below the smallest budget nothing is extrapolated: the smallest budget is returned."""
    for i, (b, a) in enumerate(zip(budgets, accuracy)):
        if a >= goal:
            if i == 0:
                return float(b)
            b0, a0 = budgets[i - 1], accuracy[i - 1]
            t = (goal - a0) / (a - a0)
            return float(math.exp(math.log(b0) + t * (math.log(b) - math.log(b0))))
    return None


def _labels() -> dict[str, str]:
    from .run import STRATEGIES

    return {name: s.label for name, s in STRATEGIES.items()}


def headline(results: list[dict[str, Any]], online: str = "online") -> dict[str, Any]:
    """The fraction of uniform sampling's examples `online` needs to reach uniform's accuracy at the largest
    budget, and the paired (same seed) extrapolation accuracy difference at the largest budget."""
    cells = _by_cell(results)
    budgets = sorted({b for (s, b) in cells if s == "uniform"})
    if not budgets or not any((online, b) in cells for b in budgets):
        return {}
    top = budgets[-1]
    goal = _mean_std([r["test_accuracy"] for r in cells[("uniform", top)]])[0]
    curve = [_mean_std([r["test_accuracy"] for r in cells[(online, b)]])[0] for b in budgets]
    reach = budget_to_reach(budgets, curve, goal)
    uniform_by_seed = {r["seed"]: r for r in cells[("uniform", top)]}
    diffs = [
        r["extrapolation_accuracy"] - uniform_by_seed[r["seed"]]["extrapolation_accuracy"]
        for r in cells[(online, top)]
        if r["seed"] in uniform_by_seed
    ]
    test_diffs = [
        r["test_accuracy"] - uniform_by_seed[r["seed"]]["test_accuracy"]
        for r in cells[(online, top)]
        if r["seed"] in uniform_by_seed
    ]
    return {
        "strategy": online,
        "largest_budget": top,
        "uniform_accuracy": goal,
        "budget_to_reach": reach,
        "fraction": None if reach is None else reach / top,
        "extrapolation_diff": _mean_std(diffs) if diffs else None,
        "test_diff": _mean_std(test_diffs) if test_diffs else None,
    }


def _strategy_table(
    cells: dict, names: Iterable[str], budgets: list[int], key: str, scale: float = 100.0, digits: int = 1
) -> list[str]:
    labels = _labels()
    lines = ["| strategy | " + " | ".join(f"{b:,} examples" for b in budgets) + " |"]
    lines.append("|---|" + "---:|" * len(budgets))
    for name in names:
        if any((name, b) in cells for b in budgets):
            lines.append(f"| {labels.get(name, name)} | " + " | ".join(_cell(cells.get((name, b), []), key, scale, digits) for b in budgets) + " |")
    return lines


def _band_table(cells: dict, budgets: list[int], key: str = "test_accuracy") -> tuple[list[str], list[int | None]]:
    lines = ["| budget | " + " | ".join(f"level {lv} only" for lv in TRAIN_LEVELS) + " | best band |"]
    lines.append("|---:|" + "---:|" * (len(TRAIN_LEVELS) + 1))
    best_levels: list[int | None] = []
    for b in budgets:
        means = {
            lv: _mean_std([r[key] for r in cells[(f"band{lv}", b)]])[0] for lv in TRAIN_LEVELS if (f"band{lv}", b) in cells
        }
        best = max(means, key=means.get) if means else None
        best_levels.append(best)
        row = " | ".join(_cell(cells.get((f"band{lv}", b), []), key) for lv in TRAIN_LEVELS)
        lines.append(f"| {b:,} | {row} | {'-' if best is None else f'level {best}'} |")
    return lines, best_levels


def _drawn_table(cells: dict, names: Iterable[str], budget: int) -> list[str]:
    """Mean level, noisy share and task shares of the rows each online strategy trained on, by fifth of training."""
    labels = _labels()
    drawn = [r["drawn"] for name in names for r in cells.get((name, budget), []) if r.get("drawn")]
    tasks = [t for t in dict.fromkeys(k[5:] for d in drawn for k in d if k.startswith("task_"))
             if t in TASKS or any(d.get(f"task_{t}") and max(d[f"task_{t}"]) > 0 for d in drawn)] or list(TASKS)
    lines = ["| strategy | fifth | mean level | noisy | " + " | ".join(tasks) + " | rows seen |", "|---|---:|---:|---:|" + "---:|" * len(tasks) + "---:|"]
    for name in names:
        runs = [r for r in cells.get((name, budget), []) if r.get("drawn")]
        if not runs:
            continue
        phases = len(runs[0]["drawn"]["level"])
        seen = np.mean([r["drawn"]["unique_rows"] for r in runs])
        for k in range(phases):
            level = np.mean([r["drawn"]["level"][k] for r in runs])
            noisy = np.mean([r["drawn"]["noisy"][k] for r in runs])
            shares = " | ".join(f"{np.mean([r['drawn'].get(f'task_{t}', [0.0] * phases)[k] for r in runs]):.0%}" for t in tasks)
            last = f"{seen:,.0f}" if k == phases - 1 else ""
            lines.append(f"| {labels.get(name, name) if k == 0 else ''} | {k + 1} | {level:.2f} | {noisy:.0%} | {shares} | {last} |")
    return lines


def _setup_text(size: Any) -> list[str]:
    from .testbed import Pathologies

    return [
        f"Size `{size.name}`. Four generated prompt/completion tasks (`add`, `sort`, `reverse`, `lookup`) at levels "
        "1-4, each level one more unit of the same skill (digits, letters, lookup hops). Training pool of "
        f"{size.pool_rows:,} rows with {Pathologies().describe()}; the clean pool has none of these. Test split: "
        f"{size.test_per_cell} rows per task and level (at most 25 for 1-digit sums), extrapolation split: "
        f"{size.test_per_cell} rows per task at level 5; no test prompt is in a pool.",
        "",
        f"Model: a Llama of hidden size {size.hidden_size} and {size.num_layers} layers built from a config, warmed "
        f"up for {size.warmup_steps} steps on a generic copy task (`copy k3x:` -> `k3x`: the format and EOS, none of "
        "the tasks); every run starts from the same warm-up weights of its seed. TRL `SFTTrainer`, loss on the "
        f"completion only, batch {size.batch_size}, learning rate {size.learning_rate:g} (linear decay), "
        "budget = training examples = steps x batch. Accuracy: exact match of greedy generation, in %; mean ± "
        "standard deviation over seeds.",
        "",
    ]


def write_report(results: list[dict[str, Any]], out_dir: str | Path, size: Any, plot: bool = True) -> Path:
    """Write `learning.md` (setup, headline figures, tables) and, with `plot`, the PNG plots into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cells = _by_cell(results)
    budgets = sorted({b for (_, b) in cells})
    md = ["# Learning benchmark", "", *_setup_text(size), "## Headline figures", "",
          f"Strategies on the pathological pool: {_seed_count(results, MAIN_TABLE)} seeds.", ""]
    for name in MAIN_TABLE[5:]:
        h = headline(results, name)
        if not h:
            continue
        frac = "does not reach it" if h["fraction"] is None else f"needs {h['fraction']:.0%} of its examples"
        ext, test = h["extrapolation_diff"], h["test_diff"]
        md.append(
            f"- **{_labels()[name]}**: to reach uniform sampling's test accuracy at {h['largest_budget']:,} examples "
            f"({h['uniform_accuracy']:.1%}) it {frac}; at {h['largest_budget']:,} examples it is "
            f"{test[0] * 100:+.1f} ± {test[1] * 100:.1f} points on the test split and "
            f"{ext[0] * 100:+.1f} ± {ext[1] * 100:.1f} on the extrapolation split against uniform (paired by seed)."
        )
    md += ["", "## Test split (training levels 1-4): exact match %", ""]
    md += _strategy_table(cells, MAIN_TABLE, budgets, "test_accuracy")
    md += ["", "## Extrapolation split (level 5, harder than any training row): exact match %", ""]
    md += _strategy_table(cells, MAIN_TABLE, budgets, "extrapolation_accuracy")
    md += ["", "## Test split: mean completion loss (nats per token)", ""]
    md += _strategy_table(cells, MAIN_TABLE, budgets, "test_loss", scale=1.0, digits=3)
    md += ["", "## Clean, balanced pool (no repeats, no noise, equal tasks): test exact match %", "",
           f"{_seed_count(results, CLEAN_TABLE)} seeds.", ""]
    md += _strategy_table(cells, CLEAN_TABLE, budgets, "test_accuracy")
    for key, split in (("test_accuracy", "test split"), ("extrapolation_accuracy", "extrapolation split")):
        band_lines, best = _band_table(cells, budgets, key)
        known = [b for b in best if b is not None]
        if not known:
            continue
        moves = "moves harder" if known == sorted(known) and known[-1] > known[0] else (
            "stays at the same level" if len(set(known)) == 1 else "does not move monotonically harder")
        md += ["", f"## Budget and difficulty: one level only (clean pool), {split} exact match %", "",
               f"{_seed_count(results, BANDS)} seeds.", ""]
        md += band_lines
        md += ["", f"On the {split}, as the budget grows the best band {moves} "
               f"({' -> '.join(f'level {b}' for b in known)})."]
    md += ["", f"## What the online strategies trained on, at {budgets[-1]:,} examples (mean over seeds)", ""]
    md += _drawn_table(cells, ("uniform", *MAIN_TABLE[5:]), budgets[-1])
    if plot:
        md += ["", "![accuracy vs budget](learning_accuracy.png)", "", "![sampled difficulty](learning_schedule.png)"]
        plot_accuracy(cells, budgets, out / "learning_accuracy.png")
        plot_schedule(cells, budgets[-1], out / "learning_schedule.png")
    path = out / "learning.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(cells: dict, budgets: list[int], path: Path) -> None:
    """Accuracy vs budget per strategy, test and extrapolation splits side by side, error bars = std over seeds."""
    plt = _plt()
    labels = _labels()
    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    panels = (("test_accuracy", "test split (levels 1-4)", MAIN_TABLE), ("extrapolation_accuracy",
              "extrapolation split (level 5)", MAIN_TABLE), ("test_accuracy", "clean pool / one level only", CLEAN_TABLE + BANDS))
    for ax, (key, title, names) in zip(axes, panels):
        for name in names:
            xs = [b for b in budgets if (name, b) in cells]
            if not xs:
                continue
            stats = [_mean_std([r[key] * 100 for r in cells[(name, b)]]) for b in xs]
            style = "-" if name.startswith(("online", "clean_online")) else "--"
            ax.errorbar(xs, [m for m, _ in stats], yerr=[s for _, s in stats], label=labels.get(name, name),
                        ls=style, marker="o", capsize=3)
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:,}" for b in budgets])
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel("training examples (budget)")
        ax.set_ylabel("exact match %")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_schedule(cells: dict, budget: int, path: Path) -> None:
    """The schedule's target and the sampled difficulty over training (one line per online strategy, seed 0),
    and the mean true level trained on by fifth of training."""
    plt = _plt()
    labels = _labels()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    for name in MAIN_TABLE[5:]:
        runs = sorted((r for r in cells.get((name, budget), []) if r.get("trace")), key=lambda r: r["seed"])
        if not runs:
            continue
        trace = runs[0]["trace"]
        line = left.plot(trace["progress"], trace["sampled_difficulty"], label=f"sampled: {labels[name]}")[0]
        left.plot(trace["progress"], trace["target"], ls=":", color=line.get_color(), label="its target")
        levels = np.mean([r["drawn"]["level"] for r in runs], axis=0)
        right.plot(np.arange(1, len(levels) + 1), levels, marker="o", label=labels[name])
    pool = [r for r in cells.get(("uniform", budget), []) if r.get("drawn")]
    if pool:
        right.plot(np.arange(1, len(pool[0]["drawn"]["level"]) + 1), pool[0]["drawn"]["level"], ls="--",
                   color="gray", label="uniform (pool mean)")
    left.set_xlabel("progress (examples consumed / budget)")
    left.set_ylabel("difficulty quantile (within task)")
    left.set_ylim(0, 1)
    left.set_title(f"target (dotted) vs sampled difficulty, {budget:,} examples, first seed")
    right.set_xlabel("fifth of training")
    right.set_ylabel("mean true level trained on (1-4)")
    right.set_title("what was drawn (mean over seeds)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
