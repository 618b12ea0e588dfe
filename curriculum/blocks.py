"""Block-wise passes over large arrays, in a few threads: the same bits whatever the number of threads."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__: list[str] = []

# Element-wise passes run block by block: a block stays in cache and the gathered per-group terms need no
# array of the dataset's size.
_BLOCK = 1 << 16
# Threads of the block passes over large arrays (NumPy releases the GIL inside each block's operations). Every
# block's result is the same whichever thread computes it, and the sums over rows stay single passes, so the
# weights are the same bits with any number of threads.
_THREADS = max(1, min(4, int(os.environ.get("CURRICULUM_THREADS", os.cpu_count() or 1))))
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def for_blocks(n: int, body: Callable[[int, int], None]) -> None:
    """Run `body(lo, hi)` over the blocks `[lo, hi)` of `range(n)`, in `_THREADS` threads for large `n`. The blocks
    must write disjoint memory."""
    starts = range(0, n, _BLOCK)
    if _THREADS == 1 or n <= 4 * _BLOCK:
        for lo in starts:
            body(lo, min(lo + _BLOCK, n))
        return
    for _ in _threads().map(lambda lo: body(lo, min(lo + _BLOCK, n)), starts):
        pass


def for_each(items: list, body: Callable[[object], None]) -> None:
    """Run `body(item)` for each of `items` (large, independent pieces of work writing disjoint memory), in
    `_THREADS` threads."""
    if _THREADS == 1 or len(items) < 2:
        for item in items:
            body(item)
        return
    for _ in _threads().map(body, items):
        pass


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="curriculum-blocks")
    return _pool
