"""How long a training loop waits on the curriculum per step, with a fixed stand-in for the GPU step (a sleep).

The loop takes each step's global batch from a `torch.utils.data.DataLoader` over the curriculum's sampler (with
and without workers), sleeps for the step (the GPU computes while the host is free), then hands the step's per-row
losses to the callback, as a `Trainer` does. "background" is the shipped behaviour (the observations and the draws
run in the curriculum's thread); "synchronous" waits for that work at every step, as the curriculum did before;
"uniform" is the same loader over plain shuffling without the curriculum, so that background - uniform is the wait
the curriculum adds (the loader's own cost, with workers above all, is in both). They run in one process, side by
side, so only their differences are read.

    python -m benchmarks.overhead.loop --rows 1e6,1e7 --step-ms 300
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import TrainerState

from .refresh import Variant, build, feed_step, parse_rows, set_state

__all__ = ["main", "run_loop"]


class _Rows(torch.utils.data.Dataset):
    """A dataset whose row i is i: the loader's work is the sampler's."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


def run_loop(num_rows: int, mode: str, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the simulated steps (`args.steps`, default two refreshes and 10 steps, at least 40); return the loop's wait
    on the curriculum per step (data and bookkeeping)."""
    variant = Variant(f"{args.groups} tasks, balanced", args.groups)
    parts = build(num_rows, variant, args.batch, refresh_every_steps=args.refresh_every_steps)
    set_state(parts.curriculum.scores, 0.3)
    refresh_steps = parts.curriculum.refresh_steps
    steps = args.steps or max(40, 2 * refresh_steps + 10)
    uniform = mode == "uniform"  # plain shuffling, no curriculum: the loader's own wait
    sampler = (
        torch.utils.data.RandomSampler(range(num_rows), generator=torch.Generator().manual_seed(0))
        if uniform
        else parts.sampler
    )
    loader = torch.utils.data.DataLoader(
        _Rows(num_rows), batch_size=args.batch, sampler=sampler, num_workers=workers,
        prefetch_factor=2 if workers else None,
    )
    rng = np.random.default_rng(0)
    waits, fetches = [], []
    batches = iter(loader)
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        next(batches)
        fetched = time.perf_counter()
        time.sleep(args.step_ms / 1e3)  # the GPU step
        if not uniform:
            feed_step(parts, step, rng)  # what the forward hooks record during the step
        t1 = time.perf_counter()
        if not uniform:
            parts.callback.on_step_end(None, TrainerState(global_step=step), None)
        if mode == "synchronous":
            parts.callback.runtime.join()
        waits.append(fetched - t0 + time.perf_counter() - t1)
        fetches.append(fetched - t0)
    parts.callback.runtime.close()
    del batches, loader
    skip = steps // 4  # the first block of the epoch is drawn at its start: warm-up
    return {
        "rows": num_rows, "mode": mode, "workers": workers, "steps": steps, "refresh_steps": refresh_steps,
        "wait_ms": 1e3 * statistics.mean(waits[skip:]), "max_ms": 1e3 * max(waits[skip:]),
        "fetch_ms": 1e3 * statistics.mean(fetches[skip:]),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=parse_rows, default=[10**6, 10**7], help="dataset sizes (default: 1e6,1e7)")
    parser.add_argument("--step-ms", type=float, default=300.0, help="the GPU step's stand-in (default: %(default)s)")
    parser.add_argument(
        "--steps", type=int, default=None, help="steps per run (default: two refreshes and 10 steps, at least 40)"
    )
    parser.add_argument(
        "--refresh-every-steps", type=int, default=None,
        help="the curriculum's refresh_every_steps (default: its default, 10 or 1/1000 of an epoch)",
    )
    parser.add_argument(
        "--modes", default="uniform,synchronous,background",
        help="modes to run: uniform (plain shuffling, no curriculum), synchronous, background (default: %(default)s)"
    )
    parser.add_argument("--batch", type=int, default=256, help="global batch size (default: %(default)s)")
    parser.add_argument("--groups", type=int, default=8, help="tasks, with task balance (default: %(default)s)")
    parser.add_argument("--workers", default="0,2", help="dataloader workers to try (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="1e4 rows, 12 steps of 20 ms: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.step_ms, args.steps, args.workers = [10**4], 20.0, 12, "0"
    args.workers = [int(w) for w in str(args.workers).split(",")]
    args.modes = args.modes.split(",")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"# Wait on the curriculum per training step\n\nA {args.step_ms:.0f} ms sleep stands in for the GPU step; global "
        f"batch {args.batch}, {args.groups} tasks with task balance, replay 0.1, refresh every "
        f"{args.refresh_every_steps or 'default (10, or 1/1000 of an epoch)'} steps, 30% of rows trained on; the first "
        "quarter of the steps left out. wait: the time per step the loop spends outside the step, fetching the batch "
        "and handing over the losses; uniform: the same loader with plain shuffling and no curriculum, so background "
        "- uniform is the wait the curriculum adds.\n",
        flush=True,
    )
    print("| rows | workers | refresh every | steps | uniform wait ms/step | synchronous | background | background - "
          "uniform, % of the step | background worst step ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for num_rows in args.rows:
        for workers in args.workers:
            runs = {mode: run_loop(num_rows, mode, workers, args) for mode in args.modes}
            any_run = next(iter(runs.values()))
            modes = ("uniform", "synchronous", "background")
            cells = [f"{runs[m]['wait_ms']:.2f}" if m in runs else "-" for m in modes]
            added = "-"
            if "uniform" in runs and "background" in runs:
                added = f"{100 * (runs['background']['wait_ms'] - runs['uniform']['wait_ms']) / args.step_ms:.2f}%"
            worst = f"{runs['background']['max_ms']:.1f}" if "background" in runs else "-"
            print(f"| {num_rows:,} | {workers} | {any_run['refresh_steps']} | {any_run['steps']} | "
                  + " | ".join(cells) + f" | {added} | {worst} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
