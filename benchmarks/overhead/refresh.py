"""Cost of the curriculum's bookkeeping at 1M-100M rows: one sampler refresh, one step's update, memory per row."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import TrainerState

import curriculum.core as core
import curriculum.factors.task_shares as task_shares_factor
from curriculum import Curriculum, CurriculumConfig
from curriculum.callbacks import CurriculumCallback
from curriculum.runtime import Runtime
from curriculum.samplers import CurriculumSampler

__all__ = ["Parts", "Variant", "build", "main", "measure", "parse_rows", "set_state"]

ROWS = (10**6, 10**7, 10**8)
QUICK_ROWS = (10**4, 10**5)


@dataclass(frozen=True)
class Variant:
    """A configuration of the curriculum: without a group column, or with `groups` tasks and task balance."""

    name: str
    groups: int
    replay_share: float = 0.1

    def config(self) -> CurriculumConfig:
        return CurriculumConfig(
            group_column="task" if self.groups else None,
            task_balance=bool(self.groups),
            replay_share=self.replay_share,
            share_scores="none",  # duplicate hashing needs the rows' texts, which this benchmark does not build
        )


@dataclass
class Parts:
    """The live objects of one curriculum, built through the public API as `curriculum.build_curriculum` does."""

    curriculum: Curriculum
    sampler: CurriculumSampler
    callback: CurriculumCallback

    @property
    def global_batch(self) -> int:
        return self.curriculum.global_batch


def build(
    num_rows: int, variant: Variant, global_batch: int, seed: int = 0, refresh_every_steps: int | None = None
) -> Parts:
    """The curriculum, sampler and callback for `num_rows` rows, with random group codes for the grouped variant.

    The dataset itself is never built (its group column would be 100M Python strings): the curriculum is built from
    integer group codes, with the budget set to one pass over the rows.
    """
    config = dataclasses.replace(
        variant.config(), budget_samples=num_rows, refresh_every_steps=refresh_every_steps
    )
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, variant.groups, num_rows) if variant.groups else None
    names = [f"t{i}" for i in range(variant.groups)] if variant.groups else None
    curriculum = Curriculum(config, num_rows, groups=groups, group_names=names, global_batch=global_batch)
    runtime = Runtime()
    sampler = CurriculumSampler(curriculum, seed=seed, wait=runtime.join)
    return Parts(curriculum, sampler, CurriculumCallback(curriculum, sampler, runtime=runtime))


def set_state(scores: ScoreTable, seen: float, seed: int = 1) -> None:
    """Put the table in the state of a run midway: a share `seen` of the rows trained on, 1-4 times, with random
    losses (log-normal around 1.5 nats), confidences exp(-loss) and a first loss a little above the current."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(rng.random(len(scores)) < seen)
    loss = rng.lognormal(np.log(1.5), 0.5, rows.size).astype(np.float32)
    scores.loss[rows] = loss
    scores.confidence[rows] = np.exp(-loss)
    scores.first_loss[rows] = loss * rng.uniform(1.0, 1.5, rows.size).astype(np.float32)
    scores.count[rows] = rng.integers(1, 5, rows.size, dtype=np.int32)
    scores.num_seen = int(rows.size)


# ---------------------------------------------------------------------------------------------------- timing


class Stopwatch:
    """Accumulated seconds per named part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

        return timed

    def pop(self) -> dict[str, float]:
        out, self.seconds = self.seconds, {}
        return out


@contextmanager
def patched(owner: Any, labels: dict[str, str], watch: Stopwatch) -> Iterator[None]:
    """Time the attributes of `owner` (a module, class or object) named by `labels`, each under its label, from
    inside the real calls."""
    saved = {name: getattr(owner, name) for name in labels}
    for name, fn in saved.items():
        setattr(owner, name, watch.wrap(labels[name], fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(owner, name, fn)


@contextmanager
def timed_refresh_parts(parts: Parts, watch: Stopwatch) -> Iterator[None]:
    """Time the parts of `Curriculum.draw`: the difficulty, and the `task_shares`, `sampling_weights` and
    `normalized_entropy` functions it calls."""
    functions = {"sampling_weights": "weights", "normalized_entropy": "entropy"}
    with patched(core.Difficulty, {"__call__": "difficulty"}, watch), patched(core, functions, watch), \
            patched(task_shares_factor, {"task_shares": "shares"}, watch):
        yield


@contextmanager
def timed_step_parts(parts: Parts, watch: Stopwatch) -> Iterator[None]:
    """Time the score-table update and the replay admission inside `CurriculumCallback.on_step_end`."""
    curriculum = parts.curriculum
    with patched(curriculum.scores, {"update": "update"}, watch):
        if curriculum.replay is None:
            yield
        else:
            with patched(curriculum.replay, {"snapshot": "replay", "admit": "replay"}, watch):
                yield


class _Module(torch.nn.Module):
    pass


def feed_step(parts: Parts, step: int, rng: np.random.Generator, seq_len: int = 16) -> None:
    """Record one optimizer step's rows in the callback's loss capture, as the forward hooks would: the rows of the
    step's global batch from the sampler's stream, with random token losses."""
    batch = parts.global_batch
    ids = parts.sampler.drawn[(step - 1) * batch : step * batch]
    module = _Module().train()
    capture = parts.callback.capture
    nll = torch.from_numpy(rng.exponential(1.5, (ids.size, seq_len)).astype(np.float32))
    capture.pre_forward(module, (), {"sample_index": torch.from_numpy(ids.copy()), "input_ids": nll})
    capture.record(nll, torch.ones_like(nll, dtype=torch.bool))


def draw_until(parts: Parts, positions: int) -> None:
    """Iterate the sampler until the first `positions` of its stream are drawn."""
    if positions > len(parts.sampler):
        raise ValueError(f"the epoch's stream has {len(parts.sampler)} positions, fewer than the {positions} needed")
    stream = iter(parts.sampler)
    while parts.sampler.drawn.size < positions:
        next(stream)


def refresh(parts: Parts, rng: np.random.Generator) -> None:
    """One refresh: the weights of every row and the draw of one block, as the sampler asks for it."""
    parts.curriculum.draw(0, parts.curriculum.block_size, rng)


def measure(num_rows: int, variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    """Build the curriculum at `num_rows`, put it in a midway state, and measure one refresh, the per-step work and
    the memory per row."""
    started = time.perf_counter()
    result: dict[str, Any] = {"rows": num_rows, "variant": variant.name}
    # Memory: everything allocated from here on is traced (numpy reports its buffers to tracemalloc).
    gc.collect()
    tracemalloc.start()
    parts = build(num_rows, variant, args.batch)
    set_state(parts.curriculum.scores, args.seen)
    gc.collect()
    resident = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    draws = np.random.default_rng(3)
    refresh(parts, draws)  # the first refresh (also a warm-up)
    current, peak = tracemalloc.get_traced_memory()
    result["refresh_peak_bytes"] = (peak - resident) / num_rows
    refresh_steps = parts.curriculum.refresh_steps
    steps = 2 * refresh_steps
    draw_until(parts, steps * args.batch)
    rng = np.random.default_rng(2)
    for step in range(1, refresh_steps):
        feed_step(parts, step, rng)
        parts.callback.on_step_end(None, TrainerState(global_step=step), None)
        parts.callback.runtime.join()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    feed_step(parts, refresh_steps, rng)
    parts.callback.on_step_end(None, TrainerState(global_step=refresh_steps), None)  # may retake the replay snapshot
    parts.callback.runtime.join()
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    policy = parts.curriculum.replay
    result["snapshot_peak_bytes"] = (peak - before) / num_rows if policy is not None else None
    result["resident_bytes"] = current / num_rows
    result["table_bytes"] = parts.curriculum.scores.bytes_per_row
    tracemalloc.stop()

    # (a) Refresh: `Curriculum.draw` of one block, whole and by part.
    watch = Stopwatch()
    reps = args.reps or max(2, min(7, round(3e7 / num_rows)))
    totals, by_part = [], []
    with timed_refresh_parts(parts, watch):
        for _ in range(reps):
            t0 = time.perf_counter()
            refresh(parts, draws)
            totals.append(time.perf_counter() - t0)
            by_part.append(watch.pop())
    result["refresh_s"] = statistics.median(totals)
    for name in ("difficulty", "shares", "weights", "entropy"):
        values = [p.get(name, 0.0) for p in by_part]
        result[f"{name}_s"] = statistics.median(values)
    result["draw_s"] = statistics.median(t - sum(p.values()) for t, p in zip(totals, by_part))
    result["refresh_reps"] = reps

    # (b) One optimizer step's update: the callback's on_step_end (gather, score update, replay), and metrics().
    draw_until(parts, (refresh_steps + steps) * args.batch)
    plain, snapshot, update, replay = [], [], [], []
    with timed_step_parts(parts, watch):
        for step in range(refresh_steps + 1, refresh_steps + steps + 1):
            feed_step(parts, step, rng)
            held = None if policy is None else policy._snapshot
            t0 = time.perf_counter()
            parts.callback.on_step_end(None, TrainerState(global_step=step), None)
            parts.callback.runtime.join()  # the work handed to the background thread, counted here (it is the same work)
            elapsed = time.perf_counter() - t0
            split = watch.pop()
            update.append(split["update"])
            if policy is not None and policy._snapshot is not held:  # this step retook the replay snapshot
                snapshot.append(elapsed)
            else:
                plain.append(elapsed)
                replay.append(split.get("replay", 0.0))
    result["update_us"] = 1e6 * statistics.median(update)
    result["replay_us"] = 1e6 * statistics.median(replay)
    result["step_us"] = 1e6 * statistics.median(plain)
    result["mean_step_us"] = 1e6 * (sum(plain) + sum(snapshot)) / steps
    if policy is not None and not snapshot:  # none due in these steps (retaken after 1% new rows): time one
        t0 = time.perf_counter()
        policy.snapshot(parts.curriculum._replay_values(None))
        snapshot.append(time.perf_counter() - t0 + statistics.median(plain))
    result["snapshot_ms"] = 1e3 * statistics.median(snapshot) if snapshot else None
    metric_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        parts.curriculum.metrics()
        metric_times.append(time.perf_counter() - t0)
    result["metrics_us"] = 1e6 * statistics.median(metric_times)
    result["seconds"] = time.perf_counter() - started
    del parts
    gc.collect()
    return result


# ---------------------------------------------------------------------------------------------------- report


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_tables(results: list[dict[str, Any]]) -> None:
    print("## One refresh (`Curriculum.draw` of one block)\n")
    print(
        "| rows | variant | refresh ms | ns/row | difficulty ms | shares ms | weights ms | draw ms | entropy ms |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ms = {k: 1e3 * r[f"{k}_s"] for k in ("refresh", "difficulty", "shares", "weights", "draw", "entropy")}
        print(
            f"| {r['rows']:,} | {r['variant']} | {ms['refresh']:.1f} | {1e9 * r['refresh_s'] / r['rows']:.1f} | "
            f"{ms['difficulty']:.1f} | {ms['shares']:.1f} | {ms['weights']:.1f} | {ms['draw']:.1f} | "
            f"{ms['entropy']:.1f} |"
        )
    print("\n## One optimizer step's update (`CurriculumCallback.on_step_end`)\n")
    print(
        "| rows | variant | update µs | replay µs | on_step_end µs | snapshot step ms | mean µs/step "
        "| metrics µs |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['variant']} | {r['update_us']:.0f} | {r['replay_us']:.0f} | {r['step_us']:.0f} | "
            f"{_fmt(r['snapshot_ms'], '.1f')} | {r['mean_step_us']:.0f} | {r['metrics_us']:.0f} |"
        )
    print("\n## Memory per row\n")
    print("| rows | variant | score table B/row | resident B/row | refresh peak B/row | snapshot peak B/row |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['variant']} | {r['table_bytes']} | {r['resident_bytes']:.1f} | "
            f"{r['refresh_peak_bytes']:.1f} | {_fmt(r['snapshot_peak_bytes'], '.1f')} |"
        )


def parse_rows(text: str) -> list[int]:
    """`"1e6,1e7"` -> `[1000000, 10000000]`."""
    try:
        rows = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rows should be comma-separated numbers such as 1e6,1e7, got {text!r}")
    if not rows or min(rows) < 1:
        raise argparse.ArgumentTypeError(f"--rows should be positive, got {text!r}")
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=parse_rows, default=None, help="dataset sizes (default: 1e6,1e7,1e8)")
    parser.add_argument("--groups", type=int, default=8, help="tasks of the grouped variant (default: %(default)s)")
    parser.add_argument("--seen", type=float, default=0.3, help="share of rows trained on (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=256, help="global batch size (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=None, help="refreshes timed per size (default: 2-7 by size)")
    parser.add_argument("--quick", action="store_true", help="1e4 and 1e5 rows: a smoke test (a few seconds)")
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = list(QUICK_ROWS if args.quick else ROWS)
    if min(args.rows) < 30 * args.batch:
        parser.error(f"--rows should be at least 30 global batches ({30 * args.batch}): the steps timed need them")
    if args.groups < 1 or args.batch < 1 or not 0.0 < args.seen <= 1.0:
        parser.error("--groups and --batch should be positive and --seen in (0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    variants = [Variant("no groups", 0), Variant(f"{args.groups} tasks, balanced", args.groups)]
    print(
        f"# Cost of a refresh and of a step's update by dataset size\n\nnumpy {np.__version__}, CPU; {args.seen:.0%} "
        f"of rows trained on (random losses), global batch {args.batch}, default config (refresh every 10 steps or "
        f"1/1000 of an epoch, laplace kernel), replay share 0.1 (a snapshot at every refresh); grouped variant: "
        f"{args.groups} tasks with "
        "task balance. Times are medians; memory is traced with tracemalloc (numpy's buffers included).\n",
        flush=True,
    )
    for variant in variants:  # warm-up: first-use imports and caches stay out of the figures
        measure(10**4, variant, args)
    results = []
    for num_rows in args.rows:
        for variant in variants:
            result = measure(num_rows, variant, args)
            results.append(result)
            print(
                f"- {num_rows:,} rows, {variant.name}: refresh {1e3 * result['refresh_s']:.1f} ms, step "
                f"{result['step_us']:.0f} µs ({result['seconds']:.0f} s)",
                flush=True,
            )
    print()
    print_tables(results)
    print(
        "\nrefresh: one `Curriculum.draw` of a block (difficulty of every row, task shares, sampling weights, the draw "
        "of one block, entropy). on_step_end: the callback's per-step work (gather, `ScoreTable.update`, replay "
        "admission) on steps without a replay snapshot; snapshot step: a step that also re-ranks all rows for replay "
        "(retaken once 1% of the ranked rows were observed again; timed on its own when no measured step retakes it); "
        "mean: over 20 steps. resident: everything the curriculum holds (score table, group codes, the epoch's stream "
        "record, the last difficulty, the replay snapshot). peak: the most extra memory during a refresh / a snapshot."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
