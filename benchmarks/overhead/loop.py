"""How long a training loop waits on the curriculum per step, with a fixed stand-in for the GPU step (a sleep).

The loop takes each step's global batch from a `torch.utils.data.DataLoader` over the curriculum's sampler (with
and without workers), sleeps for the step (the GPU computes while the host is free), then hands the step's per-row
losses to the callback, as a `Trainer` does. "background" is the shipped behaviour (the observations and the draws
run in the curriculum's thread); "synchronous" waits for that work at every step, as the curriculum did before.
Both run in one process, side by side, so only their ratio is read.

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
    """Run `args.steps` simulated steps; return the loop's wait on the curriculum per step (data and bookkeeping)."""
    variant = Variant(f"{args.groups} tasks, balanced", args.groups)
    parts = build(num_rows, variant, args.batch)
    set_state(parts.curriculum.scores, 0.3)
    loader = torch.utils.data.DataLoader(
        _Rows(num_rows), batch_size=args.batch, sampler=parts.sampler, num_workers=workers,
        prefetch_factor=2 if workers else None,
    )
    rng = np.random.default_rng(0)
    waits, fetches = [], []
    batches = iter(loader)
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        next(batches)
        fetched = time.perf_counter()
        time.sleep(args.step_ms / 1e3)  # the GPU step
        feed_step(parts, step, rng)  # what the forward hooks record during the step
        t1 = time.perf_counter()
        parts.callback.on_step_end(None, TrainerState(global_step=step), None)
        if mode == "synchronous":
            parts.sampler.join()
        waits.append(fetched - t0 + time.perf_counter() - t1)
        fetches.append(fetched - t0)
    parts.sampler.close()
    del batches, loader
    skip = args.steps // 4  # the first block of the epoch is drawn at its start: warm-up
    return {
        "rows": num_rows, "mode": mode, "workers": workers,
        "wait_ms": 1e3 * statistics.mean(waits[skip:]), "max_ms": 1e3 * max(waits[skip:]),
        "fetch_ms": 1e3 * statistics.mean(fetches[skip:]),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=parse_rows, default=[10**6, 10**7], help="dataset sizes (default: 1e6,1e7)")
    parser.add_argument("--step-ms", type=float, default=300.0, help="the GPU step's stand-in (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="steps per run: 4 refreshes (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=256, help="global batch size (default: %(default)s)")
    parser.add_argument("--groups", type=int, default=8, help="tasks, with task balance (default: %(default)s)")
    parser.add_argument("--workers", default="0,2", help="dataloader workers to try (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="1e4 rows, 12 steps of 20 ms: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.step_ms, args.steps, args.workers = [10**4], 20.0, 12, "0"
    args.workers = [int(w) for w in str(args.workers).split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"# Wait on the curriculum per training step\n\nA {args.step_ms:.0f} ms sleep stands in for the GPU step; global "
        f"batch {args.batch}, {args.groups} tasks with task balance, refresh every 10 steps, 30% of rows trained on; "
        f"{args.steps} steps, the first quarter left out. wait: the time per step the loop spends outside the step, "
        "fetching the batch and handing over the losses.\n",
        flush=True,
    )
    print("| rows | workers | synchronous wait ms/step | background wait ms/step | background % of the step | "
          "background worst step ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for num_rows in args.rows:
        for workers in args.workers:
            sync = run_loop(num_rows, "synchronous", workers, args)
            background = run_loop(num_rows, "background", workers, args)
            print(
                f"| {num_rows:,} | {workers} | {sync['wait_ms']:.1f} | {background['wait_ms']:.2f} | "
                f"{100 * background['wait_ms'] / args.step_ms:.2f}% | {background['max_ms']:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
