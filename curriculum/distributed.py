"""Cross-process helpers: gather per-row statistics, share rank 0's arrays, check that processes agree."""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.distributed as dist

__all__: list[str] = []


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _device() -> torch.device:
    """Where this process's collective tensors live: its GPU with NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_array(array: np.ndarray | None, failed: bool = False) -> np.ndarray | None:
    """Rank 0's 1-D int64 `array` (or `None`) on every process (with one process, `array` itself); the other ranks'
    `array` is ignored. Rank 0 passes `failed=True` when it could not compute the array (it then raises its own
    error): the other processes raise a `RuntimeError` instead of waiting for it."""
    if world_size() == 1:
        return array
    device, source = _device(), rank() == 0
    size = (-2 if failed else -1 if array is None else len(array)) if source else 0
    header = torch.tensor([size], dtype=torch.int64, device=device)
    dist.broadcast(header, src=0)
    size = int(header.item())
    if size == -2 and not source:
        raise RuntimeError("curriculum: rank 0 failed to read the dataset (its error is in rank 0's log)")
    if size < 0:
        return None
    if source:
        values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).to(device)
    else:
        values = torch.empty(size, dtype=torch.int64, device=device)
    dist.broadcast(values, src=0)
    return array if source else values.cpu().numpy()


def gather_rows(rows: torch.Tensor) -> np.ndarray:
    """All-gather a `(n, k)` float64 tensor whose `n` differs between processes; rank order is kept.

    Every process gets the same array, so tables updated from it stay bit-identical.
    """
    if world_size() == 1:
        return rows.detach().cpu().numpy()
    device = rows.device
    if dist.get_backend() == "nccl" and device.type != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    rows = rows.to(device)
    size = torch.tensor([rows.shape[0]], device=device, dtype=torch.int64)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    padded = torch.zeros((max(sizes), rows.shape[1]), dtype=rows.dtype, device=device)
    padded[: rows.shape[0]] = rows
    out = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(out, padded)
    return torch.cat([o[:s] for o, s in zip(out, sizes)]).cpu().numpy()


class PendingGather:
    """An all-gather of every process's `(n, k)` float64 `rows`, at most `capacity` per process, started at once
    (asynchronously) and waited for by [`result`], from any thread: the training loop that starts it never waits for
    the device or the other processes. Each process sends its rows padded to `capacity`, behind a header row holding
    their count; every process must start it in the same order, with the same capacity."""

    def __init__(self, rows: torch.Tensor, capacity: int) -> None:
        n, k = rows.shape
        if n > capacity:
            raise RuntimeError(
                f"curriculum: this process trained on {n} rows in one optimizer step, more than the {capacity} a "
                "step holds (per-device batch x gradient accumulation); the data loader does not follow the sampler"
            )
        device = _device()
        padded = torch.zeros((capacity + 1, k), dtype=torch.float64, device=device)
        padded[0, 0] = n
        padded[1 : n + 1] = rows.to(device=device, dtype=torch.float64)
        self._sent = padded  # kept alive until the collective is done
        self._parts = [torch.empty_like(padded) for _ in range(world_size())]
        self._work = dist.all_gather(self._parts, padded, async_op=True)

    def result(self) -> np.ndarray:
        """The gathered rows, in rank order (waits for the collective)."""
        self._work.wait()
        parts = [part.cpu() for part in self._parts]
        return torch.cat([part[1 : 1 + int(part[0, 0])] for part in parts]).numpy()


def check_process_count(accelerate_processes: int) -> None:
    """Raise when accelerate and torch.distributed disagree on the number of processes."""
    torch_processes = world_size()
    if accelerate_processes != torch_processes:
        raise RuntimeError(
            f"accelerate sees {accelerate_processes} process(es) but torch.distributed has {torch_processes}: "
            "every process would train on the same data. On CPU, launch with `torchrun --nproc_per_node N` and, "
            "with DeepSpeed, pass `TrainingArguments(use_cpu=True, ...)`."
        )


def stream_digest(indices: np.ndarray) -> int:
    """A 63-bit digest of an index array, cheap to compare across processes."""
    data = np.ascontiguousarray(indices, dtype=np.int64).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") >> 1


def check_same_stream(indices: np.ndarray, where: str) -> None:
    """Raise on every process when the processes' copies of a stream segment differ (one tiny all-gather)."""
    if world_size() == 1:
        return
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    mine = torch.tensor([stream_digest(indices)], dtype=torch.int64, device=device)
    digests = [torch.zeros_like(mine) for _ in range(world_size())]
    dist.all_gather(digests, mine)
    values = [int(d.item()) for d in digests]
    if len(set(values)) > 1:
        raise RuntimeError(
            f"curriculum: the processes sampled different rows ({where}; stream digests by rank: {values}). Every "
            "process must build the curriculum from the same dataset in the same order, with the same config and "
            "seed, and score every step (do not filter or shuffle the dataset per rank)."
        )


def common_values(values: list[int]) -> list[int]:
    """The values that every process has in its list `values` (the list itself with one process)."""
    if world_size() == 1:
        return list(values)
    lists: list[list[int]] = [[] for _ in range(world_size())]
    dist.all_gather_object(lists, list(values))
    common = set(lists[0]).intersection(*lists[1:])
    return [v for v in values if v in common]
