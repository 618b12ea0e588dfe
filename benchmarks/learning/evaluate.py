"""Held-out metrics of the learning benchmark: exact match by greedy generation and mean completion loss."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["completion_loss", "exact_match"]


def _left_padded(tokenizer: Any, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(map(len, ids))
    input_ids = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return input_ids, mask


@torch.no_grad()
def exact_match(
    model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch_size: int = 256, desc: str | None = None
) -> np.ndarray:
    """1.0 where greedy generation from the prompt (stopping at EOS) reproduces the completion exactly, else 0.0
    (with a progress bar labelled `desc` when given)."""
    from tqdm.auto import tqdm

    model.eval()
    hits = []
    for start in tqdm(range(0, len(rows), batch_size), desc=desc, disable=desc is None, leave=False):
        chunk = rows[start : start + batch_size]
        input_ids, mask = _left_padded(tokenizer, [r["prompt"] for r in chunk])
        longest = max(len(r["completion"]) for r in chunk)
        out = model.generate(
            input_ids=input_ids.to(model.device),
            attention_mask=mask.to(model.device),
            max_new_tokens=longest + 1,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        texts = tokenizer.batch_decode(out[:, input_ids.shape[1] :].cpu(), skip_special_tokens=True)
        hits += [float(text == r["completion"]) for text, r in zip(texts, chunk)]
    return np.array(hits)


@torch.no_grad()
def completion_loss(model: Any, tokenizer: Any, rows: list[dict[str, Any]], batch_size: int = 256) -> np.ndarray:
    """Mean NLL per completion token (the completion and its EOS) of each row, teacher-forced."""
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        prompts = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in chunk]
        completions = [tokenizer(r["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for r in chunk]
        width = max(len(p) + len(c) for p, c in zip(prompts, completions))
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), -100, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (p, c) in enumerate(zip(prompts, completions)):
            input_ids[i, : len(p) + len(c)] = torch.tensor(p + c)
            labels[i, len(p) : len(p) + len(c)] = torch.tensor(c)
            mask[i, : len(p) + len(c)] = 1
        logits = model(input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device)).logits
        logits, target = logits[:, :-1].float().cpu(), labels[:, 1:]
        nll = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
        out.append((nll.sum(1) / (target != -100).sum(1)).numpy())
    return np.concatenate(out)
