"""`score_dataset` adds one hardness column per scorer to a dataset; `select_top` keeps its hardest rows."""

from __future__ import annotations

import warnings

from collections.abc import Sequence
from typing import Any

import numpy as np

from .registry import CLUSTER_ID_COLUMN, JUDGE_SCORERS, MODEL_SCORERS, SCORERS, expand

__all__ = ["JUDGE_SCORERS", "MODEL_SCORERS", "SCORERS", "score_dataset", "select_top"]


def _texts(dataset: Any, column: str, argument: str, flag: str) -> list[str]:
    if column not in dataset.column_names:
        raise ValueError(
            f"the dataset has no column {column!r} (its columns are {dataset.column_names}); name the right one with "
            f"{argument}=... ({flag} on the command line)"
        )
    values = dataset[column]
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise ValueError(
                f"column {column!r} should hold strings, but row {i} holds a {type(value).__name__} ({value!r:.60}); "
                "conversational (messages) rows are not supported by the scorers"
            )
    return list(values)


def score_dataset(
    dataset: Any,
    scorers: str | Sequence[str],
    model: Any = None,
    tokenizer: Any = None,
    *,
    prompt_column: str = "prompt",
    completion_column: str = "completion",
    column_prefix: str = "score_",
    batch_size: int = 8,
    clusters: int = 8,
    seed: int = 0,
    max_length: int | None = None,
    separator: str = "\n\n",
    progress: bool = True,
    embedding_model: str | None = None,
    judge_model: Any = None,
    judge_tokenizer: Any = None,
    judge_batch_size: int | None = None,
    max_new_tokens: int = 4,
    judge_cache: str | None = None,
    judge_templates: dict[str, str] | None = None,
    judge_model_id: str | None = None,
    quality_threshold: float = 5.0,
) -> Any:
    r"""
    Offline hardness scores of every row of a prompt/completion dataset, one new column per scorer (higher =
    harder, except `confidence`), named `column_prefix + scorer` (an existing column of that name is replaced in place).

    - `"length"`: the Instruction-Response Expansion Index in [0, 1] ([`~curriculum.scoring.length.irei`]), in
      tokens of `tokenizer` if one is given, else in words.
    - `"cluster"`: `(1 - silhouette) / 2` in [0, 1] of the row's TF-IDF vector (prompt + newline + completion) in a
      k-means clustering of the dataset ([`~curriculum.scoring.cluster.cluster_hardness`]). It also writes the
      integer column `cluster_id` (no prefix): the row's k-means cluster in `[0, clusters)`, from the same
      clustering. Similar rows share a cluster, so `cluster_id` can serve as the curriculum's `group_column` when
      the data has no task column. With `embedding_model`, the rows are clustered on their sentence embeddings
      (unit norm, cosine silhouette) instead of TF-IDF vectors
      ([`~curriculum.scoring.sentence.embedding_clusters`]); this needs `pip install "curriculum[embeddings]"`.
    - `"loss"`, `"confidence"`, `"miwv"`: mean NLL, mean probability of the completion tokens, and one-shot minus
      zero-shot loss, under `model` ([`~curriculum.scoring.lm.lm_scores`]); they need `model` and `tokenizer`.
    - `"quality"` (1-10), `"bloom"` (Bloom's taxonomy level, 1-6), `"disciplines"` (disciplines needed, 1-10): the
      greedy answer of the local instruct model `judge_model` to a prompt template, parsed strictly; NaN where the
      answer does not parse ([`~curriculum.scoring.judge.judge_scores`]). They need `judge_model` and
      `judge_tokenizer`.
    - `"thtb"`: the THTB combination in [0, 1] ([`~curriculum.scoring.thtb.thtb_scores`]): rows with quality under
      `quality_threshold` (or missing) get NaN, the others the mean of the rank-normalised intrinsic half (bloom,
      disciplines) and extrinsic half (length, cluster). Its inputs are written as columns too, before it.

    Under `accelerate launch`/`torchrun` the model and judge scorers split the rows across processes and every
    process gets the full, identically ordered columns.

    Args:
        dataset (`datasets.Dataset`):
            Rows with a prompt and a completion column of strings.
        scorers (`str` or `Sequence[str]`):
            Any of `"length"`, `"cluster"`, `"loss"`, `"confidence"`, `"miwv"`, `"quality"`, `"bloom"`,
            `"disciplines"`, `"thtb"`.
        model (`PreTrainedModel`, *optional*), tokenizer (`PreTrainedTokenizerBase`, *optional*):
            A causal LM and its tokenizer, for the model scorers.
        prompt_column (`str`, *optional*, defaults to `"prompt"`):
            The prompt (instruction) column.
        completion_column (`str`, *optional*, defaults to `"completion"`):
            The completion (response) column.
        column_prefix (`str`, *optional*, defaults to `"score_"`):
            Prefix of the new columns.
        batch_size (`int`, *optional*, defaults to `8`):
            Sequences per forward pass of the model scorers and of the embedding model.
        clusters (`int`, *optional*, defaults to `8`):
            Number of k-means clusters of `"cluster"`.
        seed (`int`, *optional*, defaults to `0`):
            Seed of the k-means initialisation.
        max_length (`int` or `None`, *optional*):
            Keep the last `max_length` tokens of each sequence in the model scorers.
        embedding_model (`str`, *optional*):
            Local sentence-embedding model directory. `"cluster"` clusters the rows (prompt + newline + completion)
            on its embeddings, computed by the `sentence-transformers` library with the model's own pooling and
            normalisation ([`~curriculum.scoring.sentence.sentence_embeddings`]; `pip install
            "curriculum[embeddings]"`), instead of on TF-IDF vectors. MIWV demonstrations are the nearest prompts by
            its embeddings (mean pooling, cosine) instead of by TF-IDF.
        separator (`str`, *optional*, defaults to `"\n\n"`):
            Text between the MIWV demonstration and the prompt.
        progress (`bool`, *optional*, defaults to `True`):
            Progress bar of the model scorers and of the embedding model (main process only).
        judge_model (`PreTrainedModel`, *optional*), judge_tokenizer (`PreTrainedTokenizerBase`, *optional*):
            A local instruct causal LM and its tokenizer, for the judge scorers (its chat template if it has one).
        judge_batch_size (`int`, *optional*):
            Prompts per `generate` call of the judge; defaults to `batch_size`.
        max_new_tokens (`int`, *optional*, defaults to `4`):
            New tokens per judge answer (greedy).
        judge_cache (`str`, *optional*):
            JSON-lines file of the judge's answers: read first, appended to per batch, so an interrupted pass run
            again only asks about the rows not answered yet.
        judge_templates (`dict[str, str]`, *optional*):
            Template files replacing the packaged ones (`curriculum/scoring/prompts/*.txt`), by judge score name.
        judge_model_id (`str`, *optional*):
            The judge's identity in the cache keys; defaults to `judge_model.name_or_path`.
        quality_threshold (`float`, *optional*, defaults to `5.0`):
            The quality filter of `"thtb"`: rows whose quality is under it get NaN.

    Returns:
        `datasets.Dataset`: the dataset with the score columns added (float64), and with `"cluster"` the `cluster_id`
        column (int64) right after its score column.

    Example:

    ```python
    >>> from datasets import Dataset
    >>> from curriculum.scoring import score_dataset
    >>> ds = Dataset.from_dict({"prompt": ["2+2=", "Why is the sky blue?"], "completion": ["4", "Scattering."]})
    >>> score_dataset(ds, ["length"]).column_names
    ['prompt', 'completion', 'score_length']
    ```
    """
    names = expand(scorers)
    needs_model = [s for s in names if s in MODEL_SCORERS]
    needs_judge = [s for s in names if s in JUDGE_SCORERS]
    _check_models(needs_model, model, tokenizer, needs_judge, judge_model, judge_tokenizer)
    if not isinstance(column_prefix, str):
        raise ValueError(f"column_prefix should be a string, but got column_prefix={column_prefix!r}")
    prompts = _texts(dataset, prompt_column, "prompt_column", "--prompt-column")
    completions = _texts(dataset, completion_column, "completion_column", "--completion-column")

    columns: dict[str, np.ndarray] = {}
    cluster_ids = None
    if "length" in names:
        from .length import irei

        columns["length"] = irei(prompts, completions, tokenizer=tokenizer)
    if "cluster" in names:
        cluster_ids, columns["cluster"] = _cluster_column(prompts, completions, clusters, seed, embedding_model,
                                                          batch_size, progress)
    if needs_model:
        columns.update(_model_columns(model, tokenizer, prompts, completions, needs_model, embedding_model,
                                      batch_size=batch_size, max_length=max_length, separator=separator,
                                      progress=progress))
    if needs_judge:
        from .judge import judge_scores

        columns.update(judge_scores(
            judge_model, judge_tokenizer, prompts, completions, needs_judge, templates=judge_templates,
            batch_size=batch_size if judge_batch_size is None else judge_batch_size, max_new_tokens=max_new_tokens,
            cache=judge_cache, model_id=judge_model_id, progress=progress,
        ))
    if "thtb" in names:
        from .thtb import thtb_scores

        parts = {k: columns[k] for k in ("bloom", "disciplines", "length", "cluster")}
        columns["thtb"] = thtb_scores(parts, quality=columns["quality"], quality_threshold=quality_threshold)
    return _add_columns(dataset, names, columns, cluster_ids, column_prefix, (prompt_column, completion_column))


def _check_models(needs_model: list[str], model: Any, tokenizer: Any, needs_judge: list[str], judge_model: Any,
                  judge_tokenizer: Any) -> None:
    """Refuse scorers whose model (a causal LM, or the judge) was not given."""
    if needs_model and (model is None or tokenizer is None):
        raise ValueError(
            f"scorer(s) {needs_model} need a causal LM: pass model=... and tokenizer=... (--model DIR on the "
            "command line)"
        )
    if needs_judge and (judge_model is None or judge_tokenizer is None):
        raise ValueError(
            f"scorer(s) {needs_judge} need a local instruct model as judge: pass judge_model=... and "
            "judge_tokenizer=... (--judge-model DIR on the command line)"
        )


def _cluster_column(prompts: list[str], completions: list[str], clusters: int, seed: int,
                    embedding_model: str | None, batch_size: int, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k-means cluster and its cluster hardness, on TF-IDF vectors or on sentence embeddings."""
    texts = [p + "\n" + c for p, c in zip(prompts, completions)]
    if embedding_model is None:
        from .cluster import cluster_labels_and_hardness

        return cluster_labels_and_hardness(texts, clusters=clusters, seed=seed)
    from .cluster import check_clusters
    from .sentence import embedding_clusters, sentence_embeddings

    check_clusters(clusters, len(texts))  # before the embedding pass
    embeddings = sentence_embeddings(embedding_model, texts, batch_size=batch_size, progress=progress)
    return embedding_clusters(embeddings, clusters=clusters, seed=seed)


def _model_columns(model: Any, tokenizer: Any, prompts: list[str], completions: list[str], names: list[str],
                   embedding_model: str | None, **options: Any) -> dict[str, np.ndarray]:
    """The causal LM's scores (`options`: those of [`~curriculum.scoring.lm.lm_scores`]); MIWV's demonstrations
    are the nearest prompts by the embedding model when one is given."""
    from .lm import lm_scores

    neighbors = None
    if embedding_model is not None and "miwv" in names:
        from .embeddings import embed_texts, embedding_neighbors

        neighbors = embedding_neighbors(embed_texts(embedding_model, prompts, batch_size=options["batch_size"]))
    return lm_scores(model, tokenizer, prompts, completions, names, neighbors=neighbors, **options)


def _add_columns(dataset: Any, names: list[str], columns: dict[str, np.ndarray], cluster_ids: np.ndarray | None,
                 prefix: str, text_columns: tuple[str, str]) -> Any:
    """`dataset` with a `prefix + name` column per scorer (replacing one of that name in place), and the cluster ids
    after the cluster score."""
    new: list[tuple[str, list]] = []
    for name in names:
        column = prefix + name
        if column in text_columns:
            raise ValueError(f"the score column {column!r} would replace a text column; choose another column_prefix")
        new.append((column, [float(v) for v in columns[name]]))
        if name == "cluster":
            if CLUSTER_ID_COLUMN in text_columns:
                raise ValueError(
                    f"the {CLUSTER_ID_COLUMN!r} column of the cluster scorer would replace a text column; rename "
                    f"that column of the dataset first"
                )
            new.append((CLUSTER_ID_COLUMN, [int(v) for v in cluster_ids]))
    order = list(dataset.column_names)
    for column, values in new:
        if column in dataset.column_names:
            dataset = dataset.remove_columns(column)
        else:
            order.append(column)
        dataset = dataset.add_column(column, values)
    return dataset.select_columns(order)


def select_top(dataset: Any, column: str, budget: int, lowest: bool = False) -> Any:
    r"""
    The `budget` rows with the highest values of a numeric column (the hardest, for the score columns), or the
    lowest with `lowest=True`, in their original order. Ties go to the earlier row; missing (NaN/None) values come
    last either way.

    Example:

    ```python
    >>> from datasets import Dataset
    >>> from curriculum.scoring import select_top
    >>> ds = Dataset.from_dict({"text": ["a", "b", "c", "d"], "score": [0.3, 0.9, 0.1, 0.5]})
    >>> list(select_top(ds, "score", 2)["text"]), list(select_top(ds, "score", 1, lowest=True)["text"])
    (['b', 'd'], ['c'])
    ```
    """
    if column not in dataset.column_names:
        raise ValueError(f"the dataset has no column {column!r} (its columns are {dataset.column_names})")
    n = len(dataset)
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not 1 <= budget <= n:
        raise ValueError(f"budget should be an integer from 1 to the number of rows ({n}), but got budget={budget!r}")
    raw = dataset[column]
    try:
        values = np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
    except (TypeError, ValueError):
        example = next((v for v in raw if v is not None and not isinstance(v, (int, float))), None)
        raise ValueError(
            f"column {column!r} should be numeric, but holds {type(example).__name__} values such as {example!r:.60}"
        ) from None
    if values.ndim != 1:
        raise ValueError(f"column {column!r} should hold one number per row, but has shape {values.shape}")
    key = values if lowest else -values
    order = np.argsort(key, kind="stable")  # NaN sorts last in both directions
    chosen = order[: int(budget)]
    if budget < n:
        last, first_out = key[order[budget - 1]], key[order[budget]]
        if last == first_out or (np.isnan(last) and np.isnan(first_out)):  # the cut falls inside a run of ties

            def ties(k: np.ndarray) -> int:
                return int(np.count_nonzero(np.isnan(k) if np.isnan(last) else k == last))

            tied, kept = ties(key), ties(key[chosen])
            warnings.warn(
                f"curriculum select: {tied} rows have {column}={float(values[order[budget - 1]])!r} and the budget keeps "
                f"{kept} of them, the earliest in the dataset's order: the choice among ties is positional, not by "
                "the score. Choose another budget or another score column (`--by`) to avoid it.",
                stacklevel=2,
            )
    return dataset.select(np.sort(chosen).tolist())
