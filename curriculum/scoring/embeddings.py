"""Sentence embeddings from a local encoder model, and nearest neighbours by cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__: list[str] = []


def embed_texts(model_path: str, texts: Sequence[str], batch_size: int = 32, max_length: int = 256) -> np.ndarray:
    """Unit-norm mean-pooled last hidden states of an encoder (`AutoModel.from_pretrained(model_path)`).

    Any local sentence-embedding model directory with a tokenizer works (for example a sentence-transformers
    checkpoint: mean pooling is what most of them use).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(device)
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def embedding_neighbors(embeddings: np.ndarray, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """For each of `rows` (default all), the other row with the highest cosine similarity; ties go to the lowest
    index; -1 for a dataset of one row.

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum.scoring.embeddings import embedding_neighbors
    >>> embedding_neighbors(np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])).tolist()
    [2, 2, 0]
    ```
    """
    vectors = np.asarray(embeddings, dtype=np.float64)
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    n = len(vectors)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.full(rows.size, -1, dtype=np.int64)
    if n < 2:
        return out
    for start in range(0, rows.size, 256):
        chunk = rows[start : start + 256]
        similarity = vectors[chunk] @ vectors.T
        similarity[np.arange(chunk.size), chunk] = -np.inf
        out[start : start + chunk.size] = np.argmax(similarity, axis=1)
    return out
