"""The `curriculum` command line: `validate` a config, `schema`, `score` and `select` rows, `report` a data map."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, CurriculumConfig, schema_markdown

__all__ = ["main"]

# Kept in step with curriculum.scoring.SCORERS (not imported here: it loads torch, and `validate` starts fast).
_SCORERS = ("length", "cluster", "loss", "confidence", "miwv")
_MODEL_SCORERS = ("loss", "confidence", "miwv")
# The data-map fields that `report` writes, each as the column "curriculum_" + field.
_REPORT_FIELDS = ("category", "noise", "confidence", "variability", "loss", "visits")


def _int_at_least(minimum: int, wording: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"should be {wording}, but got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="curriculum", description="Online curriculum for the Hugging Face Trainer.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a curriculum YAML file and print the resolved settings")
    validate.add_argument("config", help="path to a curriculum YAML file")
    commands.add_parser("schema", help="print the YAML schema as a Markdown table")

    score = commands.add_parser(
        "score",
        help="add offline hardness scores to a dataset, one column per scorer",
        description="Write a copy of a prompt/completion dataset with one column per scorer (higher = harder, except "
        "confidence). The model scorers split the rows across processes under `accelerate launch` or `torchrun`.",
    )
    score.add_argument("input", help="a `datasets` directory (save_to_disk), or a .jsonl, .json or .parquet file")
    score.add_argument("output", help="where to write the scored copy (format: its extension, else the input's)")
    score.add_argument(
        "--scorer",
        action="append",
        required=True,
        choices=_SCORERS,
        help="length: instruction-response expansion index (IREI, in tokens with --model, else words); cluster: "
        "(1 - silhouette) / 2 of the row's TF-IDF vector (its sentence embedding with --embedding-model) in a "
        "k-means clustering, plus the integer column cluster_id (the row's k-means cluster, usable as group_column "
        "when the data has no task column); loss / confidence: mean NLL / "
        "probability of the completion tokens under --model; miwv: one-shot minus zero-shot loss, the demonstration "
        "being the row with the most similar prompt. Repeat for several scores.",
    )
    score.add_argument("--model", metavar="DIR", help="local model directory (with its tokenizer) for model scorers")
    score.add_argument(
        "--embedding-model",
        metavar="DIR",
        help="local sentence-transformers model directory: cluster clusters the rows on its embeddings instead of "
        'TF-IDF (needs pip install "curriculum[embeddings]"), and MIWV picks neighbours by its embeddings',
    )
    score.add_argument("--batch-size", metavar="N", type=_positive_int, default=8, help="batch size (default: 8)")
    score.add_argument("--max-length", metavar="N", type=_positive_int, help="keep the last N tokens of a sequence")
    score.add_argument("--clusters", metavar="K", type=_positive_int, default=8, help="k-means clusters (default: 8)")
    score.add_argument("--seed", type=_non_negative_int, default=0, help="k-means seed (default: 0)")
    score.add_argument("--column-prefix", default="score_", help="prefix of the new columns (default: score_)")
    score.add_argument("--prompt-column", default="prompt", help="prompt column (default: prompt)")
    score.add_argument("--completion-column", default="completion", help="completion column (default: completion)")
    score.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    select = commands.add_parser("select", help="keep the rows with the highest (or lowest) values of a column")
    select.add_argument("input", help="a `datasets` directory (save_to_disk), or a .jsonl, .json or .parquet file")
    select.add_argument("output", help="where to write the selected rows (format: its extension, else the input's)")
    select.add_argument("--by", required=True, metavar="COLUMN", help="numeric column to rank by, e.g. score_loss")
    select.add_argument("--budget", required=True, type=_positive_int, metavar="K", help="number of rows to keep")
    select.add_argument("--lowest", action="store_true", help="keep the lowest values (default: the highest)")

    report = commands.add_parser(
        "report",
        help="write the training data with each row's data-map category, noise, confidence... from a checkpoint",
        description="Rebuild the curriculum of a training run from its config and training data, load the state saved "
        "in a checkpoint, and write a copy of the data with the columns "
        + ", ".join("curriculum_" + f for f in _REPORT_FIELDS)
        + "; print the rows per category and plot the data map (confidence against variability) to a PNG.",
    )
    report.add_argument("config", help="the curriculum YAML file the run was trained with")
    report.add_argument(
        "dataset", help="the training data: a `datasets` directory (save_to_disk), or a .jsonl, .json or .parquet file"
    )
    report.add_argument("checkpoint", help="a checkpoint-N folder of the run, or its curriculum_state.npz")
    report.add_argument("output", help="where to write the annotated copy (format: its extension, else the dataset's)")
    plot = report.add_mutually_exclusive_group()
    plot.add_argument(
        "--plot", metavar="PNG", help="where to write the data-map plot (default: OUTPUT's stem + _data_map.png, next "
        'to OUTPUT); needs matplotlib: pip install "curriculum[plot]"'
    )
    plot.add_argument("--no-plot", action="store_true", help="skip the plot")
    return parser


def _load_model(path: str, device):
    if not os.path.isdir(path):
        raise ValueError(f"--model should be a local model directory, but {path!r} is not a directory")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device)
    return model, tokenizer


def _score(args: argparse.Namespace) -> None:
    from .scoring import load_rows, save_rows, score_dataset
    from .scoring.processes import process_state

    scorers = list(dict.fromkeys(args.scorer))
    needs_model = [s for s in scorers if s in _MODEL_SCORERS]
    if needs_model and args.model is None:
        raise ValueError(f"scorer(s) {needs_model} need --model DIR, a local model directory with its tokenizer")
    state = process_state()
    try:
        with state.main_process_first():
            dataset = load_rows(args.input)
        model = tokenizer = None
        if args.model is not None:
            model, tokenizer = _load_model(args.model, state.device)
        scored = score_dataset(
            dataset,
            scorers,
            model,
            tokenizer,
            prompt_column=args.prompt_column,
            completion_column=args.completion_column,
            column_prefix=args.column_prefix,
            batch_size=args.batch_size,
            clusters=args.clusters,
            seed=args.seed,
            max_length=args.max_length,
            progress=not args.no_progress,
            embedding_model=args.embedding_model,
        )
        if state.is_main_process:
            fmt = save_rows(scored, args.output, like=args.input)
            columns = [args.column_prefix + s for s in scorers]
            if "cluster" in scorers:  # its cluster_id column follows its score column
                columns.insert(columns.index(args.column_prefix + "cluster") + 1, "cluster_id")
            print(f"{args.output}: {len(scored)} rows with {', '.join(columns)} ({fmt})")
        state.wait_for_everyone()
    finally:
        if state.num_processes > 1:
            state.destroy_process_group()


def _select(args: argparse.Namespace) -> None:
    from .scoring import load_rows, save_rows, select_top

    dataset = load_rows(args.input)
    selected = select_top(dataset, args.by, args.budget, lowest=args.lowest)
    fmt = save_rows(selected, args.output, like=args.input)
    which = "lowest" if args.lowest else "highest"
    print(f"{args.output}: the {len(selected)} of {len(dataset)} rows with the {which} {args.by} ({fmt})")


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


def _read_state(path: str) -> dict[str, Any]:
    """The curriculum's arrays in a state file (the "curriculum." prefix removed)."""
    from .checkpoint import STATE_FILE, load_state

    hint = f"pass the {STATE_FILE} of a checkpoint-N folder written by a run with the curriculum attached"
    try:
        arrays, _ = load_state(path)
    except Exception as err:  # np.load fails in many ways on other files: BadZipFile, EOFError, ValueError, KeyError
        raise ValueError(f"{path} is not a curriculum state file ({type(err).__name__}: {err}); {hint}") from None
    prefix = "curriculum."
    state = {key[len(prefix) :]: value for key, value in arrays.items() if key.startswith(prefix)}
    if "scores.loss" not in state or "step" not in state:
        raise ValueError(f"{path} holds no curriculum state (its arrays are {sorted(arrays)}); {hint}")
    return state


def _default_plot_path(output: str) -> str:
    out = Path(output)
    if not out.name:  # "." or "/"
        out = Path(os.path.abspath(output))
    return str(out.with_name(out.stem + "_data_map.png"))


def _report(args: argparse.Namespace) -> None:
    from .core import Curriculum
    from .datamap import CATEGORIES
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
    state = _read_state(path)
    dataset = load_rows(args.dataset)
    saved = len(state["scores.loss"])
    if saved != len(dataset):
        raise ValueError(
            f"{path} holds the curriculum state of {saved} rows, but the dataset {args.dataset!r} has {len(dataset)} "
            "rows; pass the training data of that run (the same rows, in the same order)"
        )
    curriculum = Curriculum.from_dataset(config, dataset)
    try:
        curriculum.load_state_dict(state)
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path}: cannot load the curriculum state with the config {args.config!r}: {err}") from None
    data_map = curriculum.data_map()

    order = list(dataset.column_names)
    for field in _REPORT_FIELDS:
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
    columns = ", ".join("curriculum_" + f for f in _REPORT_FIELDS)
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "schema":
        print(schema_markdown())
        return 0
    if args.command in ("score", "select", "report"):
        try:
            {"score": _score, "select": _select, "report": _report}[args.command](args)
        except (ValueError, OSError, ImportError) as err:
            print(f"curriculum: error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        config = CurriculumConfig.from_yaml(args.config)
    except (ConfigError, OSError) as err:
        print(f"curriculum: error: {err}", file=sys.stderr)
        return 2
    print(f"{args.config}: valid\n---")
    print(config.to_yaml(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
