"""`python -m benchmarks.learning --size small`: run every strategy x budget x seed, then write tables and plots."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from .run import SIZES, STRATEGIES

    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning", description=__doc__)
    parser.add_argument("--size", choices=list(SIZES), default="small", help="benchmark size (default: %(default)s)")
    parser.add_argument("--out", help="folder for learning.md, the PNG plots and results.jsonl (default: docs/learning/SIZE)")
    parser.add_argument("--strategies", help=f"comma-separated names among {', '.join(STRATEGIES)} (default: the "
                        "single-pool study's; with --pools: uniform,online)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the size's)")
    parser.add_argument("--budgets", help="comma-separated budgets in training examples (default: the size's)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="runs in parallel, one CPU thread each (default: %(default)s)")
    parser.add_argument("--pools", help="run the protocol on these pools: tuning, validation, all or comma-separated "
                        "names of benchmarks/learning/pools.py (default: each strategy on its own pool); strategies "
                        "then default to uniform,online and --out to docs/learning/SIZE/protocol")
    parser.add_argument("--fresh", action="store_true", help="ignore results.jsonl of an earlier run in --out")
    parser.add_argument("--no-plot", action="store_true", help="tables only")
    return parser.parse_args(argv)


def _ints(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    return default if not text else tuple(int(float(x)) for x in text.split(","))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from .report import load_results, write_report
    from .workers import init_worker, prepare_seed, run_job
    from .pools import POOLS
    from .run import SIZES, STRATEGIES

    size = SIZES[args.size]
    protocol = args.pools is not None
    pools = [None]
    if protocol:
        from .protocol import expand_pools

        try:
            pools = expand_pools(args.pools)
        except ValueError as err:
            print(err, file=sys.stderr)
            return 2
    from .report import STUDY

    default_strategies = "uniform,online" if protocol else ",".join(STUDY)
    strategies = (args.strategies or default_strategies).split(",")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        print(f"unknown strategies {unknown}; choose from {list(STRATEGIES)}", file=sys.stderr)
        return 2
    seeds, budgets = _ints(args.seeds, size.seeds), _ints(args.budgets, size.budgets)
    out = Path(args.out or Path("docs") / "learning" / size.name / ("protocol" if protocol else ""))
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    if args.fresh and results_path.exists():
        results_path.unlink()
    earlier = load_results(results_path) if results_path.exists() else []
    done = {(r["strategy"], r["pool"], r["budget"], r["seed"]) for r in earlier}
    pending = [
        (seed, name, pool, budget)
        for seed in seeds
        for budget in sorted(budgets, reverse=True)  # longest runs first: better packing over the workers
        for pool in pools
        for name in strategies
        if (name, pool or STRATEGIES[name].pool, size.examples(budget), seed) not in done
    ]
    print(f"learning benchmark, size {size.name}: {len(pending)} runs to do ({len(done)} already in {results_path}), "
          f"{args.workers} worker(s)", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="curriculum-bench-") as workdir:
        jobs = [(size.name, seed, workdir, name, budget, pool) for seed, name, pool, budget in pending]
        seeds_to_prepare = sorted({(size.name, seed, workdir) for seed, *_ in pending})
        # Base models (pools with base knowledge) start from the seed's generic warm-up: prepared after it.
        specs = {(seed, POOLS[pool_name or STRATEGIES[name].pool].pathologies) for seed, name, pool_name, _ in pending}
        bases_to_prepare = sorted({(size.name, seed, workdir, spec.family) for seed, spec in specs if spec.base})
        if args.workers > 1:
            pool = mp.get_context("spawn").Pool(args.workers, initializer=init_worker, initargs=(1,))
            list(pool.imap_unordered(prepare_seed, seeds_to_prepare))
            list(pool.imap_unordered(prepare_seed, bases_to_prepare))
            results = pool.imap_unordered(run_job, jobs)
        else:
            pool = None
            init_worker(len(os.sched_getaffinity(0)))  # the cores this process may use (taskset)
            results = map(run_job, jobs)
        try:
            with open(results_path, "a") as sink:
                for i, result in enumerate(results, 1):
                    sink.write(json.dumps(result) + "\n")
                    sink.flush()
                    print(
                        f"[{i}/{len(jobs)} {time.perf_counter() - started:6.0f}s] {result['strategy']:>20} "
                        f"{result['pool']:>40} "
                        f"budget {result['budget']:>6} seed {result['seed']}: test {result['test_accuracy']:.1%} "
                        f"extrapolation {result['extrapolation_accuracy']:.1%} ({result['train_seconds']:.0f}s)",
                        flush=True,
                    )
        finally:
            if pool is not None:
                pool.terminate()
    if protocol:
        from .protocol import write_protocol_report

        report = write_protocol_report(load_results(results_path), out, size, plot=not args.no_plot)
    else:
        report = write_report(load_results(results_path), out, size, plot=not args.no_plot)
    print(f"\nDone in {time.perf_counter() - started:.0f} s. Report: {report}\n")
    print(report.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
