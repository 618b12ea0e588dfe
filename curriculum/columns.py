"""Reading the columns the curriculum needs from a dataset with named columns (duck-typed, no framework import)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
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


def _check_column(dataset: Any, name: str, key: str) -> None:
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise ValueError(
            f"{key}={name!r} needs a dataset with named columns, got {type(dataset).__name__}: {_convert_hint(dataset)}"
        )
    if name not in columns:
        raise ValueError(f"{key}={name!r} is not a column of the training dataset; its columns are {columns}")


def column(dataset: Any, name: str, key: str) -> list:
    """The column `name` of `dataset`; `key` is the config key that named it, for the error message."""
    _check_column(dataset, name, key)
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


# ------------------------------------------------------------------------------------ Arrow fast path (datasets)


def _arrow(dataset: Any) -> tuple[Any, np.ndarray | None] | None:
    """`(table, rows)` of a `datasets.Dataset`: its Arrow table and, after `select`, `shuffle`, ..., the table's row
    of each of its rows (`None`: the rows in order); `None` for anything else."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow comes with datasets
        return None
    table = getattr(dataset, "data", None)
    table = getattr(table, "table", table)  # `datasets.table.Table` wraps a `pyarrow.Table`
    if not isinstance(table, pa.Table) or getattr(dataset, "column_names", None) is None:
        return None
    indices = getattr(dataset, "_indices", None)
    rows = None
    if indices is not None:
        indices = getattr(indices, "table", indices)
        rows = indices.column(0).to_numpy().astype(np.int64, copy=False)
    if len(table) != len(dataset) and rows is None:
        return None
    return table, rows


def _is_text(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _text_copies(values: list, rows: np.ndarray | None) -> np.ndarray:
    """Per row in dataset order, the first row whose string columns `values` joined with "\n" have the same
    duplicate key (nulls read as `as_text(None)`, "null")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .text import arrow_duplicate_codes, first_of_codes

    if rows is not None and 2 * len(rows) < len(values[0]):
        taken = pa.array(rows)
        values, rows = [v.take(taken) for v in values], None  # a small selection: normalise only its rows
    values = [pc.fill_null(v, "null") if v.null_count else v for v in values]
    codes = arrow_duplicate_codes(values, "\n")  # the first table row of each row's group
    return codes if rows is None else first_of_codes(codes[rows])


def _content_values(table: Any, columns: list, name: str | None) -> list | None:
    """The Arrow columns `contents` reads (joined with "\n"); `None` when they are not all text."""
    if name is not None:
        picked = [name] if name in columns else None
    elif {"prompt", "completion"} <= set(columns):
        picked = ["prompt", "completion"]
    else:
        picked = next(([c] for c in ("text", "messages", "input_ids") if c in columns), None)
    if picked is None or not all(_is_text(table.schema.field(c).type) for c in picked):
        return None
    return [table.column(c) for c in picked]


def content_duplicates(dataset: Any, name: str | None) -> np.ndarray | None:
    """`duplicate_groups(contents(dataset, name))`, computed through Arrow for a `datasets.Dataset` whose content
    columns hold text; `None` when the dataset is not one (use the Python path)."""
    found = _arrow(dataset)
    if found is None:
        return None
    table, rows = found
    values = _content_values(table, list(dataset.column_names), name)
    return None if values is None else _text_copies(values, rows)


def prompt_duplicates(dataset: Any) -> np.ndarray | None:
    """`duplicate_groups(prompts(dataset))` through Arrow for a `datasets.Dataset` with a text `prompt` column;
    `None` otherwise (use the Python path)."""
    found = _arrow(dataset)
    if found is None or "prompt" not in dataset.column_names:
        return None
    table, rows = found
    if not _is_text(table.schema.field("prompt").type):
        return None
    return _text_copies([table.column("prompt")], rows)


def _in_order(values: Any, rows: np.ndarray | None) -> Any:
    import pyarrow as pa

    return values if rows is None else values.take(pa.array(rows))


def arrow_groups(dataset: Any, name: str, key: str) -> tuple[np.ndarray, list[str]] | None:
    """`(encode_groups(labels), group_names(labels))` of the column `name`, through Arrow for a `datasets.Dataset`
    whose column holds text, integers, booleans or floats (None and NaN form one group `"<missing>"`); `None`
    otherwise (use the Python path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .groups import MISSING

    found = _arrow(dataset)
    if found is None:
        return None
    _check_column(dataset, name, key)  # the same errors as the Python path
    table, rows = found
    kind = table.schema.field(name).type
    if _is_text(kind) or pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        encoded = pc.dictionary_encode(_in_order(table.column(name), rows), null_encoding="encode")
        chunks = encoded.chunks
        if not chunks:
            return np.zeros(0, dtype=np.int64), []
        codes = np.concatenate([c.indices.to_numpy() for c in chunks]).astype(np.int64, copy=False)
        labels = chunks[-1].dictionary.to_pylist()  # every chunk has the whole dictionary
        return codes, [MISSING if v is None else str(v) for v in labels]
    if pa.types.is_floating(kind):
        values = _in_order(table.column(name), rows).to_numpy().astype(np.float64)  # null -> NaN
        if not len(values):
            return np.zeros(0, dtype=np.int64), []
        # np.unique merges NaNs (the missing labels) and -0.0 with 0.0, as a dict of Python floats does; a stable
        # sort makes `first` each label's first row, and ranking the firsts numbers the labels by first appearance.
        _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        labels = values[first[order]]
        return rank[inverse.reshape(-1)].astype(np.int64), [MISSING if v != v else str(v) for v in labels.tolist()]
    return None


def arrow_numeric(dataset: Any, name: str, key: str) -> np.ndarray | None:
    """`numeric_column(dataset, name, key)` through Arrow for a `datasets.Dataset` whose column holds numbers or
    booleans (null -> NaN); `None` otherwise."""
    import pyarrow as pa

    found = _arrow(dataset)
    if found is None:
        return None
    _check_column(dataset, name, key)
    table, rows = found
    kind = table.schema.field(name).type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        return None
    values = _in_order(table.column(name), rows).cast(pa.float64(), safe=False)
    return values.to_numpy().astype(np.float64, copy=False)


# ---------------------------------------------------------------------- what `Curriculum.from_dataset` reads
# Each reads through Arrow where the dataset and column allow, else through Python lists; both give the same values.


def read_numbers(dataset: Any, name: str, key: str) -> np.ndarray:
    """The numeric column `name` as float64."""
    fast = arrow_numeric(dataset, name, key)
    return numeric_column(dataset, name, key) if fast is None else fast


def read_groups(dataset: Any, name: str, key: str) -> tuple[np.ndarray, list[str]]:
    """The group codes (by first appearance, missing labels one group) and names of the column `name`."""
    from .groups import encode_groups, group_names

    fast = arrow_groups(dataset, name, key)
    if fast is not None:
        return fast
    labels = column(dataset, name, key)
    try:
        return encode_groups(labels), group_names(labels)
    except ValueError as err:  # an unhashable label: name the column, and how to fix it
        raise ValueError(
            f"{key}={name!r}: {err}. Group by one of its values, or join them into a string "
            f"(`dataset.map(lambda r: {{{name!r}: '/'.join(map(str, r[{name!r}]))}})`)."
        ) from None


def _on_rank_zero(compute: Callable[[], np.ndarray | None]) -> np.ndarray | None:
    """`compute()`, run once: with several torch.distributed processes rank 0 computes it and the others receive
    rank 0's array (they raise if rank 0 fails)."""
    dist = sys.modules.get("torch.distributed")  # never imported: a single process, and no torch needed
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return compute()
    from .distributed import broadcast_array, rank, world_size

    if world_size() == 1:
        return compute()
    if rank() != 0:
        return broadcast_array(None)
    try:
        result = compute()
    except BaseException:
        broadcast_array(None, failed=True)
        raise
    return broadcast_array(result)


def read_copies(dataset: Any, name: str | None) -> np.ndarray:
    """Per row, the first row with the same normalised content (`contents`); computed on rank 0 only."""
    from .text import duplicate_groups

    def compute() -> np.ndarray:
        fast = content_duplicates(dataset, name)
        return duplicate_groups(contents(dataset, name)) if fast is None else fast

    return _on_rank_zero(compute)


def read_prompt_copies(dataset: Any) -> np.ndarray | None:
    """Per row, the first row with the same normalised prompt (`prompts`), `None` without prompts; computed on
    rank 0 only."""
    from .text import duplicate_groups

    def compute() -> np.ndarray | None:
        fast = prompt_duplicates(dataset)
        if fast is not None:
            return fast
        texts = prompts(dataset)
        return None if texts is None else duplicate_groups(texts)

    return _on_rank_zero(compute)
