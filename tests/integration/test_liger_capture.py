"""Per-row capture under `use_liger_kernel=True`: the forward stops before the LM head, the fused per-token losses give
the training loss, its gradient and the per-row statistics.

On a CPU the kernel is the chunked stand-in (`chunked_token_nll`): these tests check the reduction logic around it
against an independent full-logits computation. Liger's own kernel is checked on a GPU (benchmarks/overhead/gpu.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import transformers.trainer
from conftest import make_trainer, record_trained_rows, reference_row_stats
from curriculum import fused_head
from curriculum.fused_head import FusedHead, chunked_token_nll
from curriculum.toy import make_graded_dataset, make_tiny_model, tokenize_for_causal_lm


@pytest.fixture
def tokenized(tokenizer):
    return tokenize_for_causal_lm(make_graded_dataset(32, seed=3), tokenizer)


@pytest.fixture
def no_liger_patch(monkeypatch):
    # The Trainer patches the model with Liger's kernels when training starts; they need a GPU. The curriculum's own
    # path (FusedHead) is what is under test, and it does not depend on that patch.
    monkeypatch.setattr(transformers.trainer, "apply_liger_kernel", lambda model, config: None)


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_chunked_token_nll_equals_full_logits_values_and_gradients(monkeypatch, softcap):
    monkeypatch.setattr(fused_head, "CHUNK_TOKENS", 4)  # several chunks and a partial one
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(11, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(9, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(9, generator=gen, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 9, (11,), generator=gen)
    target[[2, 7]] = -100
    upstream = torch.rand(11, generator=gen, dtype=torch.float64)

    nll = chunked_token_nll(hidden, weight, target, bias, softcap)
    grads = torch.autograd.grad((nll * upstream).sum(), (hidden, weight, bias))

    logits = hidden @ weight.T + bias
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    full = F.cross_entropy(logits, target, ignore_index=-100, reduction="none")
    expected = torch.autograd.grad((full * upstream).sum(), (hidden, weight, bias))
    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll.double(), full, rtol=1e-6, atol=1e-6)
    assert nll[2] == 0 and nll[7] == 0
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # float32 cross-entropy


def test_fused_head_skips_the_logits_and_keeps_no_hidden_state_after_use(tokenizer):
    model = make_tiny_model(len(tokenizer))
    head = FusedHead(model)
    model.train()
    out = model(**head.prepare({"input_ids": torch.tensor([[5, 6, 7, 8]])}))
    assert out.logits.shape == (1, 0, len(tokenizer))
    loss, nll = head.loss_and_token_nll(torch.tensor([[6, 7, 8, -100]]), divisor=torch.tensor(3))
    model.eval()  # an evaluation forward keeps nothing
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[5, 6, 7, 8]])).logits[0, :3].float()
    expected = F.cross_entropy(logits, torch.tensor([6, 7, 8]), reduction="none")
    torch.testing.assert_close(nll[0, :3], expected)
    torch.testing.assert_close(loss, expected.mean())
    assert loss.requires_grad and not nll.requires_grad
    with pytest.raises(RuntimeError, match="no training forward"):
        head.loss_and_token_nll(torch.tensor([[6, 7, 8, -100]]), divisor=3)


def _train(tokenized, tokenizer, tmp_path, liger: bool, learning_rate: float, max_steps: int):
    trainer, _ = make_trainer(
        "trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False,
        learning_rate=learning_rate, max_steps=max_steps,
    )
    from curriculum import attach

    trainer.args.use_liger_kernel = liger
    shapes: list[int] = []
    trainer.model.register_forward_hook(lambda m, a, out: shapes.append(out.logits.shape[1]) if m.training else None)
    handle = attach(trainer)
    steps = record_trained_rows(handle)
    result = trainer.train()
    return trainer, handle, steps, shapes, result


def test_liger_trainer_records_the_rows_own_loss_and_confidence(tmp_path, tokenizer, tokenized, no_liger_patch):
    # Learning rate 0: the model at every step is the initial one, so each row's first observation can be compared
    # with a direct computation of its loss and mean target probability.
    trainer, handle, steps, shapes, _ = _train(tokenized, tokenizer, tmp_path, True, 0.0, 2)
    assert shapes and set(shapes) == {0}  # no logits of any position were computed in training
    rows = np.unique(np.concatenate(steps))
    model = trainer.model.eval()
    for row in rows[:6]:
        example = tokenized[int(row)]
        loss, confidence = reference_row_stats(model, example["input_ids"], example["labels"])
        assert handle.scores.loss[row] == pytest.approx(loss, rel=1e-5)
        assert handle.scores.confidence[row] == pytest.approx(confidence, rel=1e-5)


def test_liger_trainer_trains_exactly_as_without_it(tmp_path, tokenizer, tokenized, no_liger_patch):
    plain, plain_handle, plain_steps, _, plain_result = _train(tokenized, tokenizer, tmp_path / "a", False, 1e-2, 3)
    fused, fused_handle, fused_steps, _, fused_result = _train(tokenized, tokenizer, tmp_path / "b", True, 1e-2, 3)
    for a, b in zip(plain_steps, fused_steps):
        np.testing.assert_array_equal(a, b)
    assert fused_result.training_loss == pytest.approx(plain_result.training_loss, rel=1e-5)
    np.testing.assert_allclose(fused_handle.scores.loss, plain_handle.scores.loss, rtol=1e-5, equal_nan=True)
    for (name, p), q in zip(plain.model.named_parameters(), fused.model.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-5, atol=1e-6, msg=name)


def test_liger_with_a_loss_that_needs_logits_is_a_clear_error(tmp_path, tokenizer, tokenized):
    from curriculum import attach

    trainer, _ = make_trainer("trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False)
    trainer.args.use_liger_kernel = True
    trainer.compute_loss_func = lambda outputs, labels, num_items_in_batch=None: outputs.logits.sum()
    with pytest.raises(ValueError, match=r"use_liger_kernel=True with a custom `compute_loss_func`.*need the logits"):
        attach(trainer)


def test_liger_with_a_head_that_is_not_linear_is_a_clear_error(tmp_path, tokenizer, tokenized):
    from curriculum import attach

    trainer, _ = make_trainer("trainer", tokenized, tokenizer, str(tmp_path), attach_curriculum=False)
    trainer.args.use_liger_kernel = True
    trainer.model.lm_head = torch.nn.Sequential(trainer.model.lm_head)
    with pytest.raises(ValueError, match=r"cannot fuse this model's LM head: .*LM head is a Sequential"):
        attach(trainer)


def test_liger_under_sft_trainer_is_accepted(tmp_path, tokenizer):
    # TRL keeps its own fused LM head (per-token log-probabilities) under use_liger_kernel=True and applies only
    # Liger's layer kernels: the curriculum reads that head as without Liger.
    trainer, _ = make_trainer("sft", make_graded_dataset(16), tokenizer, str(tmp_path), attach_curriculum=False)
    trainer.args.use_liger_kernel = True
    from curriculum import attach

    handle = attach(trainer)
    assert trainer.curriculum_handle.callback.capture.fused_head is None
    assert handle.curriculum.num_rows == 16
