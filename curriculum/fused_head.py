"""Per-token losses of the LM head fused with cross-entropy (Liger's kernel on CUDA), without materialising logits."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

__all__ = ["FusedHead", "chunked_token_nll", "fused_loss_and_token_nll", "fused_token_nll"]

IGNORE_INDEX = -100
CHUNK_TOKENS = 2048

TokenLoss = Callable[..., torch.Tensor]


def _chunk_nll(
    hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor, bias: torch.Tensor | None, softcap: float | None
) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    return F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX, reduction="none")


def chunked_token_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Per-token cross-entropy of `hidden @ weight.T (+ bias)` against `target`, `CHUNK_TOKENS` tokens at a time.

    The portable stand-in for Liger's fused kernel: the logits of one chunk exist at a time, and each chunk is
    recomputed in the backward pass (activation checkpointing), so neither pass holds the logits of the batch. The
    values are those of `transformers`' causal-LM loss (logits in the hidden states' dtype, cross-entropy in float32).

    Args:
        hidden (`torch.Tensor`): final hidden states `(N, H)`.
        weight (`torch.Tensor`): the LM head's weight `(V, H)`.
        target (`torch.Tensor`): token ids `(N,)`, `-100` where no loss is taken.
        bias (`torch.Tensor`, *optional*): the LM head's bias `(V,)`.
        softcap (`float`, *optional*): final logit soft-capping (`softcap * tanh(logits / softcap)`).

    Returns:
        `torch.Tensor`: float32 `(N,)`, 0 at ignored positions; differentiable in `hidden`, `weight` and `bias`.

    Example:

    ```python
    >>> import torch
    >>> hidden, weight = torch.randn(5, 4), torch.randn(7, 4)
    >>> target = torch.tensor([1, 2, -100, 6, 0])
    >>> full = torch.nn.functional.cross_entropy(hidden @ weight.T, target, reduction="none")
    >>> torch.allclose(chunked_token_nll(hidden, weight, target), full)
    True
    ```
    """
    parts = []
    for start in range(0, hidden.shape[0], CHUNK_TOKENS):
        end = start + CHUNK_TOKENS
        args = (hidden[start:end], weight, target[start:end], bias, softcap)
        if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
            parts.append(checkpoint(_chunk_nll, *args, use_reentrant=False))
        else:
            parts.append(_chunk_nll(*args))
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


def _liger_token_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Liger's fused linear cross-entropy with `reduction="none"` (per-token losses; its backward recomputes the
    logits, so [`fused_loss_and_token_nll`] prefers [`_LigerScaledSum`])."""
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    loss = LigerFusedLinearCrossEntropyLoss(ignore_index=IGNORE_INDEX, reduction="none", softcap=softcap)
    return loss(weight, hidden, target, bias).float()


class _LigerScaledSum(torch.autograd.Function):
    """`sum(nll * scale)` with its gradients computed in Liger's forward pass, as Liger's own `reduction="mean"` does
    (one pass over the vocabulary, no recomputation in backward), and the per-token `nll` as a second output."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")
    def forward(ctx: Any, hidden, weight, target, bias, softcap, scale):
        from liger_kernel.ops.fused_linear_cross_entropy import fused_linear_cross_entropy_forward

        token_scale = torch.full_like(target, 1.0, dtype=torch.float32) * scale
        nll, _, _, _, grad_hidden, grad_weight, grad_bias = fused_linear_cross_entropy_forward(
            _input=hidden,
            weight=weight,
            target=target,
            bias=bias,
            ignore_index=IGNORE_INDEX,
            reduction="none",
            softcap=softcap,
            token_grad_output=token_scale,
            compute_gradients=True,
            weight_requires_grad=weight.requires_grad,
        )
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        ctx.mark_non_differentiable(nll)
        return (nll * token_scale).sum(), nll

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx: Any, grad_loss: torch.Tensor, _grad_nll: Any):
        grads = [None if g is None else g * grad_loss.to(g.dtype) for g in ctx.saved_tensors]
        return grads[0], grads[1], None, grads[2], None, None


@functools.cache
def _liger_scaled_sum_available() -> bool:
    try:
        from liger_kernel.ops.fused_linear_cross_entropy import fused_linear_cross_entropy_forward
    except ImportError:
        return False
    parameters = inspect.signature(fused_linear_cross_entropy_forward).parameters
    return {"token_grad_output", "compute_gradients", "weight_requires_grad"} <= set(parameters)


def fused_loss_and_token_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    bias: torch.Tensor | None,
    softcap: float | None,
    divisor: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss `sum(nll) / divisor` (differentiable) and the per-token `nll` (detached, float32), from one
    fused pass: Liger's kernel for CUDA tensors where `liger-kernel` is installed, [`chunked_token_nll`] otherwise."""
    if hidden.is_cuda and _liger_available() and _liger_scaled_sum_available():
        scale = 1.0 / divisor if not torch.is_tensor(divisor) else (1.0 / divisor.to(hidden.device).float())
        loss, nll = _LigerScaledSum.apply(hidden, weight, target, bias, softcap, scale)
        return loss, nll
    nll = fused_token_nll(hidden, weight, target, bias, softcap)
    if torch.is_tensor(divisor):
        divisor = divisor.to(nll.device)
    return nll.sum() / divisor, nll.detach()


@functools.cache  # asked at every training forward: looked up once
def _liger_available() -> bool:
    try:
        import liger_kernel.transformers  # noqa: F401
    except ImportError:
        return False
    return True


def fused_token_nll(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Per-token NLL of the LM head: Liger's fused kernel for CUDA tensors where `liger-kernel` is installed,
    [`chunked_token_nll`] otherwise. Same arguments and result as [`chunked_token_nll`]."""
    kernel: TokenLoss = _liger_token_nll if hidden.is_cuda and _liger_available() else chunked_token_nll
    return kernel(hidden, weight, target, bias, softcap)


def _base_model(model: torch.nn.Module) -> torch.nn.Module:
    get_base = getattr(model, "get_base_model", None)  # a PEFT model
    return get_base() if callable(get_base) else model


class FusedHead:
    r"""
    Lets a causal LM's training forward stop before its LM head, and computes the per-token losses from the final
    hidden states with the head fused into the cross-entropy (what `use_liger_kernel=True` buys: no logits).

    - [`prepare`] adds `logits_to_keep` (an empty index) to the forward's inputs: the model computes logits of no
      position.
    - A forward hook on the decoder keeps a reference to its output, the final hidden states (no copy).
    - [`loss_and_token_nll`] returns the training loss and the per-token losses of those hidden states, from one
      fused pass (see [`fused_loss_and_token_nll`]).

    Raises a `ValueError` at construction for a model whose logits are not a plain linear head of the decoder's
    output (a logit scale, a head that is not `nn.Linear`, a forward without `logits_to_keep`).

    Example:

    ```python
    >>> from transformers import LlamaConfig, LlamaForCausalLM
    >>> model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32,
    ...     num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    >>> head = FusedHead(model)
    >>> inputs = head.prepare({"input_ids": torch.tensor([[1, 2, 3]])})
    >>> out = model(**inputs)
    >>> loss, nll = head.loss_and_token_nll(torch.tensor([[2, 3, -100]]), divisor=2)
    >>> out.logits.shape, nll.shape, bool(torch.isclose(loss, nll.sum() / 2))
    (torch.Size([1, 0, 32]), torch.Size([1, 3]), True)
    ```
    """

    def __init__(self, model: torch.nn.Module) -> None:
        decoder, self.head, self.softcap = self.parts(model)
        self._hidden: torch.Tensor | None = None
        decoder.register_forward_hook(self._keep)

    @staticmethod
    def parts(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Linear, float | None]:
        """The decoder, the linear LM head and the logit soft-cap of `model` (or of the model a PEFT model wraps);
        a `ValueError` saying why when its logits are not a plain linear head of the decoder's output."""
        base = _base_model(model)
        name = type(base).__name__
        get_decoder = getattr(base, "get_decoder", None)
        decoder = get_decoder() if callable(get_decoder) else None
        head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
        if decoder is None or decoder is base or head is None:
            raise ValueError(f"{name} has no separate decoder and LM head")
        head = getattr(getattr(head, "modules_to_save", None), "default", head)  # PEFT's trainable copy of the head
        if not isinstance(head, torch.nn.Linear):
            raise ValueError(f"{name}'s LM head is a {type(head).__name__}, not a linear layer")
        config = getattr(base, "config", None)
        for key in ("logit_scale", "logits_scaling"):
            value = getattr(config, key, None)
            if value not in (None, 1, 1.0):
                raise ValueError(f"{name} scales its logits ({key}={value}), which the fused head does not")
        if "logits_to_keep" not in inspect.signature(base.forward).parameters:
            raise ValueError(f"{name}.forward takes no `logits_to_keep`, so its logits cannot be skipped")
        return decoder, head, getattr(config, "final_logit_softcapping", None) or None

    def _keep(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        if module.training:
            self._hidden = output[0]

    def prepare(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The forward's inputs with `logits_to_keep` set to keep no position."""
        kwargs["logits_to_keep"] = torch.zeros(0, dtype=torch.long)
        return kwargs

    def loss_and_token_nll(
        self, shifted_labels: torch.Tensor, divisor: torch.Tensor | float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loss `sum(nll) / divisor` and the detached per-token NLL `(B, T)` of the last training
        forward's hidden states against labels in the shifted layout (position j holds token j + 1); raises if no
        training forward ran since the last call."""
        hidden, self._hidden = self._hidden, None
        if hidden is None:
            raise RuntimeError("no training forward ran through the decoder before the loss was computed")
        batch, length = shifted_labels.shape
        if hidden.shape[:2] != (batch, length):
            raise ValueError(f"hidden states of shape {tuple(hidden.shape)} do not match labels {(batch, length)}")
        loss, nll = fused_loss_and_token_nll(
            hidden.reshape(batch * length, -1),
            self.head.weight,
            shifted_labels.reshape(-1).to(hidden.device),
            self.head.bias,
            self.softcap,
            divisor,
        )
        return loss, nll.view(batch, length)
