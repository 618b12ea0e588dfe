"""Multi-process harness: each rank builds a curriculum's duplicate codes from one dataset; only rank 0 computes them.

Launched by tests/integration/test_attach_distributed.py with `torchrun --nproc_per_node 2` (gloo, CPU). On ranks other than 0
every duplicate-finding function raises, so their codes can only come from rank 0. Each rank writes `rank{R}.npz`
with the content copies (`canonical`), the prompt copies (`copies_of`), how many times it hashed texts, and what a
build whose content column does not exist raised on it.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch.distributed as dist
from datasets import Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit"))

from test_arrow_columns import make_rows  # noqa: E402

from curriculum import Curriculum, CurriculumConfig, text  # noqa: E402

HASHERS = ("arrow_duplicate_digests", "duplicate_groups")


def dataset(rows: int) -> Dataset:
    """The rows of tests/unit/test_arrow_columns.py (duplicates, nulls, non-ASCII texts), shuffled."""
    return Dataset.from_list(make_rows(rows, seed=7)).shuffle(seed=1)


def counting(rank: int, calls: list[int]) -> None:
    """Count the hashing calls on rank 0; make them fail on the others."""
    for name in HASHERS:
        original = getattr(text, name)

        def wrapped(*args, _original=original, _name=name, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if rank != 0:
                raise AssertionError(f"rank {rank} computed {_name}: it should receive rank 0's result")
            calls[0] += 1
            return _original(*args, **kwargs)

        setattr(text, name, wrapped)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=400)
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    calls = [0]
    counting(rank, calls)
    ds = dataset(args.rows)
    cur = Curriculum.from_dataset(CurriculumConfig(group_column="task", share_scores="duplicates"), ds, global_batch=4)
    try:
        Curriculum.from_dataset(CurriculumConfig(content_column="missing", share_scores="duplicates"), ds, global_batch=4)
        error = ""
    except Exception as e:  # noqa: BLE001 - what each rank raised is the result
        error = f"{type(e).__name__}: {e}"
    np.savez(
        os.path.join(args.out, f"rank{rank}.npz"),
        world_size=dist.get_world_size(),
        canonical=cur.difficulty.sharing.canonical,
        copies_of=cur.factors["duplicates"].copies_of,
        calls=calls[0],
        error=error,
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
