"""Per-row loss and confidence taken from the training forward pass: no second forward, no copy of the logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .distributed import PendingGather, gather_rows, world_size
from .fused_head import IGNORE_INDEX, FusedHead

__all__: list[str] = []


def token_rows(batch_size: int, length: int, segments: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """Row (sequence) index of each shifted target position `(batch_size, length)`.

    Position j of the shifted layout predicts token j + 1. In a padded batch the row is the batch index; in a
    padding-free batch (one flattened row) it is the segment of token j + 1.
    """
    if segments is None:
        return torch.arange(batch_size, device=device)[:, None].expand(batch_size, length)
    return segments[1 : length + 1].to(device)[None, :]


def row_statistics(
    nll: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, num_rows: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean token NLL, mean target probability and supervised-token count of each row, in O(tokens).

    Args:
        nll (`torch.Tensor`): token negative log-likelihoods, shifted layout `(B, T)`.
        mask (`torch.Tensor`): `True` where the token is supervised (label != -100), same shape.
        rows (`torch.Tensor`): row index of each position (see [`token_rows`]), broadcastable to the same shape.
        num_rows (`int`): number of rows in the micro-batch.
    """
    rows = rows.expand_as(nll).reshape(-1)
    weight = (mask.reshape(-1) & (rows < num_rows)).to(torch.float32)
    rows = rows.clamp(max=num_rows - 1)
    nll = nll.reshape(-1).to(torch.float32) * weight
    zeros = torch.zeros(num_rows, dtype=torch.float32, device=nll.device)
    count = zeros.index_add(0, rows, weight)
    nll_sum = zeros.index_add(0, rows, nll)
    prob_sum = zeros.index_add(0, rows, torch.exp(-nll) * weight)
    denom = count.clamp(min=1.0)
    return nll_sum / denom, prob_sum / denom, count


def _segments(kwargs: dict[str, Any], num_ids: int) -> torch.Tensor | None:
    """Token-to-sequence map of a padding-free batch (one flattened row), or None for a padded batch."""
    cu = kwargs.get("cu_seq_lens_q")
    position_ids = kwargs.get("position_ids")
    length = None
    for name in ("input_ids", "inputs_embeds", "attention_mask"):
        tensor = kwargs.get(name)
        if tensor is not None:
            if tensor.shape[0] == num_ids:
                return None
            length = tensor.shape[1]
            break
    if cu is not None:
        length = length or int(cu[-1])
        positions = torch.arange(length, device=cu.device, dtype=cu.dtype)
        return torch.searchsorted(cu[1:].contiguous(), positions, right=True)
    if position_ids is not None and position_ids.shape[0] == 1:
        return torch.cumsum(position_ids[0] == 0, 0) - 1
    raise ValueError(
        f"the batch holds {num_ids} rows but its inputs are not {num_ids} padded sequences and carry neither "
        "`cu_seq_lens_q` nor `position_ids` to split them: the curriculum cannot map tokens back to rows"
    )


class LossCapture:
    r"""
    Collects per-row statistics of each training micro-batch.

    - `pre_forward` (a forward pre-hook with kwargs) pops the `sample_index` input, so the model never sees it,
      and remembers the rows of the micro-batch and, for padding-free batches, where each sequence starts.
    - `post_forward` (a forward hook) reads TRL's fused outputs (`log_probs`, `label_mask`) when present.
    - [`loss_function`] is a `compute_loss_func` for the Trainer: it computes the token losses once and derives
      both the training loss (same value and gradient as the model's own) and the per-row statistics.

    Statistics stay on the device until [`gather`] moves one small array per optimizer step.
    """

    def __init__(self) -> None:
        self._pending: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._forwards_with_ids = 0
        # Set under `use_liger_kernel=True` (Trainer): the forward stops before the LM head (see `FusedHead`).
        self.fused_head: FusedHead | None = None

    # ------------------------------------------------------------------ hooks

    def pre_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict]:
        ids = kwargs.pop("sample_index", None)
        self._pending = None
        if ids is not None and module.training:
            ids = ids.reshape(-1)
            self._pending = (ids, _segments(kwargs, ids.numel()))
            self._forwards_with_ids += 1
            if self.fused_head is not None:
                self.fused_head.prepare(kwargs)
        return args, kwargs

    def post_forward(self, module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        if self._pending is None:
            return None
        log_probs = getattr(output, "log_probs", None)
        mask = getattr(output, "label_mask", None)
        if log_probs is not None and mask is not None:
            self.record(-log_probs.detach(), mask)
        return None

    def record(self, nll: torch.Tensor, mask: torch.Tensor) -> None:
        """Store the statistics of the pending micro-batch from shifted token NLLs and supervision mask."""
        if self._pending is None:
            return
        ids, segments = self._pending
        self._pending = None
        batch, length = nll.shape
        if segments is None and batch != ids.numel():
            raise ValueError(f"the micro-batch has {batch} sequences but {ids.numel()} sample indices")
        rows = token_rows(batch, length, segments, nll.device)
        loss, confidence, count = row_statistics(nll, mask.to(torch.bool), rows, ids.numel())
        self._rows.append((ids.to(loss.device), loss, confidence, count))

    # ------------------------------------------------------------------ loss

    def loss_function(
        self,
        user_loss: Callable[..., torch.Tensor] | None = None,
        ga_steps: Callable[[], int] = lambda: 1,
    ) -> Callable[..., torch.Tensor]:
        """A Trainer `compute_loss_func` that also records per-row statistics.

        Without `user_loss`, the token losses are computed once, as `transformers`' causal-LM loss does (shift by
        padding the labels, float32 logits, sum divided by `num_items_in_batch`, else mean): the training loss
        and its gradient are the model's own. With `user_loss`, the statistics are computed under `no_grad` and
        `user_loss(outputs, labels, num_items_in_batch=...)` gives the training loss. With a [`fused_head`] (Liger),
        the forward computed no logits and the token losses come from the fused head (no `user_loss` then).
        """

        def compute_loss(outputs: Any, labels: torch.Tensor | None, num_items_in_batch: Any = None) -> torch.Tensor:
            if labels is None:
                if user_loss is not None:
                    return user_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
                raise ValueError(
                    "the batch has no `labels`: the curriculum needs supervised tokens. Make the dataset or the "
                    "data collator produce `labels` (-100 on positions that are not trained on)."
                )
            shifted = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
            if self.fused_head is not None:
                mask = shifted != IGNORE_INDEX
                divisor = num_items_in_batch
                if divisor is None:
                    divisor = mask.sum().clamp(min=1) * ga_steps()
                loss, nll = self.fused_head.loss_and_token_nll(shifted, divisor)
                mask = mask.to(nll.device)
                self.record(nll[:, :-1], mask[:, :-1])
                return loss
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            shifted = shifted.to(logits.device)
            mask = shifted != IGNORE_INDEX
            with torch.set_grad_enabled(user_loss is None and torch.is_grad_enabled()):
                nll = F.cross_entropy(
                    logits.float().reshape(-1, logits.shape[-1]),
                    shifted.reshape(-1),
                    ignore_index=IGNORE_INDEX,
                    reduction="none",
                ).view(shifted.shape)
            self.record(nll.detach()[:, :-1], mask[:, :-1])
            if user_loss is not None:
                return user_loss(outputs, labels, num_items_in_batch=num_items_in_batch)
            if num_items_in_batch is None:
                return nll.sum() / mask.sum().clamp(min=1) / ga_steps()
            if torch.is_tensor(num_items_in_batch):
                num_items_in_batch = num_items_in_batch.to(nll.device)
            return nll.sum() / num_items_in_batch

        return compute_loss

    # ------------------------------------------------------------------ collection

    def gather(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows, losses, confidences and supervised-token counts of this optimizer step from every process, in rank
        order (the arguments of [`~curriculum.Curriculum.observe`]); `start_gather().result()`."""
        return self.start_gather().result()

    def start_gather(self, capacity: int | None = None) -> StepRows:
        """Hand over this optimizer step's statistics as a [`StepRows`], whose `result()` gives what [`gather`]
        returns. In one process on a GPU the copy to the host is only queued (no wait for the GPU here); with several
        processes and `capacity` (the most rows one process trains on in a step, the same on every process) the
        gather is an asynchronous collective, waited for by `result()`.

        A row without any supervised token has count 0 and NaN loss and confidence: the curriculum marks it
        unscorable. Raises when micro-batches carried sample indices but no statistic could be read from them (an
        unsupported way of computing the loss).
        """
        if self._forwards_with_ids and not self._rows:
            raise RuntimeError(
                "curriculum: training micro-batches carried `sample_index` but no per-row loss could be read from "
                "the forward pass. Supported: a causal LM returning `logits` under `transformers.Trainer`, or TRL's "
                "`SFTTrainer` (fused `log_probs`). A custom `compute_loss` that calls the model itself is not."
            )
        if self._rows:
            ids, loss, conf, count = (torch.cat(parts) for parts in zip(*self._rows))
            stats = torch.stack([loss.double(), conf.double()], dim=1)
            # No supervised token: nothing was measured (torch.where, not a masked assignment, which waits for the GPU).
            stats = torch.where((count == 0)[:, None], float("nan"), stats)
            local = torch.cat([ids.double()[:, None], stats, count.double()[:, None]], dim=1)
        else:
            local = torch.zeros((0, 4), dtype=torch.float64)
        self._rows.clear()
        self._forwards_with_ids = 0
        return StepRows(local, capacity)


class StepRows:
    """One optimizer step's per-row statistics on their way to the host.

    In a single process on a GPU, the copy into pinned host memory is queued behind the step's kernels and
    [`result`] waits for it (in the curriculum's background thread, so the training loop never waits for the GPU).
    With several processes the rows are gathered from every process by a collective, which every process starts in
    the same order from the training loop: asynchronously when the step's `capacity` is known (the curriculum's
    thread waits for it in [`result`]), else at once.
    """

    def __init__(self, local: torch.Tensor, capacity: int | None = None) -> None:
        self._event: torch.cuda.Event | None = None
        self._pending: PendingGather | None = None
        if local.is_cuda and world_size() == 1:
            self._rows = torch.empty(local.shape, dtype=local.dtype, pin_memory=True)
            self._rows.copy_(local, non_blocking=True)
            self._event = torch.cuda.Event()
            self._event.record()
        elif world_size() > 1 and capacity is not None:
            self._pending = PendingGather(local, capacity)  # waited for in `result`
        else:
            self._rows = torch.from_numpy(gather_rows(local.cpu()))

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows (int64), losses, confidences and supervised-token counts, in rank order."""
        if self._event is not None:
            self._event.synchronize()
        rows = self._pending.result() if self._pending is not None else self._rows.numpy()
        return rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2], rows[:, 3]
