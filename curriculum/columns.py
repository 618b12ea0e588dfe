"""Reading the columns the curriculum needs from a dataset with named columns (duck-typed, no framework import)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__: list[str] = []


def column(dataset: Any, name: str, key: str) -> list:
    """The column `name` of `dataset`; `key` is the config key that named it, for the error message."""
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise ValueError(f"{key}={name!r} needs a `datasets.Dataset` with named columns, got {type(dataset).__name__}")
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
    columns = getattr(dataset, "column_names", None) or []
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
