"""`python -m benchmarks.rl.report`: write the RL benchmark's tables into `docs/results/rl.md` from its runs.

Each `<!-- NAME:start -->...<!-- NAME:end -->` block of the page is rewritten from `docs/rl/results.jsonl`; a test
checks that the page is current.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .mixes import MIXES
from .run import ARMS

__all__ = ["BLOCKS", "PAGE", "RESULTS", "fill", "load_results", "main"]

RESULTS = "docs/rl/results.jsonl"
PAGE = "docs/results/rl.md"
SHARES = (0.25, 0.5, 0.75, 1.0)  # budgets as shares of uniform's completions

Run = dict[str, Any]


def load_results(path: str | Path) -> list[Run]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _mixes(results: list[Run]) -> list[str]:
    """The mixes with runs, validation first, in `MIXES` order."""
    present = {r["mix"] for r in results}
    return [m for role in ("validation", "tuning") for m, mix in MIXES.items() if mix.role == role and m in present]


def _runs(results: list[Run], mix: str, arm: str) -> list[Run]:
    return sorted((r for r in results if r["mix"] == mix and r["arm"] == arm), key=lambda r: r["seed"])


def _at(run: Run, target: int, key: str = "accuracy") -> float | None:
    """Held-out greedy exact match (or `key`) of `run` at the evaluation of completion target `target` (None if it
    never got there)."""
    for point in run["curve"]:
        if point["target"] == target:
            return point[key]
    return None


def _targets(results: list[Run]) -> list[int]:
    return sorted({p["target"] for r in results for p in r["curve"]})


def _mean_se(values: list[float]) -> tuple[float, float]:
    se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(np.mean(values)), se


def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return "-"
    mean, se = _mean_se([scale * v for v in values])
    return f"{mean:.{digits}f}" + ("" if np.isnan(se) else f" ± {se:.{digits}f}")


def _mean_curve(runs: list[Run], targets: list[int], key: str = "accuracy") -> dict[int, float]:
    """Mean over seeds of held-out accuracy (or `key`) at each target all seeds reached."""
    out = {}
    for t in targets:
        values = [_at(r, t, key) for r in runs]
        if values and all(v is not None for v in values):
            out[t] = float(np.mean(values))
    return out


def _role(mix: str) -> str:
    return MIXES[mix].role


def _initial(results: list[Run]) -> str:
    lines = [("| mix | role | pool prompts | p = 0 | 0 < p < 1 | p = 1 | mean pass rate | by level: share with 0 < p < 1 "
             "(mean p) | held-out greedy exact match |"), "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for mix in _mixes(results):
        init = next(r["initial"] for r in results if r["mix"] == mix)
        levels = "; ".join(f"L{lv} {h['between']:.0%} ({h['mean']:.2f})" for lv, h in init["by_level"].items())
        lines.append(f"| `{mix}` | {_role(mix)} | {init['prompts']:,} | {init['zero']:.0%} | {init['between']:.0%} | "
                     f"{init['one']:.0%} | {init['mean']:.2f} | {levels} | {100 * init['heldout_accuracy']:.1f} |")
    return "\n".join(lines)


def _reach(results: list[Run], key: str = "accuracy") -> str:
    """Per mix and arm: the completions at which the seed-mean held-out accuracy first reaches uniform's final one
    (0 where the warm model already does)."""
    what = "held-out exact match" if key == "accuracy" else "held-out sampled pass rate"
    lines = [(f"| mix | role | warm model's {what} % | uniform's final % | arm | completions to reach it | "
             "ratio to uniform |"), "|---|---|---:|---:|---|---:|---:|"]
    targets = _targets(results)
    for mix in _mixes(results):
        uniform = _runs(results, mix, "uniform")
        if not uniform:
            continue
        final = float(np.mean([_at(r, max(targets), key) for r in uniform]))
        start = float(np.mean([_at(r, 0, key) for r in uniform]))
        reached: dict[str, int | None] = {}
        for arm in ARMS:
            curve = _mean_curve(_runs(results, mix, arm), targets, key)
            reached[arm] = next((t for t in targets if t in curve and curve[t] >= final - 1e-9), None)
        for arm in ARMS:
            if not _runs(results, mix, arm):
                continue
            n, base = reached[arm], reached["uniform"]
            ratio = "-" if n is None or not base else f"{n / base:.2f}"
            lines.append(f"| `{mix}` | {_role(mix)} | {100 * start:.1f} | {100 * final:.1f} | {arm} | "
                         f"{'not reached' if n is None else f'{n:,}'} | {ratio} |")
    return "\n".join(lines)


def _accuracy(results: list[Run], key: str = "accuracy") -> str:
    """Held-out exact match (mean ± standard error over seeds) at shares of uniform's completions."""
    targets = _targets(results)
    budget = max(targets)
    chosen = [(s, min(targets, key=lambda t: abs(t - s * budget))) for s in SHARES]
    head = " | ".join(f"{s:.0%} ({t:,})" for s, t in chosen)
    lines = [f"| mix | role | arm | seeds | start | {head} |", "|---|---|---|---:|---:|" + "---:|" * len(chosen)]
    for mix in _mixes(results):
        for arm in ARMS:
            runs = _runs(results, mix, arm)
            if not runs:
                continue
            cells = [_pm([v for r in runs if (v := _at(r, t, key)) is not None]) for _, t in chosen]
            lines.append(f"| `{mix}` | {_role(mix)} | {arm} | {len(runs)} | {_pm([_at(r, 0, key) for r in runs])} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired(results: list[Run]) -> str:
    """Arm minus uniform, paired by seed, at the full budget and averaged over the curve's evaluations."""
    targets = [t for t in _targets(results) if t > 0]
    lines = ["| mix | role | arm | at the full budget (points) | mean over the evaluations (points) |",
             "|---|---|---|---:|---:|"]
    for mix in _mixes(results):
        uniform = {r["seed"]: r for r in _runs(results, mix, "uniform")}
        for arm in ARMS[1:]:
            runs = [r for r in _runs(results, mix, arm) if r["seed"] in uniform]
            if not runs:
                continue
            final = [_at(r, max(targets)) - _at(uniform[r["seed"]], max(targets)) for r in runs]
            area = [float(np.mean([_at(r, t) - _at(uniform[r["seed"]], t) for t in targets])) for r in runs]
            lines.append(f"| `{mix}` | {_role(mix)} | {arm} | {_pm(final)} | {_pm(area)} |")
    return "\n".join(lines)


def _zero_advantage(results: list[Run]) -> str:
    lines = [("| mix | role | arm | `curriculum/zero_advantage_share` | TRL's `frac_reward_zero_std` | mean reward | "
             "replayed completions (share of trained) |"), "|---|---|---|---:|---:|---:|---:|"]
    for mix in _mixes(results):
        for arm in ARMS:
            runs = _runs(results, mix, arm)
            if not runs:
                continue
            ours = [r["logs"]["zero_advantage_share"] for r in runs if r["logs"]["zero_advantage_share"] is not None]
            trl = [r["logs"]["frac_reward_zero_std"] for r in runs]
            reward = [r["logs"]["reward"] for r in runs]
            replayed = [r["replayed"] / (r["replayed"] + r["completions"]) for r in runs]
            lines.append(f"| `{mix}` | {_role(mix)} | {arm} | {_pm(ours, digits=1) if ours else '-'} | "
                         f"{_pm(trl)} | {_pm(reward, digits=1)} | {_pm(replayed, digits=1) if any(replayed) else '-'} |")
    return "\n".join(lines) + "\n\n(Shares and rewards in %, mean ± standard error over seeds of each run's mean over " \
                              "its generation rounds.)"


def _timings(results: list[Run]) -> str:
    lines = [("| mix | arm | rounds | completions generated | wall s per run (train incl. eval) | of which held-out "
             "eval s |"), "|---|---|---:|---:|---:|---:|"]
    for mix in _mixes(results):
        for arm in ARMS:
            runs = _runs(results, mix, arm)
            if not runs:
                continue
            rounds = f"{np.mean([r['rounds'] for r in runs]):.0f}"
            done = f"{np.mean([r['completions'] for r in runs]):,.0f}"
            lines.append(f"| `{mix}` | {arm} | {rounds} | {done} | {_pm([r['timings']['train_s'] for r in runs], 1, 0)} "
                         f"| {_pm([r['timings']['eval_s'] for r in runs], 1, 0)} |")
    return "\n".join(lines)


def _setup(results: list[Run]) -> str:
    config = results[0]["config"]
    seeds = sorted({r["seed"] for r in results})
    mixes = "\n".join(f"- `{m}` ({mix.role}): {mix.describe()}." for m, mix in MIXES.items()
                      if m in {r["mix"] for r in results})
    return (f"Size `{results[0]['size']}`: Llama of hidden size {config['hidden_size']}, {config['num_layers']} layers; "
            f"supervised warm-up of {config['warmup_steps']:,} steps of {config['warmup_batch']} rows per family "
            f"(seed 0, shared by every run of the family); GRPO with {config['prompts_per_round']} prompts x "
            f"{config['num_generations']} completions per generation round (one optimizer step per round), "
            f"completions of at most {config['max_completion_length']} tokens at temperature 1, learning rate "
            f"{config['learning_rate']:g} (constant), `beta=0`; a budget of {config['rounds']} rounds = "
            f"{results[0]['budget']:,} generated completions per run; seeds {', '.join(map(str, seeds))}; held-out "
            f"greedy exact match every {100 / config['eval_points']:.1f}% of the budget.\n\nMixes (roles fixed in "
            f"`benchmarks/rl/mixes.py` before any run):\n\n{mixes}")


BLOCKS: dict[str, Callable[[list[Run]], str]] = {
    "rl_setup": _setup,
    "rl_initial": _initial,
    "rl_reach": _reach,
    "rl_reach_sampled": lambda results: _reach(results, "sampled_pass_rate"),
    "rl_accuracy": _accuracy,
    "rl_sampled": lambda results: _accuracy(results, "sampled_pass_rate"),
    "rl_paired": _paired,
    "rl_zero_advantage": _zero_advantage,
    "rl_timings": _timings,
}


def fill(text: str, results: list[Run], blocks: Sequence[str] = tuple(BLOCKS)) -> str:
    """`text` with each `<!-- NAME:start -->...<!-- NAME:end -->` block of `blocks` rewritten from `results`."""
    for name in blocks:
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"the page has no <!-- {name}:start --> ... <!-- {name}:end --> block")
        body = BLOCKS[name](results).rstrip("\n")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rl.report", description=__doc__)
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--page", default=PAGE)
    parser.add_argument("--print", action="store_true", help="print the tables instead of writing the page")
    args = parser.parse_args(argv)
    results = load_results(args.results)
    if args.print:
        for name, block in BLOCKS.items():
            print(f"## {name}\n\n{block(results)}\n")
        return 0
    page = Path(args.page)
    page.write_text(fill(page.read_text(), results))
    print(f"rewrote {', '.join(BLOCKS)} in {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
