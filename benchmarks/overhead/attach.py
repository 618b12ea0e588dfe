"""Cost of attaching the curriculum to a large `datasets.Dataset`: `Curriculum.from_dataset` on memory-mapped
prompt/completion rows of about 1 KB (60% of them with a repeated prompt), its seconds and peak resident memory.

Each size is written once to an Arrow file (in a temporary directory, or kept in `--data-dir` and reused by later
runs) and memory-mapped with `Dataset.from_file`, as a real dataset is; each measurement runs in a fresh process, so
its peaks are its own. Peak RSS counts the pages of the memory-mapped file that were read (page cache the kernel can
drop), so the second table also gives the peak of anonymous memory (the process's own allocations, sampled every
10 ms) and the CPU seconds (user + system, all threads). `--paths arrow,python` also times the Python path (the
columns read as Python lists and hashed row by row), as the code did before the Arrow fast path.

    python -m benchmarks.overhead.attach --rows 1e6,1e7 --data-dir /work/bench_data
    python -m benchmarks.overhead.attach --quick
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

__all__ = ["main", "measure", "parse_rows", "write_dataset"]

ROWS = (10**6, 10**7)
QUICK_ROWS = (10**4,)
TASKS = ("math", "code", "chat", "reasoning", "translation", "summary", "qa", "extraction")
REPEATED = 0.6  # share of rows whose prompt is one of a few thousand shared prompts
BATCH = 50_000  # rows per record batch written


def _batch(lo: int, hi: int, rng: np.random.Generator):  # noqa: ANN202
    import pyarrow as pa

    filler = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " * 7  # ~550 chars
    rows = range(lo, hi)
    shared = rng.random(hi - lo) < REPEATED
    pool = rng.integers(0, 4096, size=hi - lo)
    prompts = [
        f"Shared question {p}: {filler[: 400 + p % 50]}" if s else f"Question {i}: {filler[: 420 + i % 60]}?"
        for i, s, p in zip(rows, shared.tolist(), pool.tolist())
    ]
    completions = [f"Answer {i}. {filler[: 500 + i % 80]}" for i in rows]
    tasks = [TASKS[i % len(TASKS)] for i in rows]
    return pa.record_batch({"prompt": prompts, "completion": completions, "task": tasks})


def write_dataset(num_rows: int, directory: str, seed: int = 0) -> str:
    """Write `num_rows` prompt/completion/task rows to an Arrow stream file (as `datasets` caches) and return its
    path; a complete file of that name already in `directory` is reused."""
    import pyarrow as pa

    path = os.path.join(directory, f"rows_{num_rows}.arrow")
    if os.path.exists(path):
        return path
    rng = np.random.default_rng(seed)
    schema = pa.schema({"prompt": pa.string(), "completion": pa.string(), "task": pa.string()})
    with pa.OSFile(path + ".partial", "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for lo in range(0, num_rows, BATCH):
            writer.write_batch(_batch(lo, min(lo + BATCH, num_rows), rng))
    os.replace(path + ".partial", path)
    return path


def _anonymous_kib() -> int:
    """This process's resident anonymous memory (its own allocations, not file pages), in KiB; 0 without /proc."""
    try:
        with open("/proc/self/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("RssAnon:")), 0)
    except OSError:
        return 0


@contextmanager
def peak_anonymous(period: float = 0.01) -> Iterator[list[int]]:
    """Sample `_anonymous_kib` every `period` seconds while the block runs; yields a list whose one item is then
    the peak seen, in KiB."""
    peak, done = [_anonymous_kib()], threading.Event()

    def sample() -> None:
        while not done.wait(period):
            peak[0] = max(peak[0], _anonymous_kib())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], _anonymous_kib())


def measure(path: str, path_kind: str) -> dict:
    """Time `Curriculum.from_dataset` on the dataset at `path` in this process; `path_kind="python"` disables the
    Arrow fast path."""
    from datasets import Dataset

    from curriculum import Curriculum, CurriculumConfig
    from curriculum import columns

    if path_kind == "python":
        for name in ("content_duplicates", "prompt_duplicates", "arrow_groups", "arrow_numeric"):
            setattr(columns, name, lambda *args, **kwargs: None)
    ds = Dataset.from_file(path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu = time.process_time()
    with peak_anonymous() as anonymous:
        start = time.perf_counter()
        cur = Curriculum.from_dataset(CurriculumConfig(group_column="task", share_scores="duplicates"), ds,
                                        global_batch=8)  # the duplicate detection is what attach costs most
        seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": len(ds),
        "path": path_kind,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mib": peak / 1024,
        "peak_anonymous_mib": anonymous[0] / 1024,
        "rss_before_mib": before / 1024,
        "distinct_contents": int(cur.difficulty.sharing.num_groups),
        "distinct_prompts": int(cur.factors["duplicates"].distinct),
    }


def parse_rows(text: str) -> list[int]:
    """`"1e6,3e6"` -> `[1000000, 3000000]`."""
    try:
        rows = [int(float(x)) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--rows should be comma-separated numbers such as 1e6,3e6, got {text!r}")
    if not rows or min(rows) < 1:
        raise argparse.ArgumentTypeError(f"--rows should be positive, got {text!r}")
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=parse_rows, default=None, help="dataset sizes (default: 1e6,1e7)")
    parser.add_argument(
        "--data-dir", default=None, help="keep the datasets here and reuse them (default: a temporary directory)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run at 1e4 rows")
    parser.add_argument(
        "--paths", default="arrow", help="comma-separated: arrow (the fast path), python (the old path)"
    )
    parser.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: PATH,KIND in a child
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not args.paths or set(args.paths) - {"arrow", "python"}:
        parser.error(f"--paths should name arrow and/or python, got {args.paths}")
    if args.rows is None:
        args.rows = list(QUICK_ROWS if args.quick else ROWS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure is not None:
        path, kind = args.measure.rsplit(",", 1)
        print(json.dumps(measure(path, kind)))
        return 0
    with tempfile.TemporaryDirectory(prefix="attach_bench_") as scratch:
        results = _run(args, args.data_dir or scratch, keep=args.data_dir is not None)
    _print_tables(results)
    return 0


def _run(args: argparse.Namespace, directory: str, keep: bool) -> list[dict]:
    """Write (or reuse) each dataset and measure each path on it in a fresh process."""
    os.makedirs(directory, exist_ok=True)
    results = []
    for rows in args.rows:
        start = time.perf_counter()
        path = write_dataset(rows, directory)
        size = os.path.getsize(path)
        print(f"{rows:,} rows ({size / 2**20:,.0f} MiB) ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        for kind in args.paths:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.overhead.attach", "--measure", f"{path},{kind}"],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["bytes_per_row"] = size / rows
            results.append(result)
            print(f"  {kind}: {result['seconds']:.2f} s", file=sys.stderr)
        if not keep:
            os.remove(path)
    return results


def _print_tables(results: list[dict]) -> None:
    print("## Attach (`Curriculum.from_dataset`, group_column + share_scores=duplicates, duplicate_key=prompt)\n")
    print("| rows | path | bytes/row | seconds | peak RSS MiB | RSS before MiB | distinct contents | distinct prompts |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['path']} | {r['bytes_per_row']:,.0f} | {r['seconds']:.2f} | "
            f"{r['peak_rss_mib']:,.0f} | {r['rss_before_mib']:,.0f} | {r['distinct_contents']:,} | "
            f"{r['distinct_prompts']:,} |"
        )
    print(f"\n## Attach time and memory ({os.cpu_count()} CPUs; peak RSS includes the memory-mapped file's pages)\n")
    print("| rows | path | seconds | CPU seconds | peak RSS GB | peak anonymous GB |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['rows']:,} | {r['path']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['peak_rss_mib'] / 1024:.2f} | {r['peak_anonymous_mib'] / 1024:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
