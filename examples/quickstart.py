"""Quickstart: plain shuffling and the online curriculum side by side, on a generated SFT pool with the pathologies of
real corpora (repeated easy rows, plausible wrong answers, a rare task, a task no model can learn), on CPU."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the generated testbed lives in benchmarks/learning

import yaml  # noqa: E402

from benchmarks.learning.pools import POOLS  # noqa: E402
from benchmarks.learning.protocol import late_noisy_share  # noqa: E402
from benchmarks.learning.run import SIZES, Bench, Strategy, run_one, show_progress  # noqa: E402
from benchmarks.learning.workers import init_worker  # noqa: E402

DEFAULT_CONFIG = ROOT / "examples" / "configs" / "quickstart.yaml"
OPT_IN_CONFIG = ROOT / "examples" / "configs" / "quickstart_duplicates.yaml"
DEFAULT_POOL = "plausible15_dup2levels_rare_unlearnable"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="curriculum YAML file (default: %(default)s)")
    parser.add_argument("--opt-in-config", default=str(OPT_IN_CONFIG),
                        help="a second curriculum YAML to compare, e.g. with an opt-in strategy; '' to skip "
                        "(default: %(default)s)")
    parser.add_argument("--pool", default=DEFAULT_POOL, choices=list(POOLS), help="generated pool (default: %(default)s)")
    parser.add_argument("--budget", type=int, default=16000, help="training examples of each run (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool, the model and the runs")
    parser.add_argument("--size", default="small", choices=list(SIZES), help="model and pool size (default: %(default)s)")
    parser.add_argument("--output-dir", default="outputs/quickstart", help="where the data map PNG goes")
    return parser.parse_args(argv)


def _row(label: str, result: dict[str, Any]) -> str:
    by_level = result["test_accuracy_by_level"]
    levels = " | ".join(f"{100 * by_level[k]:.1f}" for k in sorted(by_level))
    return f"| {label} | {100 * result['test_accuracy']:.1f} | {levels} | {100 * result['extrapolation_accuracy']:.1f} |"


def report(args: argparse.Namespace, uniform: dict[str, Any], online: dict[str, Any], png: Path,
           opt_in: dict[str, Any] | None = None) -> None:
    spec = POOLS[args.pool]
    levels = sorted(uniform["test_accuracy_by_level"])
    print(f"\nHeld-out exact match (%) after {online['budget']:,} training examples, pool `{args.pool}`:\n")
    print("| run | test | " + " | ".join(f"level {k}" for k in levels) + " | level 5 (unseen) |")
    print("|---|---:|" + "---:|" * len(levels) + "---:|")
    print(_row("uniform shuffling (Trainer default)", uniform))
    print(_row("online curriculum (defaults)", online))
    if opt_in is not None:
        print(_row(f"online curriculum ({Path(args.opt_in_config).name})", opt_in))
    gain = 100 * (online["test_accuracy"] - uniform["test_accuracy"])
    print(f"\nCurriculum - uniform: {gain:+.1f} points of test exact match (one seed; the README's results give the "
          "spread over seeds and pools).")
    if opt_in is not None:
        gain = 100 * (opt_in["test_accuracy"] - uniform["test_accuracy"])
        print(f"With {Path(args.opt_in_config).name} - uniform: {gain:+.1f} points.")
    if spec.pathologies.noise:
        late = [late_noisy_share(r) for r in (uniform, online, opt_in) if r is not None]
        extra = f", {Path(args.opt_in_config).name} {late[2]:.0%}" if opt_in is not None else ""
        print(f"Wrong answers among the rows trained on after the first fifth: uniform {late[0]:.0%}, curriculum "
              f"{late[1]:.0%}{extra} (pool: {spec.pathologies.noise:.0%}).")
        found = online["noise_detection"]
        precision = "-" if not found["flagged"] else f"{found['precision']:.0%}"
        revisited = found["recall_revisited"]
        revisited = ("no wrong row was trained on twice" if revisited != revisited  # NaN: none revisited
                     else f"recall {revisited:.0%} among those trained on at least twice")
        print(f"Suspected noise at the end: {found['flagged']} rows flagged, precision {precision} and recall "
              f"{found['recall']:.0%} against the {found['wrong_rows']} known wrong rows "
              f"({revisited}).")
    counts = ", ".join(f"{name} {count}" for name, count in online["noise_detection"]["map"].items())
    print(f"Data map of the curriculum's run: {counts}.\nData map PNG: {png}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    init_worker(len(os.sched_getaffinity(0)))
    show_progress()  # the Trainer's bar on each run and one per evaluation pass (on stderr)
    settings = yaml.safe_load(Path(args.config).read_text()) or {}
    size = SIZES[args.size]
    print(f"Pool `{args.pool}` ({POOLS[args.pool].rows(size.pool_rows):,} rows): {POOLS[args.pool].describe()}.")
    print(f"Model: a {size.hidden_size}-wide {size.num_layers}-layer Llama, warmed up on a copy task; then "
          f"{args.budget:,} training examples with a TRL SFTTrainer, once shuffled and once with the curriculum "
          f"({args.config}).\n")
    png = Path(args.output_dir) / "data_map.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="curriculum-quickstart-") as workdir:
        bench = Bench(size, args.seed, workdir).prepare()
        uniform = run_one(bench, Strategy("uniform", "uniform", pool=args.pool), args.budget)
        print(f"uniform shuffling: test exact match {uniform['test_accuracy']:.1%} ({uniform['train_seconds']:.0f} s)")
        strategy = Strategy("online", "online curriculum", curriculum=settings, pool=args.pool)
        online = run_one(bench, strategy, args.budget, data_map_png=str(png))
        print(f"online curriculum: test exact match {online['test_accuracy']:.1%} ({online['train_seconds']:.0f} s)")
        opt_in = None
        if args.opt_in_config:
            extra = yaml.safe_load(Path(args.opt_in_config).read_text()) or {}
            opt_in = run_one(bench, Strategy("online", "online curriculum, opt-in", curriculum=extra, pool=args.pool),
                             args.budget)
            print(f"online curriculum ({Path(args.opt_in_config).name}): test exact match "
                  f"{opt_in['test_accuracy']:.1%} ({opt_in['train_seconds']:.0f} s)")
    report(args, uniform, online, png, opt_in)
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
