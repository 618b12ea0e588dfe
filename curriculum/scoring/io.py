"""Read a dataset from a `datasets` directory, a .jsonl/.json or a .parquet file, and write one the same way."""

from __future__ import annotations

import os
from typing import Any

__all__: list[str] = []

FORMATS = ("datasets", "jsonl", "json", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}


def dataset_format(path: str | os.PathLike) -> str | None:
    """The format a path names by its extension (`"jsonl"`, `"json"`, `"parquet"`), `"datasets"` for an existing
    directory, else None.

    Example:

    ```python
    >>> from curriculum.scoring.io import dataset_format
    >>> dataset_format("data/train.JSONL"), dataset_format("no_extension")
    ('jsonl', None)
    ```
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if os.path.isdir(path):
        return "datasets"
    return None


def load_rows(path: str | os.PathLike) -> Any:
    """
    Load a `datasets.Dataset` from a directory written by `save_to_disk`, a .jsonl/.json file (JSON lines or one
    JSON array of objects) or a .parquet file.

    Example:

    ```python
    >>> import os, tempfile
    >>> from curriculum.scoring.io import load_rows
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "rows.jsonl")
    ...     _ = open(path, "w").write('{"prompt": "1+1=", "completion": "2"}\\n')
    ...     load_rows(path).column_names
    ['prompt', 'completion']
    ```
    """
    from datasets import Dataset, DatasetDict, load_from_disk

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset path {path!r} does not exist")
    fmt = dataset_format(path)
    if fmt == "datasets":
        dataset = load_from_disk(path)
        if isinstance(dataset, DatasetDict):
            raise ValueError(
                f"{path!r} holds a DatasetDict with splits {list(dataset)}; pass the directory of one split "
                f"(for example {os.path.join(path, next(iter(dataset), 'train'))!r})"
            )
        return dataset
    if fmt in ("jsonl", "json"):
        return Dataset.from_json(path)
    if fmt == "parquet":
        return Dataset.from_parquet(path)
    raise ValueError(
        f"dataset path {path!r} should be a `datasets` directory (save_to_disk) or a .jsonl, .json or .parquet file"
    )


def _is_json_array(path: str) -> bool:
    with open(path, encoding="utf-8") as f:
        while True:
            ch = f.read(1)
            if not ch or not ch.isspace():
                return ch == "["


def save_rows(dataset: Any, path: str | os.PathLike, like: str | os.PathLike | None = None) -> str:
    """
    Write a dataset to `path` and return the format used: the one `path`'s extension names (.jsonl and .json as
    JSON lines, .parquet), else the format of `like` (the input path), else a `datasets` directory. A .json `like`
    file that holds one JSON array is written back as one JSON array. In JSON, missing values are written as null
    and floats at pandas' highest precision (`double_precision=15`).

    Example:

    ```python
    >>> import os, tempfile
    >>> from datasets import Dataset
    >>> from curriculum.scoring.io import save_rows
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_rows(Dataset.from_dict({"x": [1, 2]}), os.path.join(folder, "out.parquet"))
    'parquet'
    ```
    """
    path = os.fspath(path)
    fmt = _SUFFIXES.get(os.path.splitext(path)[1].lower())
    if fmt is None and like is not None:
        fmt = dataset_format(like)
    fmt = fmt or "datasets"
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    if fmt == "datasets":
        dataset.save_to_disk(path)
    elif fmt == "parquet":
        dataset.to_parquet(path)
    elif fmt == "json" and like is not None and dataset_format(like) == "json" and _is_json_array(os.fspath(like)):
        frame = dataset.to_pandas()
        frame.to_json(path, orient="records", force_ascii=False, double_precision=15)
    else:
        dataset.to_json(path, lines=True, force_ascii=False, double_precision=15)
    return fmt
