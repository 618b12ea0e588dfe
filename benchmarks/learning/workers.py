"""Worker-process side of the learning benchmark: per-seed setup cached per process, one run per job."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["init_worker", "prepare_seed", "run_job"]

_BENCHES: dict[int, Any] = {}


def init_worker(threads: int) -> None:
    import datasets
    import torch
    import transformers

    torch.set_num_threads(threads)
    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()


def bench_for(size_name: str, seed: int, workdir: str) -> Any:
    """The seed's shared setup, built once per process; the warm-up weights are computed once and cached on disk."""
    import torch

    from .run import SIZES, Bench

    if seed not in _BENCHES:
        cache = Path(workdir) / f"warm-{size_name}-{seed}.pt"
        bench = Bench(SIZES[size_name], seed, workdir)
        if cache.exists():
            bench.warm_state = torch.load(cache)
            bench.prepare(warm_up=False)
        else:
            bench.prepare()
            torch.save(bench.warm_state, cache.with_suffix(".tmp"))
            os.replace(cache.with_suffix(".tmp"), cache)
        _BENCHES[seed] = bench
    return _BENCHES[seed]


def prepare_seed(job: tuple[str, int, str]) -> int:
    bench_for(*job)
    return job[1]


def run_job(job: tuple[str, int, str, str, int, str | None]) -> dict[str, Any]:
    """One run: `strategy` at `budget` on `pool` (None: the strategy's own pool)."""
    import dataclasses

    from .run import STRATEGIES, run_one

    size_name, seed, workdir, strategy, budget, pool = job
    spec = STRATEGIES[strategy] if pool is None else dataclasses.replace(STRATEGIES[strategy], pool=pool)
    return run_one(bench_for(size_name, seed, workdir), spec, budget)


