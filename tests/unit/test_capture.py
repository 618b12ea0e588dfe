"""The capture's loss equals the model's own (value and gradient); per-row statistics in every batch layout."""

from __future__ import annotations

import pytest
import torch

from curriculum.capture import LossCapture, row_statistics, token_rows
from curriculum.toy import make_tiny_model


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(4, 60, (3, 12), generator=g)
    labels = input_ids.clone()
    labels[:, :4] = -100  # prompt
    labels[2, 9:] = -100  # padding of the last row
    return input_ids, labels


def _grads(model):
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("num_items", [None, 17])
def test_loss_function_matches_model_loss_and_gradient(num_items):
    input_ids, labels = _batch()
    model = make_tiny_model(64, seed=1)

    own = model(input_ids=input_ids, labels=labels, num_items_in_batch=num_items).loss
    own.backward()
    own_grads = _grads(model)
    model.zero_grad()

    capture = LossCapture()
    capture._pending = (torch.arange(3), None)
    outputs = model(input_ids=input_ids)
    ours = capture.loss_function()(outputs, labels, num_items_in_batch=num_items)
    ours.backward()
    assert ours.item() == pytest.approx(own.item(), rel=1e-6)
    for a, b in zip(_grads(model), own_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_user_loss_gets_the_outputs_and_statistics_are_still_recorded():
    input_ids, labels = _batch()
    model = make_tiny_model(64, seed=1)
    calls = []

    def user_loss(outputs, labels, num_items_in_batch=None):
        calls.append(num_items_in_batch)
        return outputs.logits.mean()

    capture = LossCapture()
    capture._pending = (torch.tensor([5, 6, 7]), None)
    capture._forwards_with_ids = 1
    loss = capture.loss_function(user_loss)(model(input_ids=input_ids), labels, num_items_in_batch=3)
    assert calls == [3] and loss.requires_grad
    ids, row_loss, _, _ = capture.gather()
    assert ids.tolist() == [5, 6, 7] and (row_loss > 0).all()


def test_padding_free_statistics_equal_padded_ones():
    model = make_tiny_model(64, seed=2)
    g = torch.Generator().manual_seed(0)
    lengths = [7, 4, 9]
    seqs = [torch.randint(4, 60, (n,), generator=g) for n in lengths]
    labels = [s.clone() for s in seqs]
    for lab in labels:
        lab[:2] = -100

    padded = LossCapture()
    width = max(lengths)
    ids = torch.full((3, width), 0)
    lab = torch.full((3, width), -100)
    mask = torch.zeros((3, width), dtype=torch.long)
    for i, (s, l) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)], lab[i, : len(s)], mask[i, : len(s)] = s, l, 1
    padded._pending = (torch.tensor([10, 11, 12]), None)
    padded.loss_function()(model(input_ids=ids, attention_mask=mask), lab)
    padded._forwards_with_ids = 1

    flat = LossCapture()
    flat_ids = torch.cat(seqs)[None]
    flat_lab = torch.cat(labels)[None]
    position_ids = torch.cat([torch.arange(n) for n in lengths])[None]
    kwargs = {"input_ids": flat_ids, "position_ids": position_ids, "use_cache": False, "sample_index": torch.tensor([10, 11, 12])}
    model.train()
    flat.pre_forward(model, (), kwargs)
    assert "sample_index" not in kwargs
    out = model(**kwargs)
    flat.loss_function()(out, flat_lab)

    a, b = padded.gather(), flat.gather()
    assert a[0].tolist() == b[0].tolist() == [10, 11, 12]
    torch.testing.assert_close(torch.tensor(a[1]), torch.tensor(b[1]), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(a[2]), torch.tensor(b[2]), rtol=1e-4, atol=1e-5)


def test_cu_seq_lens_and_trailing_padding_segments():
    # Two sequences (3 and 2 tokens) then 3 padding positions, as TRL's collator gives with pad_to_multiple_of.
    cu = torch.tensor([0, 3, 5, 6, 7, 8], dtype=torch.int32)
    capture = LossCapture()
    model = make_tiny_model(16)
    kwargs = {"input_ids": torch.zeros((1, 8), dtype=torch.long), "cu_seq_lens_q": cu, "sample_index": torch.tensor([4, 9])}
    capture.pre_forward(model.train(), (), kwargs)
    nll = torch.tensor([[1.0, 2.0, 9.0, 4.0, 9.0, 9.0, 9.0]])  # shifted: position j predicts token j + 1
    mask = torch.tensor([[True, True, False, True, False, False, False]])
    capture.record(nll, mask)
    capture._forwards_with_ids = 1
    ids, loss, _, _ = capture.gather()
    assert ids.tolist() == [4, 9]
    assert loss.tolist() == pytest.approx([1.5, 4.0])


def test_row_statistics_by_hand():
    nll = torch.tensor([[0.5, 1.5, 0.0], [2.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss, conf, count = row_statistics(nll, mask, token_rows(2, 3, None, nll.device), 2)
    assert loss.tolist() == pytest.approx([1.0, 2.0])
    assert conf.tolist() == pytest.approx([(torch.exp(torch.tensor(-0.5)) + torch.exp(torch.tensor(-1.5))).item() / 2,
                                           torch.exp(torch.tensor(-2.0)).item()])
    assert count.tolist() == [2.0, 1.0]


def test_missing_statistics_is_an_error():
    capture = LossCapture()
    capture._forwards_with_ids = 1
    with pytest.raises(RuntimeError, match="no per-row loss could be read"):
        capture.gather()


def test_batch_without_labels_is_an_error():
    model = make_tiny_model(64)
    with pytest.raises(ValueError, match="the batch has no `labels`"):
        LossCapture().loss_function()(model(input_ids=torch.ones((1, 4), dtype=torch.long)), None)
