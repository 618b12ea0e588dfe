"""The `curriculum` command line: `validate` a config, `schema`, `score` and `select` rows, `report` a data map."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .config import ConfigError, CurriculumConfig, schema_markdown
from .scoring.registry import JUDGE_SCORERS, MODEL_SCORERS, SCORERS, THTB_INPUTS, expand, written_columns

__all__ = ["main"]

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


def _number(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"should be a number, but got {text!r}")
    return value


def _template(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or name not in JUDGE_SCORERS or not path:
        raise argparse.ArgumentTypeError(
            f"should be NAME=FILE with NAME one of {list(JUDGE_SCORERS)} and FILE a template file, but got {text!r}"
        )
    return name, path


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
        choices=SCORERS,
        help="length: instruction-response expansion index (IREI, in tokens with --model, else words); cluster: "
        "(1 - silhouette) / 2 of the row's TF-IDF vector (its sentence embedding with --embedding-model) in a "
        "k-means clustering, plus the integer column cluster_id (the row's k-means cluster, usable as group_column "
        "when the data has no task column); loss / confidence: mean NLL / "
        "probability of the completion tokens under --model; miwv: one-shot minus zero-shot loss, the demonstration "
        "being the row with the most similar prompt; quality (1-10), bloom (Bloom's taxonomy level 1-6), "
        "disciplines (disciplines needed, 1-10): the answer of the local instruct model --judge-model to a prompt "
        "template, NaN where it does not parse; thtb: The Harder The Better, quality filter then the mean of the "
        "rank-normalised intrinsic (bloom, disciplines) and extrinsic (length, cluster) hardness, written with "
        "all its inputs. Repeat for several scores.",
    )
    score.add_argument("--model", metavar="DIR", help="local model directory (with its tokenizer) for model scorers")
    score.add_argument(
        "--embedding-model",
        metavar="DIR",
        help="local sentence-transformers model directory: cluster clusters the rows on its embeddings instead of "
        'TF-IDF (needs pip install "curriculum[embeddings]"), and MIWV picks neighbours by its embeddings',
    )
    score.add_argument(
        "--judge-model",
        metavar="DIR",
        help="local instruct model directory (with its tokenizer) that answers the quality, bloom and disciplines "
        "templates, greedily (its chat template if it has one, else the plain template)",
    )
    score.add_argument(
        "--judge-template",
        metavar="NAME=FILE",
        type=_template,
        action="append",
        default=[],
        help="replace the packaged template (curriculum/scoring/prompts/NAME.txt) of a judge scorer (quality, bloom, "
        "disciplines) by FILE, a text file with {instruction} (the prompt) and/or {response} (the completion); "
        "repeat for several",
    )
    cache = score.add_mutually_exclusive_group()
    cache.add_argument(
        "--judge-cache",
        metavar="FILE",
        help="JSON-lines cache of the judge's answers, so that an interrupted run continues where it stopped "
        "(default: OUTPUT + .judge_cache.jsonl)",
    )
    cache.add_argument("--no-judge-cache", action="store_true", help="do not cache the judge's answers")
    score.add_argument(
        "--judge-batch-size", metavar="N", type=_positive_int, help="prompts per generate call (default: --batch-size)"
    )
    score.add_argument(
        "--max-new-tokens", metavar="N", type=_positive_int, default=4, help="new tokens per judge answer (default: 4)"
    )
    score.add_argument(
        "--quality-threshold",
        metavar="X",
        type=_number,
        default=5.0,
        help="thtb: rows whose quality is under X (or missing) get no thtb score (NaN) (default: 5)",
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
    select.add_argument(
        "--by",
        required=True,
        metavar="COLUMN",
        help="numeric column to rank by, e.g. score_loss; a scorer name (loss, thtb...) stands for its score_ column. "
        "--by thtb without a score_thtb column computes it from the score_quality, score_bloom, score_disciplines, "
        "score_length and score_cluster columns present; rows without a thtb score are never selected",
    )
    select.add_argument("--budget", required=True, type=_positive_int, metavar="K", help="number of rows to keep")
    select.add_argument("--lowest", action="store_true", help="keep the lowest values (default: the highest)")
    select.add_argument(
        "--quality-threshold",
        metavar="X",
        type=_number,
        help="with --by thtb: recompute thtb from its input columns with this quality threshold",
    )

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


def _load_model(path: str, device, flag: str = "--model"):
    if not os.path.isdir(path):
        raise ValueError(f"{flag} should be a local model directory, but {path!r} is not a directory")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device)
    return model, tokenizer


def _score(args: argparse.Namespace) -> None:
    from .scoring import load_rows, save_rows, score_dataset
    from .scoring.processes import process_state

    scorers = list(dict.fromkeys(args.scorer))
    needs_model = [s for s in scorers if s in MODEL_SCORERS]
    if needs_model and args.model is None:
        raise ValueError(f"scorer(s) {needs_model} need --model DIR, a local model directory with its tokenizer")
    needs_judge = [s for s in (JUDGE_SCORERS if "thtb" in scorers else scorers) if s in JUDGE_SCORERS]
    if needs_judge and args.judge_model is None:
        wanted = needs_judge if "thtb" not in scorers else ["thtb"]
        raise ValueError(
            f"scorer(s) {wanted} need --judge-model DIR, a local instruct model directory with its tokenizer"
        )
    templates = dict(args.judge_template)
    unused = sorted(set(templates) - set(needs_judge))
    if unused:
        raise ValueError(f"--judge-template given for {unused}, but no such scorer is asked for (--scorer)")
    cache = None
    if needs_judge and not args.no_judge_cache:
        cache = args.judge_cache or args.output.rstrip("/" + os.sep) + ".judge_cache.jsonl"
    state = process_state()
    try:
        with state.main_process_first():
            dataset = load_rows(args.input)
        model = tokenizer = None
        if args.model is not None:
            model, tokenizer = _load_model(args.model, state.device)
        judge = judge_tokenizer = None
        if needs_judge:
            if args.model is not None and os.path.abspath(args.judge_model) == os.path.abspath(args.model):
                judge, judge_tokenizer = model, tokenizer
            else:
                judge, judge_tokenizer = _load_model(args.judge_model, state.device, "--judge-model")
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
            judge_model=judge,
            judge_tokenizer=judge_tokenizer,
            judge_batch_size=args.judge_batch_size,
            max_new_tokens=args.max_new_tokens,
            judge_cache=cache,
            judge_templates=templates,
            judge_model_id=None if args.judge_model is None else os.path.abspath(args.judge_model),
            quality_threshold=args.quality_threshold,
        )
        if state.is_main_process:
            fmt = save_rows(scored, args.output, like=args.input)
            columns = written_columns(expand(scorers), args.column_prefix)
            print(f"{args.output}: {len(scored)} rows with {', '.join(columns)} ({fmt})")
            for name in needs_judge:
                column = args.column_prefix + name
                missing = sum(1 for v in scored[column] if v is None or v != v)
                print(f"{column}: {missing} of {len(scored)} judge answers did not parse (missing, NaN)")
            if "thtb" in scorers:
                column = args.column_prefix + "thtb"
                kept = sum(1 for v in scored[column] if v is not None and v == v)
                print(f"{column}: {kept} of {len(scored)} rows pass the quality filter (quality >= "
                      f"{args.quality_threshold:g})")
            if cache is not None:
                print(f"judge answers cached in {cache}")
        state.wait_for_everyone()
    finally:
        if state.num_processes > 1:
            state.destroy_process_group()


def _select(args: argparse.Namespace) -> None:
    import numpy as np

    from .scoring import load_rows, save_rows, select_top

    dataset = load_rows(args.input)
    by = args.by
    if by not in dataset.column_names and "score_" + by in dataset.column_names:
        by = "score_" + by
    if args.quality_threshold is not None and by not in ("thtb", "score_thtb"):
        raise ValueError(f"--quality-threshold applies to --by thtb only, but got --by {args.by!r}")
    if by in ("thtb", "score_thtb") and (by not in dataset.column_names or args.quality_threshold is not None):
        from .scoring.thtb import DEFAULT_QUALITY_THRESHOLD, thtb_scores

        inputs = {s: "score_" + s for s in THTB_INPUTS if "score_" + s in dataset.column_names}
        parts = {s: np.array(dataset[c], dtype=np.float64) for s, c in inputs.items() if s != "quality"}
        if not parts:
            raise ValueError(
                f"--by {args.by} needs a score_thtb column or some of the columns "
                f"{['score_' + s for s in THTB_INPUTS if s != 'quality']} (and score_quality for the quality "
                f"filter), but the dataset's columns are {dataset.column_names}; run curriculum score --scorer thtb"
            )
        quality = np.array(dataset[inputs["quality"]], dtype=np.float64) if "quality" in inputs else None
        threshold = DEFAULT_QUALITY_THRESHOLD if args.quality_threshold is None else args.quality_threshold
        by = "score_thtb"
        values = thtb_scores(parts, quality=quality, quality_threshold=threshold)
        if by in dataset.column_names:
            dataset = dataset.remove_columns(by)
        dataset = dataset.add_column(by, [float(v) for v in values])
        print(f"thtb from {', '.join(inputs.values())} (quality threshold {threshold:g})")
    if by == "score_thtb":
        eligible = sum(1 for v in dataset[by] if v is not None and v == v)
        if args.budget > eligible:
            raise ValueError(
                f"--budget {args.budget} exceeds the {eligible} rows that have a thtb score (the others fail the "
                f"quality filter or have no score); pass --budget {eligible} or less"
            )
    selected = select_top(dataset, by, args.budget, lowest=args.lowest)
    fmt = save_rows(selected, args.output, like=args.input)
    which = "lowest" if args.lowest else "highest"
    print(f"{args.output}: the {len(selected)} of {len(dataset)} rows with the {which} {by} ({fmt})")


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
