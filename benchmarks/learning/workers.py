"""Worker-process side of the learning benchmark: per-seed setup cached per process, one run per job."""

from __future__ import annotations

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
    """The seed's shared setup, built once per process. Warm-up weights (generic per seed; base model per seed and
    family) are computed once and cached on disk in `workdir`, where the other workers find them."""
    from .run import SIZES, Bench

    if seed not in _BENCHES:
        _BENCHES[seed] = Bench(SIZES[size_name], seed, workdir).prepare(warm_up=False)
    return _BENCHES[seed]


def prepare_seed(job: tuple[str, int, str] | tuple[str, int, str, str | None]) -> int:
    """Compute (or load) the seed's generic warm-up weights, or with a fourth element, the base model of that family."""
    size_name, seed, workdir, *family = job
    bench = bench_for(size_name, seed, workdir)
    if family and family[0] is not None:
        bench.warm(family[0], base=True)
    else:
        bench.warm()
    return seed


def run_job(job: tuple[str, int, str, str, int, str | None]) -> dict[str, Any]:
    """One run: `strategy` at `budget` on `pool` (None: the strategy's own pool)."""
    import dataclasses

    from .run import STRATEGIES, run_one

    size_name, seed, workdir, strategy, budget, pool = job
    spec = STRATEGIES[strategy] if pool is None else dataclasses.replace(STRATEGIES[strategy], pool=pool)
    return run_one(bench_for(size_name, seed, workdir), spec, budget)
