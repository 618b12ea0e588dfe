"""GPU checks: step-time ratios with / without the curriculum at ~100M parameters in bf16, Liger's per-row values.

    python -m benchmarks.overhead.gpu --out results/   # needs a CUDA GPU (and liger-kernel for the Liger parts)

1. `liger`: a Trainer with `use_liger_kernel=True` (Liger patches the model; the curriculum stops the forward before
   the LM head and takes per-token losses from Liger's fused kernel with `reduction="none"`): each recorded row's loss
   and confidence against a direct float64 computation from full logits, the logits computed in training (none), and
   the kernel's per-token values and gradients against the chunked PyTorch stand-in that the CPU tests use.
2. `step_time`: a Llama of ~95M parameters (vocab 32k, hidden 768, 12 layers, 512 tokens, batch 16), bf16 autocast,
   for `Trainer`, `SFTTrainer` and `Trainer` with Liger: runs without and with the curriculum alternate (ABBA) on
   copies of one model, and the ratio of median step times is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .step_time import Setup, build_trainer, measure, prepare

__all__ = ["liger_check", "main", "step_time_ratios"]


def _max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def _cuda_ms(fn: Any, iters: int = 20) -> float:
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def kernel_check(tokens: int = 8192, hidden_size: int = 768, vocab: int = 32000) -> dict[str, float]:
    """The fused loss the curriculum uses under Liger (`fused_loss_and_token_nll`: loss and per-token NLL from one
    pass) against the chunked stand-in (values, gradients), and forward + backward times of: Liger's own
    `reduction="mean"` (what Liger trains with), the curriculum's fused pass, and Liger's `reduction="none"`."""
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    from curriculum.fused_head import _liger_token_nll, chunked_token_nll, fused_loss_and_token_nll

    gen = torch.Generator(device="cuda").manual_seed(0)
    hidden = torch.randn(tokens, hidden_size, device="cuda", generator=gen).bfloat16().requires_grad_()
    weight = (torch.randn(vocab, hidden_size, device="cuda", generator=gen) * 0.05).bfloat16().requires_grad_()
    target = torch.randint(0, vocab, (tokens,), device="cuda", generator=gen)
    target[::7] = -100
    divisor = torch.tensor(float((target != -100).sum()), device="cuda")

    loss, nll = fused_loss_and_token_nll(hidden, weight, target, None, None, divisor)
    grads = torch.autograd.grad(loss, (hidden, weight))
    ref_nll = chunked_token_nll(hidden, weight, target)
    ref_grads = torch.autograd.grad(ref_nll.sum() / divisor, (hidden, weight))

    mean_loss = LigerFusedLinearCrossEntropyLoss(ignore_index=-100, reduction="mean")

    def liger_mean():
        torch.autograd.grad(mean_loss(weight, hidden, target), (hidden, weight))

    def curriculum_fused():
        torch.autograd.grad(fused_loss_and_token_nll(hidden, weight, target, None, None, divisor)[0], (hidden, weight))

    def liger_none():
        torch.autograd.grad(_liger_token_nll(hidden, weight, target).sum() / divisor, (hidden, weight))

    return {
        "tokens": tokens,
        "nll_max_abs_diff": float((nll - ref_nll.detach()).abs().max()),
        "loss_rel_diff": float((loss - ref_nll.sum() / divisor).abs() / (ref_nll.sum() / divisor)),
        "grad_hidden_rel_diff": float((grads[0].float() - ref_grads[0].float()).norm() / ref_grads[0].float().norm()),
        "grad_weight_rel_diff": float((grads[1].float() - ref_grads[1].float()).norm() / ref_grads[1].float().norm()),
        "ms_liger_mean": _cuda_ms(liger_mean),
        "ms_curriculum_fused": _cuda_ms(curriculum_fused),
        "ms_liger_none": _cuda_ms(liger_none),
    }


def profile_sft(setup: Setup, data: tuple, steps: int, out: str) -> dict[str, str]:
    """cProfile of one SFTTrainer run without and one with the curriculum (host time by function), to files."""
    import cProfile
    import io
    import pstats

    from .step_time import base_model_for, run_once

    base = base_model_for(setup, data)
    files = {}
    for with_curriculum in (False, True):
        profiler = cProfile.Profile()
        profiler.enable()
        run_once("SFTTrainer", setup, base, data, steps, 5, with_curriculum, "cuda", {"bf16": True})
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
        name = os.path.join(out, f"profile_sft_{'with' if with_curriculum else 'without'}.txt")
        with open(name, "w") as f:
            f.write(text.getvalue())
        files[str(with_curriculum)] = name
    return files


def liger_check() -> dict[str, Any]:
    """Per-row values recorded under `use_liger_kernel=True` against a direct computation (float32 model)."""
    from curriculum import CurriculumConfig, attach

    setup = Setup("liger check", 32000, 256, 2, 128, 8, 64)
    data = prepare(setup)
    tokenized = data[2]
    from .step_time import base_model_for

    model = base_model_for(setup, data)
    with tempfile.TemporaryDirectory() as output_dir:
        trainer, _ = build_trainer(
            "Trainer", setup, model, data, output_dir, 2, "cuda",
            {"use_liger_kernel": True, "learning_rate": 0.0},
        )
        shapes: list[int] = []
        trainer.model.register_forward_hook(
            lambda m, a, out: shapes.append(int(out.logits.shape[1])) if m.training else None
        )
        handle = attach(trainer, CurriculumConfig(group_column="task"))
        trainer.train()
    forward = trainer.model.forward
    patched = getattr(forward, "__func__", forward).__module__  # liger_kernel's lce_forward when Liger patched it
    rows = np.flatnonzero(handle.scores.count > 0)
    model = trainer.model.eval()
    got_loss, got_conf, ref_loss, ref_conf = [], [], [], []
    for row in rows:
        example = tokenized[int(row)]
        ids = torch.tensor([example["input_ids"]], device="cuda")
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()
        target = torch.tensor(example["labels"][1:], device="cuda")
        mask = target != -100
        logp = torch.log_softmax(logits[:-1], dim=-1)[mask].gather(1, target[mask][:, None])[:, 0]
        ref_loss.append(float(-logp.mean()))
        ref_conf.append(float(logp.exp().mean()))
        got_loss.append(float(handle.scores.loss[row]))
        got_conf.append(float(handle.scores.confidence[row]))
    return {
        "model_forward_module": patched,
        "logit_positions_in_training": sorted(set(shapes)),
        "rows_checked": int(rows.size),
        "loss_max_rel_diff": _max_rel(np.array(got_loss), np.array(ref_loss)),
        "confidence_max_rel_diff": _max_rel(np.array(got_conf), np.array(ref_conf)),
    }


STEP_SETUP = Setup("~95M Llama, vocab 32k, 512 tokens, batch 16, bf16", 32000, 768, 12, 512, 16, 2000)


def step_time_ratios(reps: int, steps: int, warmup: int, liger: bool) -> list[dict[str, Any]]:
    setup = STEP_SETUP
    data = prepare(setup)
    variants = [("Trainer", {"bf16": True}), ("SFTTrainer", {"bf16": True})]
    if liger:
        variants.append(("Trainer", {"bf16": True, "use_liger_kernel": True}))
    results = []
    for kind, extra in variants:
        started = time.perf_counter()
        result = measure(kind, setup, data, reps, steps, warmup, "cuda", extra)
        result["variant"] = kind + (" + Liger" if extra.get("use_liger_kernel") else "")
        result["seconds"] = time.perf_counter() - started
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".", help="folder for results.json (default: %(default)s)")
    parser.add_argument("--reps", type=int, default=3, help="ABBA repetitions (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps per run (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="first step intervals left out (default: %(default)s)")
    parser.add_argument(
        "--parts", default="kernel,liger,step_time", help="comma-separated parts (default: %(default)s; also profile)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing measured", file=sys.stderr)
        return 2
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    from curriculum.fused_head import _liger_available

    results: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "liger": _liger_available(),
    }
    parts = args.parts.split(",")
    if "liger" in parts and results["liger"]:
        try:
            results["liger_check"] = liger_check()
        except Exception as err:  # report and go on to the timings
            results["liger_check"] = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(results["liger_check"]), flush=True)
    if "kernel" in parts and results["liger"]:
        results["kernel_check"] = kernel_check()
        print(json.dumps(results["kernel_check"]), flush=True)
    if "profile" in parts:
        results["profile"] = profile_sft(STEP_SETUP, prepare(STEP_SETUP), args.steps, args.out)
    if "step_time" in parts:
        results["step_time"] = step_time_ratios(args.reps, args.steps, args.warmup, results["liger"])
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
