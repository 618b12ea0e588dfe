"""Fine-tune a causal LM with TRL's SFTTrainer and the curriculum; runs alone, under torchrun or accelerate launch.

Arguments are this script's own (below) plus every `trl.SFTConfig` / `TrainingArguments` flag, parsed by
`trl.TrlParser`: on the command line, or in a YAML file (`--config FILE`, or the file as first argument) whose keys
are those flags and whose optional `curriculum:` mapping holds the curriculum's settings. Flags override the file.

    python examples/train.py examples/train_tiny.yaml
    python examples/train.py --output_dir out --max_steps 200 --curriculum_config examples/configs/quickstart.yaml
    accelerate launch --config_file examples/accelerate/deepspeed_zero3.yaml examples/train.py \\
        --model_name_or_path /models/my-llm --dataset_path data/train.jsonl --output_dir out --bf16 true

Without `--model_name_or_path` it builds the embedded tiny Llama from a config (sizes below) with a local
character tokenizer; without `--dataset_path` it trains on a generated graded dataset.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from trl import SFTConfig, SFTTrainer, TrlParser  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer  # noqa: E402


@dataclass
class ScriptArguments:
    """Model, data and curriculum of the run."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Local model directory (from_pretrained). Default: the embedded tiny Llama."}
    )
    dataset_path: str | None = field(
        default=None,
        metadata={
            "help": "`datasets` directory (save_to_disk), or a .jsonl/.json/.parquet file, with prompt/completion, "
            "messages or text columns. Default: a generated graded dataset."
        },
    )
    curriculum_config: str | None = field(default=None, metadata={"help": "Curriculum YAML file (default settings)."})
    # Set from the config file's `curriculum:` mapping (a dict default, which argparse leaves as it is), so that
    # TrlParser consumes the key and SFTConfig never sees it.
    curriculum: dict[str, Any] | None = field(
        default=None, metadata={"help": "Curriculum settings (in the YAML file only: its `curriculum:` mapping)."}
    )
    no_curriculum: bool = field(default=False, metadata={"help": "Train without the curriculum, to compare."})
    generated_rows: int = field(default=4000, metadata={"help": "Rows of the generated dataset."})
    tiny_hidden_size: int = field(default=128, metadata={"help": "Hidden size of the embedded model."})
    tiny_num_layers: int = field(default=2, metadata={"help": "Layers of the embedded model."})
    tiny_num_heads: int = field(default=4, metadata={"help": "Attention heads of the embedded model."})
    tiny_vocab_size: int | None = field(
        default=None, metadata={"help": "Vocabulary of the embedded model (default: the tokenizer's size)."}
    )
    scores_file: str = field(
        default="curriculum_scores.npz", metadata={"help": "Final score table, written into output_dir."}
    )


def parse(argv: list[str]) -> tuple[ScriptArguments, SFTConfig, CurriculumConfig | None]:
    if argv and argv[0].endswith((".yaml", ".yml")):
        argv = ["--config", *argv]
    script, training = TrlParser((ScriptArguments, SFTConfig)).parse_args_and_config(argv)
    if script.curriculum is not None and script.curriculum_config:
        raise ValueError("give the curriculum either as a `curriculum:` mapping or as `curriculum_config`, not both")
    if script.curriculum is not None:
        curriculum = CurriculumConfig.from_dict(script.curriculum)
    elif script.curriculum_config:
        curriculum = CurriculumConfig.from_yaml(script.curriculum_config)
    else:
        curriculum = CurriculumConfig()
    return script, training, None if script.no_curriculum else curriculum


def load_model(script: ScriptArguments) -> tuple[Any, Any]:
    if script.model_name_or_path is None:
        tokenizer = make_tokenizer()
        vocab = script.tiny_vocab_size or len(tokenizer)
        model = make_tiny_model(
            vocab, script.tiny_hidden_size, script.tiny_num_layers, script.tiny_num_heads, max_positions=512
        )
        return model, tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(script.model_name_or_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(script.model_name_or_path), tokenizer


def load_data(script: ScriptArguments, seed: int) -> Any:
    if script.dataset_path is None:
        return make_graded_dataset(script.generated_rows, seed=seed)
    from datasets import load_dataset, load_from_disk

    path = script.dataset_path
    if not os.path.exists(path):
        raise FileNotFoundError(f"dataset_path={path!r} does not exist; give a datasets directory or a "
                                ".jsonl/.json/.parquet file")
    if os.path.isdir(path):
        dataset = load_from_disk(path)
    elif path.endswith((".jsonl", ".json")):
        dataset = load_dataset("json", data_files=path, split="train")
    elif path.endswith(".parquet"):
        dataset = load_dataset("parquet", data_files=path, split="train")
    else:
        raise ValueError(f"dataset_path={path!r} should be a datasets directory or a .jsonl/.json/.parquet file")
    if hasattr(dataset, "keys") and "train" in dataset:
        dataset = dataset["train"]
    supported = [{"prompt", "completion"}, {"messages"}, {"text"}]
    if not any(cols <= set(dataset.column_names) for cols in supported):
        raise ValueError(
            f"dataset_path={path!r} has columns {dataset.column_names}; SFT needs `prompt` and `completion`, "
            "`messages`, or `text`"
        )
    return dataset


def main(argv: list[str] | None = None) -> int:
    try:  # the set-up: a wrong path or setting is one line on stderr, as the `curriculum` CLI prints it
        script, training, curriculum = parse(sys.argv[1:] if argv is None else argv)
        model, tokenizer = load_model(script)
        dataset = load_data(script, training.seed)
        trainer = SFTTrainer(model=model, args=training, train_dataset=dataset, processing_class=tokenizer)
        handle = attach(trainer, curriculum) if curriculum is not None else None
    except (ValueError, OSError) as err:  # ConfigError is a ValueError
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    result = trainer.train(resume_from_checkpoint=training.resume_from_checkpoint)

    if trainer.is_world_process_zero():
        print(f"train_loss={result.training_loss:.4f} steps={result.global_step}")
        if handle is not None:
            scores, target = handle.scores, handle.curriculum.target(handle.curriculum.position(result.global_step))
            path = os.path.join(training.output_dir, script.scores_file)
            np.savez(path, loss=scores.loss, confidence=scores.confidence, count=scores.count)
            print(
                f"curriculum: {int(scores.count.sum())} row updates, coverage {scores.coverage:.0%}, "
                f"final target {target:.2f}; score table written to {path}"
            )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Tear the process group down explicitly: DeepSpeed runs otherwise sometimes abort at exit.
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
