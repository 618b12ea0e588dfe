"""Carry each row's index through the data pipeline: a dataset view and a collator wrapper."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

__all__: list[str] = []

INDEX_KEY = "sample_index"


class IndexedDataset(Dataset):
    """A view of a map-style dataset whose items are dicts with the row's own index under `sample_index`."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.dataset[index]
        if not isinstance(item, dict):
            raise TypeError(
                f"the curriculum needs dataset rows that are dicts, but row {index} is a {type(item).__name__}"
            )
        return {**item, INDEX_KEY: int(index)}

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        getitems = getattr(self.dataset, "__getitems__", None)
        items = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
        return [{**item, INDEX_KEY: int(i)} for item, i in zip(items, indices)]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


class IndexCollator:
    """Wraps a data collator: takes `sample_index` out of the features, collates, and puts it back as a tensor."""

    def __init__(self, collator: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        self.collator = collator

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if features and INDEX_KEY not in features[0]:
            return self.collator(features)
        ids = [f[INDEX_KEY] for f in features]
        batch = self.collator([{k: v for k, v in f.items() if k != INDEX_KEY} for f in features])
        batch[INDEX_KEY] = torch.tensor(ids, dtype=torch.long)
        return batch
