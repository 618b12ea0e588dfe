"""The `curriculum` command line: `validate` a config, `schema`, `score` and `select` rows, `report` a data map."""

from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, CurriculumConfig, schema_markdown
from .fields import yaml_section
from .cli_report import REPORT_FIELDS
from .scoring.registry import JUDGE_SCORERS, SCORERS

__all__ = ["main"]


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
        + ", ".join("curriculum_" + f for f in REPORT_FIELDS)
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


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader closed the pipe (`curriculum schema | head`): stop quietly, as Unix tools do. Point stdout at
        # /dev/null so that the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "schema":
        print(schema_markdown())
        return 0
    if args.command in ("score", "select", "report"):
        try:
            from . import cli_report, cli_score

            {"score": cli_score.score, "select": cli_score.select, "report": cli_report.report}[args.command](args)
        except (ValueError, OSError, ImportError) as err:
            print(f"curriculum: error: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        config = CurriculumConfig.from_yaml(args.config)
        others = yaml_section(args.config, set(CurriculumConfig.__dataclass_fields__))[1]
    except (ConfigError, OSError) as err:
        print(f"curriculum: error: {err}", file=sys.stderr)
        return 2
    if others:
        print(f"{args.config}: its `curriculum:` section is valid (not checked here: the training keys "
              f"{', '.join(others)})\n---")
    else:
        print(f"{args.config}: valid\n---")
    print(config.to_yaml(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
