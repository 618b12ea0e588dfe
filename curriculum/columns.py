"""Reading the columns the curriculum needs from a dataset with named columns (duck-typed, no framework import)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__: list[str] = []

IGNORE_INDEX = -100
# Rows per Arrow block when counting supervised labels: the temporaries (a parent index per token) stay small.
_LABEL_BLOCK = 4096


def _convert_hint(dataset: Any) -> str:
    """How to turn an unnamed dataset into one with named columns."""
    if isinstance(dataset, list):
        return "convert a list of dicts with `datasets.Dataset.from_list(rows)`"
    return "load the data as a `datasets.Dataset` (`datasets.Dataset.from_list(rows)` converts a list of dicts)"


def column(dataset: Any, name: str, key: str) -> list:
    """The column `name` of `dataset`; `key` is the config key that named it, for the error message."""
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise ValueError(
            f"{key}={name!r} needs a dataset with named columns, got {type(dataset).__name__}: {_convert_hint(dataset)}"
        )
    if name not in columns:
        raise ValueError(f"{key}={name!r} is not a column of the training dataset; its columns are {columns}")
    return dataset[name]


def numeric_column(dataset: Any, name: str, key: str) -> np.ndarray:
    """The column `name` as float64 numbers."""
    values = column(dataset, name, key)
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={name!r} should hold numbers, got {values[:3]!r}...") from None


def as_text(value: Any) -> str:
    """A cell as one string: text as is, anything else (token ids, chat messages) as sorted JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def contents(dataset: Any, name: str | None) -> list[str]:
    """One string per row identifying its content, for score sharing: the column `name` if given, else
    `prompt` + `completion`, `text`, `messages` or `input_ids`, the first the dataset has."""
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise ValueError(
            f"share_scores needs the rows' content, read from named columns, but the training dataset is a "
            f"{type(dataset).__name__} without column names: {_convert_hint(dataset)}, or set share_scores: none"
        )
    if name is not None:
        return [as_text(v) for v in column(dataset, name, "content_column")]
    if {"prompt", "completion"} <= set(columns):
        return [as_text(p) + "\n" + as_text(c) for p, c in zip(dataset["prompt"], dataset["completion"])]
    for candidate in ("text", "messages", "input_ids"):
        if candidate in columns:
            return [as_text(v) for v in dataset[candidate]]
    raise ValueError(
        f"share_scores needs the rows' content: set content_column to one of the dataset's columns {columns}"
    )


def prompts(dataset: Any) -> list[str] | None:
    """One string per row identifying its prompt, for `duplicate_key="prompt"`: the `prompt` column, else all but
    the last message of `messages`; `None` when the dataset has neither (copies are then counted by content)."""
    columns = getattr(dataset, "column_names", None) or []
    if "prompt" in columns:
        return [as_text(v) for v in dataset["prompt"]]
    if "messages" in columns:
        return [as_text(v[:-1]) for v in dataset["messages"]]
    return None


def supervised_counts(dataset: Any, name: str = "labels") -> np.ndarray | None:
    """Per row of a `datasets.Dataset`, how many entries of its list column `name` differ from -100, computed
    through Arrow block by block (no Python list of the column); `None` when the dataset has no such column of
    integer lists.

    Example:

    ```python
    >>> from datasets import Dataset
    >>> from curriculum.columns import supervised_counts
    >>> supervised_counts(Dataset.from_dict({"labels": [[-100, 5, 6], [-100, -100], [7]]})).tolist()
    [2, 0, 1]
    ```
    """
    if name not in (getattr(dataset, "column_names", None) or []):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    table = getattr(dataset, "data", None)
    table = getattr(table, "table", table)  # `datasets.table.Table` wraps a `pyarrow.Table`
    if not isinstance(table, pa.Table):
        return None
    values = table.column(name)
    kind = values.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        return None
    if not pa.types.is_integer(kind.value_type):
        return None
    counts = np.zeros(len(values), dtype=np.int64)
    start = 0
    for chunk in values.chunks:
        for lo in range(0, len(chunk), _LABEL_BLOCK):
            block = chunk.slice(lo, _LABEL_BLOCK)
            supervised = pc.not_equal(pc.list_flatten(block), IGNORE_INDEX)
            parents = pc.list_parent_indices(block).filter(supervised).to_numpy()
            counts[start + lo : start + lo + len(block)] = np.bincount(parents, minlength=len(block))
        start += len(chunk)
    indices = getattr(dataset, "_indices", None)  # `select`, `shuffle`, ...: the rows of the table in order
    if indices is not None:
        counts = counts[indices.column(0).to_numpy()]
    return counts
