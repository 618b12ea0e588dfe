"""The `curriculum` command line: `validate` a YAML config, print the `schema`, `score` and `select` dataset rows."""

from __future__ import annotations

import argparse
import os
import sys

from .config import ConfigError, CurriculumConfig, schema_markdown

__all__ = ["main"]

# Kept in step with curriculum.scoring.SCORERS (not imported here: it loads torch, and `validate` starts fast).
_SCORERS = ("length", "cluster", "loss", "confidence", "miwv")
_MODEL_SCORERS = ("loss", "confidence", "miwv")


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
        "(1 - silhouette) / 2 of the row's TF-IDF vector in a k-means clustering; loss / confidence: mean NLL / "
        "probability of the completion tokens under --model; miwv: one-shot minus zero-shot loss, the demonstration "
        "being the row with the most similar prompt. Repeat for several scores.",
    )
    score.add_argument("--model", metavar="DIR", help="local model directory (with its tokenizer) for model scorers")
    score.add_argument(
        "--embedding-model", metavar="DIR", help="local sentence-embedding model: MIWV neighbours by its embeddings"
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    if args.command == "schema":
        print(schema_markdown())
        return 0
    if args.command in ("score", "select"):
        try:
            (_score if args.command == "score" else _select)(args)
        except (ValueError, OSError) as err:
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
