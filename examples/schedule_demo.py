"""Schedule demo: a short TRL SFT run on CPU with an easy-to-hard curriculum on clean toy data, and a report of what
it drew by phase (the schedule at work; on clean data it does not beat shuffling)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

from transformers.trainer_callback import PrinterCallback, ProgressCallback  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.callbacks import StreamRecorder  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer  # noqa: E402

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "schedule_demo.yaml"


# ---------------------------------------------------------------------------------------------------- arguments


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="curriculum YAML file (default: %(default)s)")
    parser.add_argument("--max-steps", type=int, default=4000, help="optimizer steps (default: %(default)s)")
    parser.add_argument("--output-dir", default="outputs/schedule_demo", help="Trainer output dir (default: %(default)s)")
    parser.add_argument("--no-curriculum", action="store_true", help="plain run with shuffled data, to compare")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the model and the run")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG of sampled difficulty/level vs the target")
    parser.add_argument("--report-to", default="none", help="comma-separated Trainer integrations (e.g. tensorboard)")
    parser.add_argument("--rows", type=int, default=4000, help="training rows (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32, help="per-device batch size (default: %(default)s)")
    parser.add_argument("--hidden-size", type=int, default=128, help="model width (default: %(default)s)")
    parser.add_argument("--num-layers", type=int, default=2, help="model depth (default: %(default)s)")
    parser.add_argument("--phases", type=int, default=5, help="rows of the report's phase table (default: 5)")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- training


def build_trainer(args: argparse.Namespace, dataset: Any, tokenizer: Any) -> Any:
    """A TRL `SFTTrainer` on prompt/completion data (loss on the completion only) with a tiny Llama."""
    from trl import SFTConfig, SFTTrainer

    report_to = [] if args.report_to in ("", "none") else args.report_to.split(",")
    config = SFTConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=3e-3,
        warmup_steps=min(20, args.max_steps // 10),
        weight_decay=0.0,
        logging_steps=max(1, args.max_steps // 40),
        logging_first_step=True,
        save_strategy="no",
        report_to=report_to,
        seed=args.seed,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        completion_only_loss=True,
        max_length=64,
        disable_tqdm=True,
    )
    model = make_tiny_model(len(tokenizer), hidden_size=args.hidden_size, num_layers=args.num_layers, seed=args.seed)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


# ---------------------------------------------------------------------------------------------------- main


def quiet_libraries() -> None:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_libraries()
    started = time.perf_counter()
    tokenizer = make_tokenizer()
    raw = make_graded_dataset(args.rows, seed=args.seed)
    heldout_raw = make_graded_dataset(500, seed=args.seed + 1000)
    trainer = build_trainer(args, raw, tokenizer)
    trainer.add_callback(report.LinePrinter(args.max_steps))

    handle, recorder = None, None
    if not args.no_curriculum:
        handle = attach(trainer, CurriculumConfig.from_yaml(args.config))  # the one line that adds the curriculum
        recorder = StreamRecorder(handle.sampler)  # keeps the rows each step trained on, for the report
        trainer.add_callback(recorder)

    report.print_intro(args, trainer, raw, handle)
    trainer.train()

    log_history = trainer.state.log_history
    losses = report.logged_losses(log_history)
    print(f"\nTrain loss: {losses[0][1]:.3f} at step {losses[0][0]} -> {losses[-1][1]:.3f} at step {losses[-1][0]}\n")
    if handle is not None and recorder is not None:
        rows = recorder.rows_per_step()
        report.print_phase_table(report.phase_rows(handle, rows, raw, log_history, args.phases))
        print(f"\nScore table: {handle.scores.bytes_per_row} bytes per row, {handle.scores.count.sum()} updates")
    else:
        print("(no phase table: run without --no-curriculum to see what the curriculum draws)")
    heldout = report.heldout_loss(trainer.model, tokenizer, heldout_raw)
    report.print_level_table(handle, raw, heldout_raw, heldout)
    if args.plot and recorder is not None:
        report.plot(args.plot, handle, recorder.rows_per_step(), raw, log_history)
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
