"""Causal-LM scores of each row: completion loss and confidence, and MIWV (one-shot minus zero-shot loss)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .processes import process_state
from .tfidf import nearest_neighbors, tfidf_vectors

__all__: list[str] = []

LM_SCORES = ("loss", "confidence", "miwv")


def _encode(tokenizer: Any, context: str, completion: str, add_eos: bool) -> tuple[list[int], int]:
    """Token ids of context + completion (+ EOS) and the position of the first completion token."""
    context_ids = list(tokenizer(context)["input_ids"])
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if add_eos and tokenizer.eos_token_id is not None:
        completion_ids.append(tokenizer.eos_token_id)
    return context_ids + completion_ids, len(context_ids)


@torch.inference_mode()
def _completion_stats(
    model: Any,
    encoded: Sequence[tuple[list[int], int]],
    batch_size: int,
    max_length: int | None,
    pad_id: int,
    advance: Callable[[int], Any],
) -> np.ndarray:
    """`(rows, 2)` mean token NLL and mean target-token probability over the completion tokens; NaN if none."""
    device = next(model.parameters()).device
    out = np.full((len(encoded), 2), np.nan)
    # Longest first: padding stays small and an out-of-memory error shows at once.
    order = sorted(range(len(encoded)), key=lambda r: -len(encoded[r][0]))
    for b in range(0, len(order), batch_size):
        rows = order[b : b + batch_size]
        seqs = []
        for r in rows:
            ids, start = encoded[r]
            if max_length is not None and len(ids) > max_length:
                cut = len(ids) - max_length
                ids, start = ids[cut:], max(start - cut, 0)
            seqs.append((ids, start))
        width = max(len(ids) for ids, _ in seqs)
        if width > 1:
            input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for j, (ids, _) in enumerate(seqs):
                input_ids[j, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                attention_mask[j, : len(ids)] = 1
            logits = model(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), use_cache=False
            ).logits
            for j, (r, (ids, start)) in enumerate(zip(rows, seqs)):
                first = max(start, 1)  # the first token of a sequence is never predicted
                if first >= len(ids):
                    continue
                target = torch.tensor(ids[first:], dtype=torch.long, device=logits.device)
                logp = torch.log_softmax(logits[j, first - 1 : len(ids) - 1].float(), dim=-1)
                logp = logp.gather(1, target[:, None])[:, 0].double()
                out[r] = (float(-logp.mean()), float(logp.exp().mean()))
        advance(len(rows))
    return out


def _split_gather(
    num_rows: int, work: Callable[[list[int], Callable[[int], Any]], list], progress: bool, passes: int
) -> list:
    """Run `work` on this process's contiguous share of the rows and gather every share, in row order."""
    from accelerate.utils import gather_object
    from tqdm.auto import tqdm

    state = process_state()
    with state.split_between_processes(list(range(num_rows))) as mine:
        mine = list(mine)
        bar = tqdm(
            total=len(mine) * passes,
            desc="scoring" if state.num_processes == 1 else f"scoring (main process's share of {num_rows} rows)",
            unit="seq",
            disable=not progress or not state.is_main_process,
        )
        with bar:
            local = work(mine, bar.update)
    return gather_object(local) if state.num_processes > 1 else local


def lm_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    completions: Sequence[str],
    scores: Iterable[str] = ("loss", "confidence"),
    *,
    batch_size: int = 8,
    max_length: int | None = None,
    add_eos: bool = True,
    separator: str = "\n\n",
    progress: bool = True,
    neighbors: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    r"""
    Per-row scores of a causal language model on prompt/completion rows, one forward pass per row (two for MIWV),
    batched, with no gradient.

    Each row is tokenized as `tokenizer(prompt)` (with the tokenizer's own special tokens, such as BOS) followed by
    `tokenizer(completion, add_special_tokens=False)` and the EOS token (`add_eos=True`). Only the completion tokens
    are scored (the prompt is masked):

    - `"loss"`: mean negative log-likelihood of the completion tokens (nats per token; higher = harder).
    - `"confidence"`: mean probability of the completion tokens (higher = easier).
    - `"miwv"`: Model Instruction Weakness Value, `MIWV(x) = CE_one-shot(x) - CE_zero-shot(x)`, where
      `CE_zero-shot` is `"loss"` and `CE_one-shot` is the same mean NLL of the same completion tokens when the
      context is `prompt_n + completion_n + separator + prompt` instead of `prompt`, with `n` the row whose prompt
      is most similar to x's (cosine similarity of TF-IDF vectors of the prompts, x itself excluded, ties to the
      lowest index). A high MIWV means the closest demonstration does not help (or hurts): the model is weak on x.
      NaN for a dataset of one row.

    With `max_length`, a longer sequence keeps its last `max_length` tokens (the earliest context is dropped).
    A row with no completion token left to predict gets NaN.

    Under `accelerate launch` or `torchrun`, each process scores a contiguous share of the rows and the shares are
    gathered, so every process returns the same arrays, in row order, as a one-process run (up to float rounding
    of different batch shapes). The progress bar is shown on the main process only.

    Args:
        model (`PreTrainedModel`):
            A causal LM; its inputs go to the device of its first parameter.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer.
        prompts (`Sequence[str]`), completions (`Sequence[str]`):
            The rows.
        scores (`Iterable[str]`, *optional*, defaults to `("loss", "confidence")`):
            Any of `"loss"`, `"confidence"`, `"miwv"`.
        batch_size (`int`, *optional*, defaults to `8`):
            Sequences per forward pass (rows are sorted by length first).
        max_length (`int` or `None`, *optional*):
            Keep at most this many tokens per sequence (the last ones).
        add_eos (`bool`, *optional*, defaults to `True`):
            Append the EOS token to the completion (and score it), as SFT training does.
        separator (`str`, *optional*, defaults to `"\n\n"`):
            Text between the MIWV demonstration and the prompt.
        progress (`bool`, *optional*, defaults to `True`):
            Show a tqdm progress bar.
        neighbors (`np.ndarray`, *optional*):
            The MIWV demonstration row of every row (for example from a sentence-embedding model, see
            [`~curriculum.scoring.embeddings.embedding_neighbors`]), instead of the TF-IDF nearest neighbour.

    Returns:
        `dict[str, np.ndarray]`: one float64 array per requested score.

    Example:

    ```python
    >>> from curriculum.scoring.lm import lm_scores
    >>> from curriculum.toy import make_tiny_model, make_tokenizer
    >>> tok = make_tokenizer()
    >>> model = make_tiny_model(len(tok))
    >>> out = lm_scores(model, tok, ["1+1=", "2+2="], ["2", "4"], ["loss", "miwv"], progress=False)
    >>> sorted(out), out["loss"].shape
    (['loss', 'miwv'], (2,))
    ```
    """
    wanted = list(dict.fromkeys(scores))
    unknown = [s for s in wanted if s not in LM_SCORES]
    if unknown:
        raise ValueError(f"scores should be among {list(LM_SCORES)}, but got {unknown}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size should be a positive integer, but got batch_size={batch_size!r}")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2):
        raise ValueError(f"max_length should be an integer >= 2 or None, but got max_length={max_length!r}")
    if len(prompts) != len(completions):
        raise ValueError(
            f"prompts and completions should have the same length, but got {len(prompts)} and {len(completions)}"
        )
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    with_miwv = "miwv" in wanted
    if neighbors is not None:
        neighbors = np.asarray(neighbors, dtype=np.int64)
        if neighbors.shape != (len(prompts),):
            raise ValueError(f"neighbors should hold one row index per row ({len(prompts)}), got {neighbors.shape}")
    vectors = tfidf_vectors(prompts) if with_miwv and len(prompts) > 1 and neighbors is None else None

    def work(rows: list[int], advance: Callable[[int], Any]) -> list[tuple[float, float, float]]:
        if not rows:
            return []
        encoded = [_encode(tokenizer, prompts[i], completions[i], add_eos) for i in rows]
        zero = _completion_stats(model, encoded, batch_size, max_length, pad_id, advance)
        one_shot_loss = np.full(len(rows), np.nan)
        if with_miwv and len(prompts) > 1:
            demos = neighbors[rows] if neighbors is not None else nearest_neighbors(vectors, rows)
            context = [prompts[j] + completions[j] + separator + prompts[i] for i, j in zip(rows, demos)]
            encoded = [_encode(tokenizer, c, completions[i], add_eos) for c, i in zip(context, rows)]
            one_shot_loss = _completion_stats(model, encoded, batch_size, max_length, pad_id, advance)[:, 0]
        elif with_miwv:  # a single row has no neighbour
            advance(len(rows))
        return [(float(z[0]), float(z[1]), float(o - z[0])) for z, o in zip(zero, one_shot_loss)]

    was_training = model.training
    model.eval()
    try:
        rows = _split_gather(len(prompts), work, progress, 2 if with_miwv else 1)
    finally:
        model.train(was_training)
    table = np.array(rows, dtype=np.float64).reshape(len(prompts), 3)
    columns = {"loss": table[:, 0], "confidence": table[:, 1], "miwv": table[:, 2]}
    return {name: columns[name].copy() for name in wanted}
