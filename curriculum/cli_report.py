"""`curriculum report`: a checkpoint's data map written next to the dataset's rows, with a plot."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import CurriculumConfig

__all__ = ["REPORT_FIELDS", "report"]

# The data-map fields that `report` writes, each as the column "curriculum_" + field.
REPORT_FIELDS = ("category", "noise", "confidence", "variability", "loss", "visits")


def _state_file(checkpoint: str) -> str:
    """The curriculum state file of a checkpoint-N folder, or `checkpoint` itself when it names a file."""
    from .checkpoint import STATE_FILE

    if os.path.isdir(checkpoint):
        path = os.path.join(checkpoint, STATE_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} does not exist: {checkpoint!r} was not written by a run with the curriculum attached (or the "
                f"run stopped while saving it); pass a checkpoint-N folder that has {STATE_FILE}, or that file"
            )
        return path
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f"checkpoint {checkpoint!r} does not exist; pass a checkpoint-N folder of a run with the curriculum "
            f"attached, or its {STATE_FILE}"
        )
    return checkpoint


def _read_state(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The curriculum's arrays in a state file (the "curriculum." prefix removed), and the file's metadata."""
    from .checkpoint import STATE_FILE, load_state

    hint = f"pass the {STATE_FILE} of a checkpoint-N folder written by a run with the curriculum attached"
    try:
        arrays, meta = load_state(path)
    except Exception as err:  # np.load fails in many ways on other files: BadZipFile, EOFError, ValueError, KeyError
        raise ValueError(f"{path} is not a curriculum state file ({type(err).__name__}: {err}); {hint}") from None
    prefix = "curriculum."
    state = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
    if "scores.loss" not in state or "step" not in state:
        raise ValueError(f"{path} holds no curriculum state (its arrays are {sorted(arrays)}); {hint}")
    return state, meta


def _default_plot_path(output: str) -> str:
    out = Path(output)
    if not out.name:  # "." or "/"
        out = Path(os.path.abspath(output))
    return str(out.with_name(out.stem + "_data_map.png"))


def report(args: argparse.Namespace) -> None:
    from .core import Curriculum
    from .datamap import CATEGORIES
    from .resume import check_same_data
    from .scoring.io import load_rows, save_rows

    config = CurriculumConfig.from_yaml(args.config)
    if os.path.abspath(args.output) == os.path.abspath(args.dataset):
        raise ValueError(f"OUTPUT should differ from DATASET, but both are {args.output!r}; write the report elsewhere")
    plot_path = None if args.no_plot else args.plot or _default_plot_path(args.output)
    if plot_path is not None:
        from .plot import _matplotlib

        try:
            _matplotlib()  # before the work: fail fast when matplotlib is missing
        except ImportError as err:
            raise ImportError(f"{err}, or pass --no-plot to skip the plot") from None
    path = _state_file(args.checkpoint)
    state, meta = _read_state(path)
    dataset = load_rows(args.dataset)
    saved = len(state["scores.loss"])
    if saved != len(dataset):
        raise ValueError(
            f"{path} holds the curriculum state of {saved} rows, but the dataset {args.dataset!r} has {len(dataset)} "
            "rows; pass the training data of that run (the same rows, in the same order)"
        )
    if not check_same_data(meta.get("data_columns"), dataset, f"{path} and {args.dataset!r}"):
        print(f"curriculum: note: {path} cannot tell whether {args.dataset!r} is its training data (no column in "
              "common with what it recorded); make sure the rows and their order are the run's", file=sys.stderr)
    curriculum = Curriculum.from_dataset(config, dataset)
    try:
        curriculum.load_state_dict(state)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path}: cannot load the curriculum state with the config {args.config!r}: {err}") from None
    data_map = curriculum.data_map()

    order = list(dataset.column_names)
    for field in REPORT_FIELDS:
        column = "curriculum_" + field
        values = data_map[field]
        if field == "category":
            cells: list = [str(v) for v in values]
        elif field == "visits":
            cells = [int(v) for v in values]
        else:
            cells = [float(v) for v in values]
        if column in dataset.column_names:  # a report of a report: replace in place
            dataset = dataset.remove_columns(column)
        else:
            order.append(column)
        dataset = dataset.add_column(column, cells)
    dataset = dataset.select_columns(order)
    fmt = save_rows(dataset, args.output, like=args.dataset)

    n = len(dataset)
    columns = ", ".join("curriculum_" + f for f in REPORT_FIELDS)
    print(f"{args.output}: {n} rows with {columns} ({fmt})")
    print(f"data map at step {int(state['step'])} ({path}):")
    categories = data_map["category"]
    for name in CATEGORIES:
        count = int((categories == name).sum())
        share = 100.0 * count / n if n else 0.0
        print(f"  {name:<16}{count:>10}  {share:5.1f}%")
    if plot_path is not None:
        from .plot import plot_data_map

        title = f"Data map at step {int(state['step'])} ({n:,} rows)"
        print(f"{plot_data_map(data_map, plot_path, title=title)}: data map plot")
