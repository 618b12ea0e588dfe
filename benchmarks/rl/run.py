"""One run of the RL benchmark: the cached supervised warm-up, the pool's initial pass rates, and one GRPO arm."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .mixes import MIXES, Mix, make_heldout, make_pool, make_warmup_rows

__all__ = ["ARMS", "SIZES", "Size", "call_job", "evaluate", "exact_match", "pass_rates", "quiet", "run_arm", "warm_model"]

ARMS = ("uniform", "curriculum", "curriculum_replay", "curriculum_wr")
REPLAY_SHARE = 0.25
# The curriculum's settings per arm (beyond signal="pass_rate", group_column="task"). `curriculum_wr` draws with
# replacement: by default (`replacement=False`) every prompt is drawn once per pass over the pool and the weights only
# choose the rows of a pass the budget leaves unfinished, so a budget of whole passes draws like uniform.
ARM_SETTINGS: dict[str, dict[str, Any]] = {"curriculum": {}, "curriculum_replay": {"replay_share": REPLAY_SHARE},
                                           "curriculum_wr": {"replacement": True}}


@dataclass(frozen=True)
class Size:
    """The benchmark's sizes (chosen on the tuning mix only)."""

    name: str
    hidden_size: int = 128
    num_layers: int = 2
    warmup_steps: int = 600  # supervised warm-up steps (one model per family, seed 0, cached)
    warmup_batch: int = 64
    warmup_lr: float = 2e-3
    pool_per_cell: int = 64  # pool prompts per (task, level) cell
    heldout_per_cell: int = 10  # held-out prompts per cell (160 or 200 per mix)
    num_generations: int = 8
    prompts_per_round: int = 16
    max_completion_length: int = 8
    rounds: int = 128  # uniform's generation rounds: the completion budget is rounds x prompts x generations
    learning_rate: float = 5e-5  # chosen on the tuning mix (uniform, seed 0) among 3e-5, 5e-5, 1e-4, 3e-4, 1e-3
    eval_points: int = 8  # held-out evaluations at equal steps of the budget (plus one before training)
    eval_samples: int = 4  # sampled completions (temperature 1) per held-out prompt for the sampled pass rate
    seeds: tuple[int, ...] = (0, 1, 2)

    @property
    def budget(self) -> int:
        return self.rounds * self.prompts_per_round * self.num_generations

    def warmup_key(self, family: str) -> str:
        fields = ("hidden_size", "num_layers", "warmup_steps", "warmup_batch", "warmup_lr", "heldout_per_cell")
        text = json.dumps({"family": family, **{f: getattr(self, f) for f in fields}}, sort_keys=True)
        return f"{family}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


SIZES = {
    "full": Size("full"),
    "quick": Size("quick", hidden_size=32, num_layers=1, warmup_steps=30, warmup_batch=16, warmup_lr=3e-3,
                  pool_per_cell=4, heldout_per_cell=2, num_generations=4, prompts_per_round=4,
                  max_completion_length=4, rounds=4, learning_rate=1e-3, eval_points=2, seeds=(0,)),
}


def _torch_setup() -> None:
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def exact_match(prompts: list[Any], completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
    """1 where the completion's text up to its EOS, stripped, equals the answer; else 0."""
    return [float(c.strip() == a.strip()) for c, a in zip(completions, answer)]


# ---------------------------------------------------------------------------------------------------- warm-up


def _sft_dataset(rows: list[dict[str, Any]], tok: Any) -> list[dict[str, list[int]]]:
    """Prompt + answer + EOS token ids, with the loss on the answer and EOS only."""
    prompts = tok([r["prompt"] for r in rows])["input_ids"]
    answers = tok([r["answer"] for r in rows])["input_ids"]
    return [{"input_ids": p + a + [tok.eos_token_id], "labels": [-100] * len(p) + a + [tok.eos_token_id]}
            for p, a in zip(prompts, answers)]


def _collate(features: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    n = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros(len(features), n, dtype=torch.long)
    labels = torch.full((len(features), n), -100, dtype=torch.long)
    mask = torch.zeros(len(features), n, dtype=torch.long)
    for i, f in enumerate(features):
        k = len(f["input_ids"])
        ids[i, :k], labels[i, :k], mask[i, :k] = torch.tensor(f["input_ids"]), torch.tensor(f["labels"]), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def warm_model(family: str, size: Size, cache: Path) -> tuple[Path, float]:
    """The family's warm-up model (plain `transformers.Trainer` on prompt + answer + EOS, loss on the answer), trained
    once and cached under `cache` by its settings. Returns its folder and the seconds spent training (0 if cached)."""
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from curriculum.toy import make_tiny_model, make_tokenizer

    _torch_setup()
    folder = Path(cache, "warm", size.warmup_key(family))
    if (folder / "config.json").exists():
        return folder, 0.0
    start = time.perf_counter()
    tok = make_tokenizer()
    model = make_tiny_model(len(tok), hidden_size=size.hidden_size, num_layers=size.num_layers, seed=0)
    rows = make_warmup_rows(family, size.warmup_steps * size.warmup_batch, size.heldout_per_cell)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=size.warmup_batch,
                                 max_steps=size.warmup_steps, learning_rate=size.warmup_lr,
                                 lr_scheduler_type="cosine", warmup_steps=max(1, size.warmup_steps // 20),
                                 weight_decay=0.0, logging_steps=max(1, size.warmup_steps // 10), report_to=[],
                                 save_strategy="no", use_cpu=True, seed=0, disable_tqdm=True,
                                 dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, train_dataset=_sft_dataset(rows, tok), data_collator=_collate)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if folder.exists():  # another process trained the same model meanwhile
        shutil.rmtree(tmp)
    else:
        os.replace(tmp, folder)
    return folder, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------- evaluation


def _generate(model: Any, tok: Any, prompts: list[str], max_new: int, greedy: bool, repeats: int = 1,
              batch: int = 256) -> list[str]:
    """Completions (text up to EOS, special tokens dropped) of each prompt, `repeats` per prompt in order."""
    import torch

    texts = [p for p in prompts for _ in range(repeats)]
    out: list[str] = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            enc = [tok(t)["input_ids"] for t in chunk]
            n = max(map(len, enc))
            ids = torch.tensor([[tok.pad_token_id] * (n - len(e)) + e for e in enc])
            mask = torch.tensor([[0] * (n - len(e)) + [1] * len(e) for e in enc])
            gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=not greedy,
                                 temperature=1.0 if not greedy else None, top_k=None, top_p=None,
                                 pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            for row in gen[:, n:].tolist():
                if tok.eos_token_id in row:
                    row = row[: row.index(tok.eos_token_id)]
                out.append(tok.decode(row, skip_special_tokens=True))
    return out


def evaluate(model: Any, tok: Any, rows: list[dict[str, Any]], max_new: int) -> float:
    """Greedy exact match on `rows`."""
    was_training = model.training
    texts = _generate(model, tok, [r["prompt"] for r in rows], max_new, greedy=True)
    model.train(was_training)
    return float(np.mean(exact_match(None, texts, [r["answer"] for r in rows])))


def pass_rates(model: Any, tok: Any, rows: list[dict[str, Any]], g: int, max_new: int, seed: int = 0) -> np.ndarray:
    """Per row, the share of `g` sampled completions (temperature 1) that are right."""
    import torch

    torch.manual_seed(seed)
    texts = _generate(model, tok, [r["prompt"] for r in rows], max_new, greedy=False, repeats=g)
    right = exact_match(None, texts, [r["answer"] for r in rows for _ in range(g)])
    return np.asarray(right).reshape(len(rows), g).mean(axis=1)


def histogram(p: np.ndarray) -> dict[str, float]:
    return {"zero": float(np.mean(p == 0)), "one": float(np.mean(p == 1)),
            "between": float(np.mean((p > 0) & (p < 1))), "mean": float(np.mean(p))}


def initial_pass_rates(mix: Mix, size: Size, cache: Path) -> dict[str, Any]:
    """The warm model's pass-rate histogram on the mix's pool (G sampled completions per prompt), overall and per
    level, and its greedy held-out exact match; cached next to the warm model."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    folder, _ = warm_model(mix.family, size, cache)
    path = Path(cache, "initial", f"{mix.name}-{size.warmup_key(mix.family)}-{size.pool_per_cell}-{size.num_generations}.json")
    if path.exists():
        return json.loads(path.read_text())
    _torch_setup()
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    pool = make_pool(mix, size.pool_per_cell, size.heldout_per_cell)
    p = pass_rates(model, tok, pool, size.num_generations, size.max_completion_length)
    levels = np.array([r["level"] for r in pool])
    result = {"mix": mix.name, "prompts": len(pool), "g": size.num_generations, **histogram(p),
              "by_level": {str(lv): histogram(p[levels == lv]) for lv in mix.levels},
              "heldout_accuracy": evaluate(model, tok, make_heldout(mix, size.heldout_per_cell),
                                           size.max_completion_length)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


# ---------------------------------------------------------------------------------------------------- GRPO arms


def _log_means(history: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over training of the logged per-round metrics (None where a metric was never logged)."""
    keys = {"zero_advantage_share": "curriculum/zero_advantage_share", "frac_reward_zero_std": "frac_reward_zero_std",
            "reward": "reward", "pass_rate_mean": "curriculum/pass_rate_mean", "replay_share": "curriculum/replay_share"}
    out: dict[str, Any] = {}
    for name, key in keys.items():
        values = [h[key] for h in history if key in h]
        out[name] = float(np.mean(values)) if values else None
        out[f"{name}_n"] = len(values)
    return out


def _trace(history: list[dict[str, Any]], key: str, parts: int = 10) -> list[float | None]:
    """`key`'s mean over each of `parts` consecutive slices of the logged rounds."""
    values = [h[key] for h in history if key in h]
    if not values:
        return []
    return [float(np.mean(c)) if len(c) else None for c in np.array_split(np.asarray(values, dtype=float), parts)]


def run_arm(arm: str, mix_name: str, seed: int, size: Size, cache: Path) -> dict[str, Any]:
    """One GRPO run of `arm` on `mix_name` from the family's warm model, until it has generated the budget's
    completions; held-out greedy exact match at equal completion steps. Returns the results line."""
    import datasets
    import torch
    from transformers import (
        AutoModelForCausalLM,
        PreTrainedTokenizerFast,
        TrainerCallback,
    )
    from trl import GRPOConfig, GRPOTrainer

    from curriculum import CurriculumConfig, attach

    if arm not in ARMS:
        raise ValueError(f"arm should be one of {ARMS}, but got arm={arm!r}")
    _torch_setup()
    mix = MIXES[mix_name]
    folder, _ = warm_model(mix.family, size, cache)
    heldout = make_heldout(mix, size.heldout_per_cell)
    pool = make_pool(mix, size.pool_per_cell, size.heldout_per_cell)
    dataset = datasets.Dataset.from_list(pool)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tok = PreTrainedTokenizerFast.from_pretrained(folder)
    per_round = size.prompts_per_round * size.num_generations
    budget = size.budget
    settings = ARM_SETTINGS.get(arm, {})
    replay = settings.get("replay_share", 0.0)
    # A replaying arm generates fewer completions per round: it may run more rounds, and stops at the same budget.
    max_steps = size.rounds if replay == 0 else math.ceil(size.rounds / (1 - replay)) + 4
    with tempfile.TemporaryDirectory() as out:
        args = GRPOConfig(
            output_dir=out, per_device_train_batch_size=per_round, gradient_accumulation_steps=1,
            num_generations=size.num_generations, max_completion_length=size.max_completion_length,
            max_steps=max_steps, learning_rate=size.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
            beta=0.0, temperature=1.0, use_cpu=True, report_to=[], save_strategy="no", logging_steps=1, seed=seed,
            disable_tqdm=True, dataloader_num_workers=0,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=exact_match, args=args, train_dataset=dataset,
                              processing_class=tok)
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        for quiet in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(quiet)
        handle = None
        if arm != "uniform":
            handle = attach(trainer, CurriculumConfig(signal="pass_rate", group_column="task", **settings))

        def generated(state: Any) -> int:
            if handle is not None:
                return int(handle.curriculum.rollouts.completions)
            return state.global_step * per_round  # plain GRPO: one generation round per optimizer step

        curve: list[dict[str, float]] = []
        timing = {"eval_s": 0.0}
        thresholds = [round(budget * k / size.eval_points) for k in range(1, size.eval_points + 1)]

        def record(completions: int, target: int, state: Any) -> None:
            t = time.perf_counter()
            acc = evaluate(trainer.model, tok, heldout, size.max_completion_length)
            was_training = trainer.model.training
            with torch.random.fork_rng():  # leave the training's random stream as it was
                sampled = float(pass_rates(trainer.model, tok, heldout, size.eval_samples, size.max_completion_length,
                                           seed=1000 + target).mean())
            trainer.model.train(was_training)
            timing["eval_s"] += time.perf_counter() - t
            curve.append({"target": target, "completions": completions, "round": state.global_step, "accuracy": acc,
                          "sampled_pass_rate": sampled})

        class HeldOut(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                record(0, 0, state)

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                done = generated(state)
                while thresholds and done >= thresholds[0]:
                    record(done, thresholds.pop(0), state)
                if done >= budget:
                    control.should_training_stop = True

        trainer.add_callback(HeldOut())
        start = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - start
        history = trainer.state.log_history
        replayed = int(handle.curriculum.rollouts.replayed) if handle is not None else 0
        result = {
            "arm": arm, "mix": mix_name, "role": mix.role, "family": mix.family, "seed": seed, "size": size.name,
            "config": dataclasses.asdict(size) | {"replay_share": replay, "curriculum": settings, "max_steps": max_steps,
                                                  "generation_batch_size": per_round},
            "curve": curve, "rounds": trainer.state.global_step, "completions": generated(trainer.state),
            "replayed": replayed, "budget": budget,
            "logs": _log_means(history) | {
                "zero_advantage_trace": _trace(history, "curriculum/zero_advantage_share"),
                "frac_reward_zero_std_trace": _trace(history, "frac_reward_zero_std"),
                "reward_trace": _trace(history, "reward")},
            "timings": {"train_s": wall, "eval_s": timing["eval_s"], "train_without_eval_s": wall - timing["eval_s"]},
            "torch_threads": torch.get_num_threads(),
        }
    return result


# ---------------------------------------------------------------------------------------------------- workers


def quiet() -> None:
    import logging
    import warnings

    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("torch.distributed").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def call_job(job: tuple[str, tuple[Any, ...]]) -> Any:
    quiet()
    name, args = job
    if name == "warm":
        return (args[0], *warm_model(*args))
    return {"initial": initial_pass_rates, "run": run_arm}[name](*args)
