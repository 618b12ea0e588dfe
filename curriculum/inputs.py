"""The per-row inputs of a `Curriculum` (group codes, priors, score sharing), read from arrays or dataset columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import columns
from .config import CurriculumConfig
from .groups import encode_groups, group_names
from .sharing import ScoreSharing, build_sharing
from .text import duplicate_groups

__all__ = ["check", "from_arrays", "from_dataset"]


def check(config: CurriculumConfig, *, sharing: Any, **values: Any) -> None:
    """Refuse a config whose columns need per-row values that were not given (`values` by constructor argument)."""
    for argument, given in values.items():
        key = "group_column" if argument == "groups" else f"{argument}_column"
        if getattr(config, key) is not None and given is None:
            raise ValueError(f"{key}={getattr(config, key)!r} needs the per-row values: pass {argument}=... "
                             "(from_dataset reads the column)")
    if config.share_scores != "none" and sharing is None:
        raise ValueError(
            f"share_scores={config.share_scores!r} needs the rows' content (texts=... in from_arrays); pass it, "
            "or set share_scores='none'"
        )


def _floats(values: Sequence[float] | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


def _sharing(
    config: CurriculumConfig,
    contents: Callable[[], Any],
    copies: Callable[[], np.ndarray],
    prompt_copies: Callable[[], np.ndarray | None],
) -> dict[str, Any]:
    """Score sharing as the config asks, the one place that decides it: `sharing` from the rows' `contents()` (near
    duplicates) or their `copies()` (first row of each row's group of copies), and `copies_of` from
    `prompt_copies()` with `duplicate_key="prompt"`."""
    if config.share_scores == "none":
        return {"sharing": None, "copies_of": None}
    if config.share_scores == "near_duplicates":
        sharing = build_sharing(contents(), near_duplicates=True, threshold=config.near_duplicate_threshold)
    else:
        sharing = ScoreSharing(copies())
    return {"sharing": sharing, "copies_of": prompt_copies() if config.duplicate_key == "prompt" else None}


def from_arrays(
    config: CurriculumConfig,
    *,
    groups: Sequence | None = None,
    prior: Sequence[float] | None = None,
    reference: Sequence[float] | None = None,
    texts: Sequence[str] | None = None,
    prompts: Sequence[str] | None = None,
    confidence_prior: Sequence[float] | None = None,
    global_batch: int = 1,
    max_steps: int | None = None,
    epochs: float = 1.0,
    unscorable: Sequence[bool] | None = None,
    num_generations: int = 1,
) -> dict[str, Any]:
    """The constructor's arguments from per-row arrays (see [`~curriculum.Curriculum.from_arrays`]): group labels
    coded, score sharing from `texts` (copies by `prompts` with `duplicate_key="prompt"`), numbers as float64."""
    inputs: dict[str, Any] = {"sharing": None, "copies_of": None}
    if texts is not None:
        inputs = _sharing(config, lambda: texts, lambda: duplicate_groups(texts),
                          lambda: None if prompts is None else duplicate_groups(prompts))
    return {
        **inputs,
        "groups": None if groups is None else encode_groups(groups),
        "group_names": None if groups is None else group_names(groups),
        "prior": _floats(prior),
        "reference": _floats(reference),
        "confidence_prior": _floats(confidence_prior),
        "global_batch": global_batch,
        "max_steps": max_steps,
        "epochs": epochs,
        "unscorable": None if unscorable is None else np.asarray(unscorable, dtype=bool),
        "num_generations": num_generations,
    }


def from_dataset(config: CurriculumConfig, dataset: Any) -> dict[str, Any]:
    """The constructor's per-row arguments from the columns the config names (see [`Curriculum.from_dataset`])."""

    def numeric(key: str) -> np.ndarray | None:
        name = getattr(config, key)
        return None if name is None else columns.read_numbers(dataset, name, key)

    codes = names = None
    if config.group_column is not None:
        codes, names = columns.read_groups(dataset, config.group_column, "group_column")
    inputs = _sharing(config, lambda: columns.contents(dataset, config.content_column),
                      lambda: columns.read_copies(dataset, config.content_column),
                      lambda: columns.read_prompt_copies(dataset))
    return {
        **inputs,
        "groups": codes,
        "group_names": names,
        "prior": numeric("prior_column"),
        "reference": numeric("reference_column"),
        "confidence_prior": numeric("confidence_prior_column"),
    }
