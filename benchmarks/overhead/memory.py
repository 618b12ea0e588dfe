"""Memory the curriculum holds per row at 1M-100M rows: every NumPy array reachable from it, and the process's RSS.

Each (rows, configuration) runs in a fresh process: it builds the curriculum, its sampler and callback, puts the
score table in a midway state (30% of rows trained on), then trains 2 refresh blocks as a `Trainer` does (each
step's rows observed through the callback, the next blocks drawn in the background thread), and measures:

- held B/row: the bytes of every distinct NumPy array buffer reachable from the curriculum, the sampler and the
  callback (score table, group codes, the epoch's stream record, difficulty, replay, sharing, ...), per row;
- by part: the same, split by the attribute path that reaches each buffer first;
- RSS B/row: the process's resident memory after the run minus before the build, per row; peak: the most resident
  memory during the build and the run, minus before the build (so it includes a refresh's temporaries).

    python -m benchmarks.overhead.memory --rows 1e6,1e7,1e8
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import TrainerState

from curriculum import Curriculum, CurriculumConfig
from curriculum.callbacks import CurriculumCallback
from curriculum.runtime import Runtime
from curriculum.samplers import CurriculumSampler
from curriculum.sharing import ScoreSharing

from .refresh import Parts, feed_step, parse_rows, set_state

__all__ = ["CONFIGS", "held_arrays", "main", "measure"]

GLOBAL_BATCH = 256
GROUPS = 8
# name -> (config overrides, group codes?, synthetic duplicates?)
CONFIGS: dict[str, tuple[dict[str, Any], bool, bool]] = {
    "default": ({"share_scores": "none"}, False, False),
    "8 tasks": ({"share_scores": "none", "group_column": "task"}, True, False),
    "8 tasks + replay 0.1": ({"share_scores": "none", "group_column": "task", "replay_share": 0.1}, True, False),
    "duplicates (1% copies)": ({}, False, True),
}


def held_arrays(*roots: Any) -> dict[str, int]:
    """Bytes of every distinct NumPy buffer reachable from `roots` through attributes, dict values, lists, tuples and
    sets, keyed by the first path that reaches it (a view counts its base's buffer once)."""
    found: dict[int, tuple[str, int]] = {}
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(type(root).__name__, root) for root in roots]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if base.base is None and id(base) not in found:  # an array owning its memory
                found[id(base)] = (path, base.nbytes)
            elif base.base is not None and id(base) not in found:  # a view of a foreign buffer (e.g. from_numpy)
                found[id(base)] = (path, base.nbytes)
            continue
        if isinstance(obj, (str, bytes, int, float, complex, bool, type(None), type)) or callable(obj) and not hasattr(
            obj, "__dict__"
        ):
            continue
        if isinstance(obj, dict):
            stack.extend((f"{path}[{k!r}]", v) for k, v in obj.items())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(obj))
        elif type(obj).__module__.split(".")[0] in ("curriculum", "samplers", "callbacks", "benchmarks"):
            attrs = dict(getattr(obj, "__dict__", {}))
            for name in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, name):
                    attrs[name] = getattr(obj, name)
            stack.extend((f"{path}.{k}", v) for k, v in attrs.items())
    out: dict[str, int] = {}
    for path, nbytes in found.values():
        out[path] = out.get(path, 0) + nbytes
    return out


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def build(num_rows: int, name: str, seed: int = 0) -> Parts:
    overrides, grouped, duplicates = CONFIGS[name]
    config = CurriculumConfig(**{**overrides, "budget_samples": num_rows})
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, GROUPS, num_rows) if grouped else None
    names = [f"t{i}" for i in range(GROUPS)] if grouped else None
    sharing = None
    if duplicates:
        # 1% of the rows are copies of a random earlier row that is not itself a copy (its canonical row).
        is_copy = rng.random(num_rows) < 0.01
        is_copy[0] = False
        copies, originals = np.flatnonzero(is_copy), np.flatnonzero(~is_copy)
        earlier = np.searchsorted(originals, copies)  # originals before each copy (at least row 0)
        canonical = np.arange(num_rows, dtype=np.int64)
        canonical[copies] = originals[(rng.random(copies.size) * earlier).astype(np.int64)]
        del is_copy, copies, originals, earlier
        sharing = ScoreSharing(canonical)
        del canonical
    curriculum = Curriculum(config, num_rows, groups=groups, group_names=names, sharing=sharing,
                            global_batch=GLOBAL_BATCH)
    del groups, sharing
    runtime = Runtime()
    sampler = CurriculumSampler(curriculum, seed=seed, wait=runtime.join)
    return Parts(curriculum, sampler, CurriculumCallback(curriculum, sampler, runtime=runtime))


def measure(num_rows: int, name: str) -> dict[str, Any]:
    """Build, train 2 refresh blocks, and measure the memory held (in this process)."""
    gc.collect()
    rss0 = _rss()
    parts = build(num_rows, name)
    set_state(parts.curriculum.scores, 0.3)
    steps = 2 * parts.curriculum.refresh_steps
    rng = np.random.default_rng(2)
    stream = iter(parts.sampler)
    for step in range(1, steps + 1):
        for _ in range(GLOBAL_BATCH):  # the loader takes the step's batch
            next(stream)
        feed_step(parts, step, rng)
        parts.callback.on_step_end(None, TrainerState(global_step=step), None)
    parts.callback.runtime.join()
    parts.curriculum.metrics()
    gc.collect()
    held = held_arrays(parts.curriculum, parts.sampler, parts.callback)
    rss1 = _rss()
    result = {
        "rows": num_rows,
        "config": name,
        "held": sum(held.values()) / num_rows,
        "parts": {k: v / num_rows for k, v in sorted(held.items(), key=lambda kv: -kv[1]) if v >= num_rows / 100},
        "rss": (rss1 - rss0) / num_rows,
        "peak": (_peak_rss() - rss0) / num_rows,
        "table": parts.curriculum.scores.bytes_per_row,
    }
    parts.callback.runtime.close()
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=parse_rows, default=[10**6, 10**7, 10**8], help="dataset sizes")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="configurations (default: all)")
    parser.add_argument("--quick", action="store_true", help="1e5 rows: a smoke test")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # measure in this process, print JSON
    args = parser.parse_args(argv)
    if args.quick:
        args.rows = [10**5]
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown --configs {unknown}; choose among {list(CONFIGS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.rows[0], args.configs[0])))
        return 0
    print(
        f"# Memory held per row\n\nGlobal batch {GLOBAL_BATCH}, default refresh cadence (10 steps, or 1/1000 of an "
        "epoch), 30% of rows trained on, 2 refresh blocks trained as a Trainer does (observations and draws in the "
        "background thread). held: distinct "
        "NumPy buffers reachable from the curriculum, sampler and callback. RSS: resident memory after minus before "
        "the build; peak: the most resident memory minus before the build (a refresh's temporaries included). Each "
        "measurement runs in a fresh process.\n",
        flush=True,
    )
    print("| rows | config | held B/row | score table B/row | RSS B/row | peak RSS B/row | largest parts (B/row) |")
    print("|---:|---|---:|---:|---:|---:|---|")
    for num_rows in args.rows:
        for name in args.configs:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.overhead.memory", "--one", "--rows", str(num_rows),
                 "--configs", name],
                capture_output=True, text=True, check=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            parts = ", ".join(f"{k.split('.', 1)[-1]} {v:.1f}" for k, v in list(r["parts"].items())[:6])
            print(
                f"| {num_rows:,} | {name} | {r['held']:.1f} | {r['table']} | {r['rss']:.1f} | {r['peak']:.1f} | "
                f"{parts} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
