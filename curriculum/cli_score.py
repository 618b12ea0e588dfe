"""`curriculum score` and `curriculum select`: offline hardness columns, and the rows with the highest values."""

from __future__ import annotations

import argparse
import os

from .scoring.registry import JUDGE_SCORERS, MODEL_SCORERS, THTB_INPUTS, expand, written_columns

__all__ = ["score", "select"]


def _load_model(path: str, device, flag: str = "--model"):
    if not os.path.isdir(path):
        raise ValueError(f"{flag} should be a local model directory, but {path!r} is not a directory")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="auto").to(device)
    return model, tokenizer


def score(args: argparse.Namespace) -> None:
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


def select(args: argparse.Namespace) -> None:
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
