"""Step time and peak memory with and without the curriculum, measured side by side (alternating runs) on CPU."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer, tokenize_for_causal_lm  # noqa: E402

KINDS = ("Trainer", "SFTTrainer")
# The line a memory run prints its result on, as JSON.
MEMORY_MARK = "peak-memory:"


@dataclass(frozen=True)
class Setup:
    """One model/data size. `vocab_size=None` means the toy character tokenizer and graded data of the quickstart."""

    name: str
    vocab_size: int | None
    hidden_size: int
    num_layers: int
    seq_len: int
    batch_size: int
    rows: int


def make_setups(quick: bool) -> list[Setup]:
    if quick:
        return [
            Setup("quickstart tiny", None, 32, 1, 64, 8, 128),
            Setup("vocab 32k (quick)", 32000, 32, 1, 32, 4, 64),
        ]
    return [
        Setup("quickstart tiny", None, 128, 2, 64, 32, 4000),
        Setup("vocab 32k", 32000, 512, 2, 64, 4, 2000),
    ]


# ---------------------------------------------------------------------------------------------------- data


def word_tokenizer(vocab_size: int) -> Any:
    """A local word-level tokenizer with `vocab_size` entries: 4 specials and the words `w4` ... (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    vocab = {tok: i for i, tok in enumerate(specials + [f"w{i}" for i in range(len(specials), vocab_size)])}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


def word_dataset(rows: int, seq_len: int, vocab_size: int, seed: int = 0) -> Any:
    """Prompt/completion rows of random words, `seq_len` tokens in all (with EOS), and a two-valued `task`.

    The prompt ends with a space so that prompt + completion splits into the same words as the two parts.
    """
    from datasets import Dataset

    rng = random.Random(seed)
    half = seq_len // 2

    def words(n: int) -> str:
        return " ".join(f"w{rng.randrange(4, vocab_size)}" for _ in range(n))

    return Dataset.from_list(
        [
            {"prompt": words(half) + " ", "completion": words(seq_len - half - 1), "task": f"t{i % 2}"}
            for i in range(rows)
        ]
    )


def prepare(setup: Setup) -> tuple[Any, Any, Any]:
    """Tokenizer, prompt/completion dataset (for SFTTrainer) and its tokenized form (for Trainer)."""
    if setup.vocab_size is None:
        tokenizer = make_tokenizer()
        raw = make_graded_dataset(setup.rows, seed=0)
    else:
        tokenizer = word_tokenizer(setup.vocab_size)
        raw = word_dataset(setup.rows, setup.seq_len, setup.vocab_size)
    return tokenizer, raw, tokenize_for_causal_lm(raw, tokenizer, max_length=setup.seq_len)


# ---------------------------------------------------------------------------------------------------- trainers


class StepClock(TrainerCallback):
    """Timestamps every `on_step_end`: consecutive differences are full steps (data, forward, backward, optimizer,
    callbacks and logging)."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any):
        self.stamps.append(time.perf_counter())

    def step_times(self, warmup: int) -> list[float]:
        return np.diff(self.stamps)[warmup:].tolist()


def no_activation_checkpointing() -> dict[str, bool]:
    """SFTConfig's switch for activation checkpointing off, under the name of the installed `transformers`."""
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": False}


def common_args(
    setup: Setup, steps: int, output_dir: str, device: str = "cpu", extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """TrainingArguments of one timed run; `extra` adds or overrides (e.g. `bf16`, `use_liger_kernel`)."""
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=setup.batch_size,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=device == "cpu",
        seed=0,
        disable_tqdm=True,
    ) | (extra or {})


def build_trainer(
    kind: str,
    setup: Setup,
    model: Any,
    data: tuple[Any, Any, Any],
    output_dir: str,
    steps: int,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
) -> tuple[Any, StepClock]:
    tokenizer, raw, tokenized = data
    clock = StepClock()
    if kind == "Trainer":
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**common_args(setup, steps, output_dir, device, extra)),
            train_dataset=tokenized,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
            callbacks=[clock],
        )
    else:
        from trl import SFTConfig, SFTTrainer

        args = SFTConfig(
            **({"bf16": False} | common_args(setup, steps, output_dir, device, extra)),
            max_length=setup.seq_len,
            **no_activation_checkpointing(),
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=raw, processing_class=tokenizer, callbacks=[clock])
    trainer.remove_callback(PrinterCallback)  # no log dicts on stdout
    return trainer, clock


def base_model_for(setup: Setup, data: tuple) -> Any:
    """The setup's tiny Llama (random weights, seed 0); every run trains a copy of it."""
    vocab = setup.vocab_size or len(data[0])
    return make_tiny_model(vocab, setup.hidden_size, setup.num_layers, max_positions=max(256, setup.seq_len))


def run_once(
    kind: str,
    setup: Setup,
    base_model: Any,
    data: tuple,
    steps: int,
    warmup: int,
    with_curriculum: bool,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
) -> tuple[list[float], int | None]:
    """Per-step seconds of one fresh `train()` of `steps` steps, and the score table's bytes per row."""
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer, clock = build_trainer(kind, setup, copy.deepcopy(base_model), data, output_dir, steps, device, extra)
        handle = attach(trainer, CurriculumConfig(group_column="task")) if with_curriculum else None
        trainer.train()
    bytes_per_row = handle.scores.bytes_per_row if handle is not None else None
    del trainer
    gc.collect()
    return clock.step_times(warmup), bytes_per_row


def measure(
    kind: str,
    setup: Setup,
    data: tuple,
    reps: int,
    steps: int,
    warmup: int,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Alternate runs without (A) and with (B) the curriculum, ABBA ABBA ..., on identical model copies and data."""
    vocab = setup.vocab_size or len(data[0])
    base_model = base_model_for(setup, data)
    times: dict[bool, list[float]] = {False: [], True: []}
    pair_ratios = []
    bytes_per_row = None
    for rep in range(reps):
        run_medians = {}
        for with_curriculum in (False, True) if rep % 2 == 0 else (True, False):
            step_times, nbytes = run_once(
                kind, setup, base_model, data, steps, warmup, with_curriculum, device, extra
            )
            times[with_curriculum].extend(step_times)
            run_medians[with_curriculum] = statistics.median(step_times)
            bytes_per_row = nbytes or bytes_per_row
        pair_ratios.append(run_medians[True] / run_medians[False])
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    return {
        "setup": f"{setup.name} / {kind}",
        "vocab": vocab,
        "without_ms": 1000 * without,
        "with_ms": 1000 * with_,
        "ratio": with_ / without,
        "bytes_per_row": bytes_per_row,
        "samples": len(times[False]),
        "pair_ratios": pair_ratios,
    }


def reset_peak_rss() -> None:
    """Restart the peak resident set size from the current one (Linux 4.0+; elsewhere the peak stays since start)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def rss_bytes() -> tuple[int, int]:
    """The current and the peak resident set size of this process (the peak since `reset_peak_rss` on Linux, else
    since the start: `ru_maxrss`)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return 0, peak if sys.platform == "darwin" else peak * 1024


def memory_run(setup: Setup, kind: str, with_curriculum: bool, steps: int, device: str) -> dict[str, Any]:
    """One training run in this (fresh) process: the resident memory before it and its peak (the peak counted from
    the start of the run, data and model already built), and on CUDA the peak allocated."""
    data = prepare(setup)
    base_model = base_model_for(setup, data)
    gc.collect()
    reset_peak_rss()
    start = rss_bytes()[0]
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    run_once(kind, setup, base_model, data, steps, 0, with_curriculum, device)
    result = {"start": start, "rss": rss_bytes()[1]}
    if device == "cuda":
        result["cuda"] = torch.cuda.max_memory_allocated()
    return result


def measure_memory(
    index: int, kind: str, reps: int, steps: int, quick: bool, threads: int | None, device: str
) -> dict[str, Any]:
    """Peak memory without (A) and with (B) the curriculum, each run in a fresh process, alternating ABBA ..."""
    peaks: dict[bool, list[dict[str, int]]] = {False: [], True: []}
    for rep in range(reps):
        for with_curriculum in (False, True) if rep % 2 == 0 else (True, False):
            command = [
                sys.executable, "-m", "benchmarks.overhead.step_time", "--memory-run",
                f"{index},{kind},{int(with_curriculum)}", "--memory-steps", str(steps), "--device", device,
            ]  # fmt: skip
            command += ["--quick"] if quick else []
            command += ["--threads", str(threads)] if threads else []
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith(MEMORY_MARK)]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"memory run {command} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            peaks[with_curriculum].append(json.loads(lines[-1][len(MEMORY_MARK) :]))
    key = "cuda" if device == "cuda" else "rss"
    without = statistics.median(p[key] for p in peaks[False])
    with_ = statistics.median(p[key] for p in peaks[True])
    start = statistics.median(p["start"] for p in peaks[False] + peaks[True]) if key == "rss" else 0
    return {
        "memory": key,
        "range_mb": {v: (min(p[key] for p in peaks[v]) / 2**20, max(p[key] for p in peaks[v]) / 2**20) for v in peaks},
        "start_mb": start / 2**20,
        "without_mb": without / 2**20,
        "with_mb": with_ / 2**20,
        "ratio": with_ / without,
        "run_ratio": (with_ - start) / (without - start) if without > start else float("nan"),
    }


# ---------------------------------------------------------------------------------------------------- report


def print_table(results: list[dict[str, Any]]) -> None:
    print("| setup | vocab | ms/step without | ms/step with | ratio |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['setup']} | {r['vocab']} | {r['without_ms']:.1f} | {r['with_ms']:.1f} | {r['ratio']:.3f} |")


def print_memory_table(results: list[dict[str, Any]]) -> None:
    print("| setup | memory | MiB before | peak MiB without | peak MiB with | extra MiB | ratio | run ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        extra = r["with_mb"] - r["without_mb"]
        print(
            f"| {r['setup']} | {r['memory']} | {r['start_mb']:.1f} | {r['without_mb']:.1f} | {r['with_mb']:.1f} | "
            f"{extra:+.1f} | {r['ratio']:.3f} | {r['run_ratio']:.3f} |"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=4, help="ABBA repetitions per setup (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="first step intervals left out (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own default)")
    parser.add_argument(
        "--memory-reps", type=int, default=2, help="ABBA repetitions of the memory runs (default: %(default)s)"
    )
    parser.add_argument(
        "--memory-steps", type=int, default=10, help="optimizer steps per memory run (default: %(default)s)"
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 reps of 8 steps: a smoke test (~1 min)")
    parser.add_argument("--memory-run", help=argparse.SUPPRESS)  # "SETUP,KIND,0|1": one run of measure_memory
    args = parser.parse_args(argv)
    if args.quick and not args.memory_run:
        args.reps, args.steps, args.warmup = 2, 8, 2
        args.memory_reps, args.memory_steps = 1, 4
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda needs a CUDA GPU")
    if args.steps <= args.warmup + 1:
        parser.error("--steps should exceed --warmup + 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_run:
        index, kind, with_curriculum = args.memory_run.split(",")
        setup = make_setups(args.quick)[int(index)]
        peak = memory_run(setup, kind, bool(int(with_curriculum)), args.memory_steps, args.device)
        print(MEMORY_MARK + json.dumps(peak))
        return 0
    print(
        f"# Step time and peak memory with and without the curriculum\n\ntorch {torch.__version__}, "
        f"{args.device.upper()}, {torch.get_num_threads()} "
        f"torch threads ({os.cpu_count()} cores); {args.reps} reps x {args.steps} steps per variant, alternating "
        f"ABBA on fresh trainers with identical model copies and data; first {args.warmup} step(s) of each run left "
        f"out; median of all per-step times (on_step_end to on_step_end).\n",
        flush=True,
    )
    results = []
    for setup in make_setups(args.quick):
        data = prepare(setup)
        for kind in KINDS:
            started = time.perf_counter()
            result = measure(kind, setup, data, args.reps, args.steps, args.warmup, args.device)
            results.append(result)
            print(
                f"- {result['setup']}: {result['without_ms']:.1f} -> {result['with_ms']:.1f} ms/step "
                f"(ratio {result['ratio']:.3f}; per rep {min(result['pair_ratios']):.3f}-"
                f"{max(result['pair_ratios']):.3f}; "
                f"{result['samples']} steps each; {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    memory = []
    setups = make_setups(args.quick)
    for index, setup in enumerate(setups[:1] if args.quick else setups):
        for kind in KINDS[:1] if args.quick else KINDS:
            started = time.perf_counter()
            result = measure_memory(
                index, kind, args.memory_reps, args.memory_steps, args.quick, args.threads, args.device
            )
            memory.append({"setup": f"{setup.name} / {kind}", **result})
            print(
                f"- {setup.name} / {kind}: peak {result['without_mb']:.1f} -> {result['with_mb']:.1f} MiB "
                f"(ratio {result['ratio']:.3f}; runs without {'-'.join(f'{x:.0f}' for x in result['range_mb'][False])}"
                f", with {'-'.join(f'{x:.0f}' for x in result['range_mb'][True])} MiB; "
                f"{time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    print()
    print_table(results)
    nbytes = next((r["bytes_per_row"] for r in results if r["bytes_per_row"]), None)
    print(f"\nScore table: {nbytes} bytes per row (handle.scores.bytes_per_row).")
    print("ratio = median ms/step with / without; target: <= 1.03 at vocab 32k.\n")
    print(
        f"Peak memory: each run in a fresh process, alternating ABBA ({args.memory_reps} rep(s) x "
        f"{args.memory_steps} steps per variant); median. rss = peak resident set size of the process during the "
        "run (VmHWM, reset once data and model are built; `MiB before` = resident then), cuda = "
        "`torch.cuda.max_memory_allocated`.\n"
    )
    print_memory_table(memory)
    print(
        "\nratio = median peak with / without (whole process); run ratio = the same for the memory the run added "
        "(peak - before)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
