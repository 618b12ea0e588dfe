"""`python -m benchmarks.rl`: the RL benchmark (GRPO with and without the curriculum on verifiable generated tasks).

Warms up one tiny model per family by supervised training (cached under `--cache`), measures each mix's initial
pass-rate histogram, then runs every (mix, arm, seed) with at most `--workers` processes of one thread each, appending
one line per run to `--out` (runs already there are skipped unless `--fresh`). `--quick` is a seconds-long smoke
version. Then `python -m benchmarks.rl.report` writes the tables into `docs/results/rl.md`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .mixes import MIXES
from .run import ARMS, SIZES
from .run import call_job as _call
from .run import quiet as _quiet


def _map(jobs: list[tuple[str, tuple[Any, ...]]], workers: int):
    """Yield each job's result as it finishes, in at most `workers` spawned processes (in this process if 1)."""
    if workers <= 1:
        for job in jobs:
            yield _call(job)
        return
    with multiprocessing.get_context("spawn").Pool(workers, maxtasksperchild=1) as pool:
        yield from pool.imap_unordered(_call, jobs)


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rl", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny smoke version (seconds)")
    parser.add_argument("--out", default=None, help="results file (default docs/rl/results.jsonl; quick: "
                        "outputs/rl-quick/results.jsonl)")
    parser.add_argument("--cache", default=".cache/rl", help="where warm models are cached")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--mixes", nargs="*", default=list(MIXES), choices=list(MIXES))
    parser.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", nargs="*", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="overwrite --out instead of skipping recorded runs")
    args = parser.parse_args(argv)
    _quiet()
    size = SIZES["quick" if args.quick else "full"]
    out = Path(args.out or ("outputs/rl-quick/results.jsonl" if args.quick else "docs/rl/results.jsonl"))
    out.parent.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache)
    if args.fresh and out.exists():
        out.unlink()
    seeds = tuple(args.seeds) if args.seeds is not None else size.seeds
    start = time.perf_counter()

    families = sorted({MIXES[m].family for m in args.mixes})
    warm_s = {f: s for f, _, s in _map([("warm", (f, size, cache)) for f in families], args.workers)}
    print(f"warm-up models ready ({time.perf_counter() - start:.0f} s)", flush=True)
    initial = {r["mix"]: r for r in _map([("initial", (MIXES[m], size, cache)) for m in args.mixes], args.workers)}
    for m in args.mixes:
        r = initial[m]
        print(f"  {m}: initial pass rates over {r['prompts']} prompts x {r['g']}: p=0 {r['zero']:.0%}, "
              f"0<p<1 {r['between']:.0%}, p=1 {r['one']:.0%}; held-out greedy {r['heldout_accuracy']:.1%}", flush=True)

    done = {(r["mix"], r["arm"], r["seed"]) for r in load(out) if r.get("size") == size.name}
    jobs = [("run", (arm, m, seed, size, cache)) for m in args.mixes for seed in seeds for arm in args.arms
            if (m, arm, seed) not in done]
    print(f"{len(jobs)} runs to do ({len(done)} recorded), budget {size.budget:,} completions each", flush=True)
    with out.open("a") as f:
        for i, result in enumerate(_map(jobs, args.workers), 1):
            result["initial"] = initial[result["mix"]]
            result["warmup_s_this_invocation"] = warm_s.get(result["family"], 0.0)
            f.write(json.dumps(result) + "\n")
            f.flush()
            final = result["curve"][-1]
            print(f"[{i}/{len(jobs)}] {result['mix']} {result['arm']} seed {result['seed']}: "
                  f"held-out {result['curve'][0]['accuracy']:.1%} -> {final['accuracy']:.1%} at "
                  f"{final['completions']:,} completions, {result['timings']['train_s']:.0f} s "
                  f"({time.perf_counter() - start:.0f} s in all)", flush=True)
    # A fixed order, so that reruns give the same file.
    rows = sorted(load(out), key=lambda r: (r["size"], list(MIXES).index(r["mix"]), ARMS.index(r["arm"]), r["seed"]))
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} runs to {out} in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
