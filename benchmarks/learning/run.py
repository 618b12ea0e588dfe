"""One run of the learning benchmark: warm-up model, pool, strategy, SFT training with a real `SFTTrainer`, metrics."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from curriculum import CurriculumConfig, attach  # noqa: E402
from curriculum.callbacks import StreamRecorder  # noqa: E402
from curriculum.toy import make_tiny_model, make_tokenizer  # noqa: E402

from .evaluate import completion_loss, exact_match  # noqa: E402
from .pools import POOLS  # noqa: E402
from .testbed import (  # noqa: E402
    FAMILIES,
    TRAIN_LEVELS,
    UNLEARNABLE_TASK,
    Pathologies,
    make_base_rows,
    make_pool,
    make_splits,
    make_warmup,
)

__all__ = ["SIZES", "STRATEGIES", "Bench", "Size", "Strategy", "run_one"]


@dataclass(frozen=True)
class Size:
    """How big the benchmark is: pool, budgets (training examples), seeds, model and evaluation sizes."""

    name: str
    pool_rows: int
    budgets: tuple[int, ...]
    seeds: tuple[int, ...]
    batch_size: int = 32
    hidden_size: int = 128
    num_layers: int = 3
    warmup_steps: int = 300
    learning_rate: float = 1e-3
    test_per_cell: int = 40
    refresh_every_steps: int = 10

    def steps(self, budget: int) -> int:
        """Optimizer steps that spend `budget` training examples (at least one)."""
        return max(1, budget // self.batch_size)

    def examples(self, budget: int) -> int:
        """The examples actually trained on for `budget`: whole batches."""
        return self.steps(budget) * self.batch_size


SIZES = {
    "tiny": Size("tiny", pool_rows=400, budgets=(64, 128, 256), seeds=(0,), batch_size=16, hidden_size=32,
                 num_layers=1, warmup_steps=4, test_per_cell=2, refresh_every_steps=2),
    "small": Size("small", pool_rows=6000, budgets=(8000, 16000, 32000), seeds=(0, 1, 2)),
    # The small size's pools, budgets and seeds with a wider and deeper model: 2,643,968 parameters against small's
    # 502,528 (5.3x; measured on `curriculum.toy.make_tiny_model`, vocabulary 79, tied embeddings).
    "medium": Size("medium", pool_rows=6000, budgets=(8000, 16000, 32000), seeds=(0, 1, 2), hidden_size=256,
                   num_layers=4),
    "large": Size("large", pool_rows=60000, budgets=(32000, 64000, 128000), seeds=(0, 1, 2), batch_size=64,
                  hidden_size=256, num_layers=6, warmup_steps=1000, learning_rate=1e-3, test_per_cell=100),
}


@dataclass(frozen=True)
class Strategy:
    """A way to spend the budget. `levels`: train uniformly on the rows of these true levels only; `offline`: on the
    hardest half of the pool by the warm-up model's loss (`curriculum.scoring`, as `curriculum score --scorer loss`
    and `curriculum select`); `ordered`: the budget's rows drawn uniformly, then trained easiest level first;
    `curriculum`: the online curriculum with these settings (over `ONLINE_BASE`); `thtb`: THTB scores
    (`benchmarks/learning/thtb.py`; `"judge"`: quality filter and both halves, the intrinsic one from a noise judge;
    `"extrinsic"`: length and cluster hardness only), as the hardest half of the pool without `curriculum`, as the
    curriculum's `prior_column` with it."""

    name: str
    label: str
    levels: tuple[int, ...] | None = None
    offline: bool = False
    ordered: bool = False
    curriculum: dict[str, Any] | None = None
    pool: str = "pathological"
    thtb: str | None = None

    def __post_init__(self) -> None:
        if self.pool not in POOLS:
            raise ValueError(f"pool should be one of {list(POOLS)}, but got pool={self.pool!r}")


ONLINE_BASE: dict[str, Any] = {"group_column": "task"}
# The defaults before the protocol's tuning screen: copies counted by content, no task shares, kernel width 0.15.
PREVIOUS: dict[str, Any] = {"duplicate_key": "content", "task_balance": False, "width": 0.15}
# RHO-LOSS's reference model: the warm-up model trained on this many examples of a clean holdout of this many rows.
REFERENCE_ROWS, REFERENCE_EXAMPLES = 2000, 8000
# Clusters of the `cluster_id` column that stands in for a task column (five: the four tasks and `hash`).
CLUSTERS = 5
# The column of the THTB strategies' prior.
THTB_PRIOR = "thtb_prior"
# A base model (`Pathologies.base`) is trained this many times the generic warm-up's steps on its family's levels 1-2.
BASE_STEPS_FACTOR = 2

STRATEGIES = {
    s.name: s
    for s in (
        Strategy("uniform", "uniform (Trainer default)"),
        Strategy("easy_only", "static easy-only (levels 1-2)", levels=(1, 2)),
        Strategy("hard_only", "static hard-only (levels 3-4)", levels=(3, 4)),
        Strategy("offline", "offline selection (hardest half by loss)", offline=True),
        Strategy("ordered", "fixed easy-to-hard ordering", ordered=True),
        Strategy("online_first", "online, first defaults (0.2 -> 0.8, no sharing)",
                 curriculum={**PREVIOUS, "start": 0.2, "end": 0.8, "share_scores": "none"}),
        Strategy("online", "online (defaults)", curriculum={}),
        # The defaults of the second round (until issue 19), whose recorded results the protocol keeps: score sharing
        # by prompt, with replacement (task shares then by loss drops between visits, which no longer exist).
        Strategy("online_round2", "online, round-2 defaults (sharing by prompt, with replacement)",
                 curriculum={"share_scores": "duplicates", "replacement": True}),
        Strategy("online_previous", "online, previous defaults (copies by content, no task shares, width 0.15)",
                 curriculum=PREVIOUS),
        # The optional signals, each on top of the defaults.
        Strategy("online_replay", "online + replay", curriculum={"replay_share": 0.25}),
        Strategy("online_balance", "online, task shares by inverse confidence", curriculum={"task_signal": "confidence"}),
        Strategy("online_learnability", "online, learnability signal", curriculum={"signal": "learnability"}),
        Strategy("online_mixture", "online + noise mixture filter", curriculum={"noise_filter": "mixture"}),
        Strategy("online_rho", "online, RHO-LOSS (reference model on a clean holdout)",
                 curriculum={"signal": "rho", "reference_column": "reference_loss"}),
        Strategy("online_clusters", "online, TF-IDF clusters as groups (no task column)",
                 curriculum={"group_column": "cluster_id"}),
        # Candidates against the largest-budget shortfall on clean pools, each a change of the defaults (tuning pools).
        Strategy("online_mix25", "online, uniform mix 0.25", curriculum={"uniform_mix": 0.25}),
        Strategy("online_gamma05", "online, progress shares tempered (gamma 0.5)", curriculum={"task_gamma": 0.5}),
        Strategy("online_width40", "online, kernel width 0.4", curriculum={"width": 0.4}),
        Strategy("online_revisit1", "online, revisit penalty 1", curriculum={"revisit_penalty": 1.0}),
        Strategy("online_revisit3", "online, revisit penalty 3", curriculum={"revisit_penalty": 3.0}),
        # The tuning screen (issue 10), on the tuning pools, each a change of the previous defaults.
        *(
            Strategy(name, f"online, previous defaults + {label}", curriculum={**PREVIOUS, **change})
            for name, label, change in (
                ("online_alpha0", "alpha 0", {"duplicate_alpha": 0.0}),
                ("online_alpha05", "alpha 0.5", {"duplicate_alpha": 0.5}),
                ("online_alpha0_mixture", "alpha 0 + noise mixture", {"duplicate_alpha": 0.0, "noise_filter": "mixture"}),
                ("online_alpha0_progress", "alpha 0 + progress shares",
                 {"duplicate_alpha": 0.0, "task_balance": True, "task_signal": "progress"}),
                ("online_alpha05_progress", "alpha 0.5 + progress shares",
                 {"duplicate_alpha": 0.5, "task_balance": True, "task_signal": "progress"}),
                ("online_alpha05_mixture", "alpha 0.5 + noise mixture", {"duplicate_alpha": 0.5, "noise_filter": "mixture"}),
                ("online_alpha05_middle", "alpha 0.5, target 0.3 -> 0.5", {"duplicate_alpha": 0.5, "end": 0.5}),
                ("online_alpha05_rho", "alpha 0.5, RHO-LOSS",
                 {"duplicate_alpha": 0.5, "signal": "rho", "reference_column": "reference_loss"}),
                ("online_prompt", "copies by prompt", {"duplicate_key": "prompt"}),
                ("online_prompt_mixture", "copies by prompt + noise mixture",
                 {"duplicate_key": "prompt", "noise_filter": "mixture"}),
                ("online_prompt_progress", "copies by prompt + progress shares",
                 {"duplicate_key": "prompt", "task_balance": True, "task_signal": "progress"}),
                ("online_prompt_wide", "copies by prompt, width 0.25", {"duplicate_key": "prompt", "width": 0.25}),
                ("online_prompt_progress_wide", "copies by prompt + progress shares, width 0.25 (= the defaults)",
                 {"duplicate_key": "prompt", "task_balance": None, "task_signal": "progress", "width": 0.25}),
            )
        ),
        # Issue 19's screen on the tuning pools: the safe candidates (score sharing off), with and without
        # replacement, with and without task shares, and the first-visit noise filter.
        # (All without replacement ordered every pass by the weights: `pass_order: shuffled` came after this screen.)
        Strategy("safe_wr", "online, no sharing, with replacement", curriculum={"share_scores": "none"}),
        Strategy("safe_wor", "online, no sharing, without replacement, passes ordered by the weights",
                 curriculum={"share_scores": "none", "replacement": False, "pass_order": "weighted"}),
        Strategy("safe_wor_nobal", "online, no sharing, without replacement (weighted order), no task shares",
                 curriculum={"share_scores": "none", "replacement": False, "pass_order": "weighted",
                             "task_balance": False}),
        Strategy("dup_wor", "online, copies weighted by prompt, without replacement (weighted order)",
                 curriculum={"share_scores": "duplicates", "replacement": False, "pass_order": "weighted"}),
        Strategy("safe_wor_noise1", "online, no sharing, without replacement (weighted order), first-visit noise filter",
                 curriculum={"share_scores": "none", "replacement": False, "pass_order": "weighted",
                             "noise_filter": "mixture", "noise_signal": "first_loss"}),
        # Issue 19, the noise filter on the defaults with each signal (every run also measures every signal's
        # detection: `noise_detection_by_signal`).
        Strategy("online_noise_loss", "online + noise filter (running loss)", curriculum={"noise_filter": "mixture"}),
        Strategy("online_noise_first", "online + noise filter (first-visit loss)",
                 curriculum={"noise_filter": "mixture", "noise_signal": "first_loss"}),
        Strategy("online_noise_gap", "online + noise filter (loss minus -log confidence)",
                 curriculum={"noise_filter": "mixture", "noise_signal": "gap"}),
        Strategy("clean_uniform", "uniform, clean pool", pool="clean"),
        Strategy("clean_online", "online (defaults), clean pool", curriculum={}, pool="clean"),
        # Budget vs difficulty band: the rows of one level of the pool (`clean` unless `--pools` names others).
        *(Strategy(f"band{lv}", f"level {lv} only", levels=(lv,), pool="clean") for lv in TRAIN_LEVELS),
        # THTB (issue 13): static selection and curriculum prior; the judge is a noise stand-in (see thtb.py).
        Strategy("thtb_static", "static THTB selection (hardest half; noise judge: filter + intrinsic, extrinsic)",
                 thtb="judge"),
        Strategy("thtb_extrinsic_static", "static THTB selection, extrinsic half only (hardest half)",
                 thtb="extrinsic"),
        Strategy("online_thtb_prior", "online (defaults), THTB prior (noise judge)",
                 curriculum={"prior_column": THTB_PRIOR}, thtb="judge"),
        Strategy("online_thtb_extrinsic_prior", "online (defaults), THTB prior, extrinsic half only",
                 curriculum={"prior_column": THTB_PRIOR}, thtb="extrinsic"),
    )
}


# ---------------------------------------------------------------------------------------------------- data


def tokenize_rows(rows: list[dict[str, Any]], tokenizer: Any) -> Any:
    """A processed SFT dataset (`input_ids`, `completion_mask`: loss on the completion and EOS only) keeping the
    rows' `task`, `level` and `noisy` columns."""
    from datasets import Dataset

    records = []
    for r in rows:
        prompt = tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]
        completion = tokenizer(r["completion"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        records.append(
            {
                "input_ids": prompt + completion,
                "completion_mask": [0] * len(prompt) + [1] * len(completion),
                **{k: r[k] for k in ("prompt", "completion", "task", "level", "noisy") if k in r},
            }
        )
    return Dataset.from_list(records)


def sft_config(size: Size, output_dir: str, max_steps: int, seed: int, **overrides: Any) -> Any:
    from trl import SFTConfig

    values = dict(
        output_dir=output_dir,
        max_steps=max_steps,
        per_device_train_batch_size=size.batch_size,
        learning_rate=size.learning_rate,
        warmup_steps=max(1, max_steps // 20),
        weight_decay=0.0,
        logging_steps=max(1, max_steps // 20),
        save_strategy="no",
        report_to=[],
        seed=seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        activation_checkpointing=False,
        completion_only_loss=True,
        max_length=64,
        disable_tqdm=not PROGRESS["show"],
        dataloader_num_workers=0,
    )
    values.update(overrides)
    return SFTConfig(**values)


# Whether training and evaluation show progress bars (the quickstart, which a person watches; not the benchmark's
# parallel workers).
PROGRESS = {"show": False}


def show_progress(on: bool = True) -> None:
    """Show (or hide) the Trainer's progress bar and one for each evaluation pass."""
    PROGRESS["show"] = on


def _quiet(trainer: Any) -> None:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    if not PROGRESS["show"]:
        trainer.remove_callback(ProgressCallback)


@dataclass
class Bench:
    """Everything shared by the runs of one seed: tokenizer, splits and warm-up weights (per task family), pools,
    offline scores. `test`, `extrapolation` and `warm_state` are the `arith` family's splits and the generic warm-up
    weights; [`splits`] and [`warm`] give those of any family and base knowledge."""

    size: Size
    seed: int
    workdir: str
    tokenizer: Any = None
    test: list[dict[str, Any]] = field(default_factory=list)
    extrapolation: list[dict[str, Any]] = field(default_factory=list)
    pools: dict[str, Any] = field(default_factory=dict)
    warm_state: dict[str, torch.Tensor] | None = None
    offline_rows: dict[str, np.ndarray] = field(default_factory=dict)
    clusters: dict[str, list[int]] = field(default_factory=dict)
    reference_states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    reference_losses: dict[str, np.ndarray] = field(default_factory=dict)
    thtb_values: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    family_splits: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=dict)
    base_states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def prepare(self, warm_up: bool = True) -> Bench:
        self.tokenizer = make_tokenizer()
        self.test, self.extrapolation = self.splits("arith")
        if warm_up:
            self.warm_state = self._warm_up()
        return self

    def splits(self, family: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The test and extrapolation splits of `family` (see `testbed.make_splits`)."""
        if family not in self.family_splits:
            self.family_splits[family] = make_splits(self.size.test_per_cell, seed=self.seed, family=family)
        return self.family_splits[family]

    def _held_out(self, family: str) -> set[str]:
        test, extrapolation = self.splits(family)
        return {r["prompt"] for r in test + extrapolation}

    def pool(self, name: str) -> Any:
        """The tokenized training pool `name` of [`POOLS`], built on first use; no prompt of its family's test splits
        is in it."""
        if name not in self.pools:
            spec = POOLS[name]
            exclude = self._held_out(spec.pathologies.family)
            rows = make_pool(spec.rows(self.size.pool_rows), spec.pathologies, exclude, seed=self.seed)
            self.pools[name] = tokenize_rows(rows, self.tokenizer)
        return self.pools[name]

    def _cache(self, name: str) -> str:
        return os.path.join(self.workdir, f"warm-{self.size.name}-{self.seed}{name}.pt")

    def _cached(self, name: str, compute: Any) -> dict[str, torch.Tensor]:
        """Weights cached on disk in the workdir (shared by the worker processes): loaded, or computed and saved."""
        path = self._cache(name)
        if os.path.exists(path):
            return torch.load(path)
        state = compute()
        tmp = f"{path}.{os.getpid()}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)
        return state

    def warm(self, family: str = "arith", base: bool = False) -> dict[str, torch.Tensor]:
        """The weights a run starts from: the generic warm-up, and with `base` the base model of `family` on top."""
        if self.warm_state is None:
            self.warm_state = self._cached("", self._warm_up)
        if not base:
            return self.warm_state
        if family not in self.base_states:
            self.base_states[family] = self._cached(f"-base-{family}", lambda: self._base_up(family))
        return self.base_states[family]

    def model(self, family: str = "arith", base: bool = False) -> Any:
        """A fresh model with the warm weights of [`warm`] (none loaded before `prepare` or `warm` was called, unless
        `base`)."""
        model = make_tiny_model(
            len(self.tokenizer), hidden_size=self.size.hidden_size, num_layers=self.size.num_layers, seed=self.seed
        )
        state = self.warm(family, True) if base else self.warm_state
        if state is not None:
            model.load_state_dict(state)
        return model

    def model_for(self, pool: str) -> Any:
        """A fresh model with the warm weights a run on `pool` starts from (its family's base model if it has one)."""
        spec = POOLS[pool].pathologies
        if self.warm_state is None:
            self.warm()
        return self.model(spec.family, spec.base)

    def _train(self, model: Any, rows: list[dict[str, Any]], steps: int, name: str) -> dict[str, torch.Tensor]:
        from trl import SFTTrainer

        data = tokenize_rows(rows, self.tokenizer)
        args = sft_config(self.size, os.path.join(self.workdir, name), steps, self.seed)
        trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=self.tokenizer)
        _quiet(trainer)
        trainer.train()
        return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def _warm_up(self) -> dict[str, torch.Tensor]:
        """Generic warm-up: `size.warmup_steps` steps on copy rows, which teach the format and EOS, not the tasks."""
        steps = self.size.warmup_steps
        return self._train(self.model(), make_warmup(steps * self.size.batch_size, seed=self.seed), steps, "warmup")

    def _base_up(self, family: str) -> dict[str, torch.Tensor]:
        """The base model of `family`: the generic warm-up weights, then `BASE_STEPS_FACTOR x size.warmup_steps` steps
        on clean rows of levels 1-2 of every learnable task of the family (`testbed.make_base_rows`, none in the
        test splits): a stand-in for a pretrained model that already knows part of the task distribution."""
        steps = BASE_STEPS_FACTOR * self.size.warmup_steps
        rows = make_base_rows(steps * self.size.batch_size, family, self._held_out(family), seed=self.seed)
        return self._train(self.model(), rows, steps, f"base-{family}")

    def cluster_ids(self, pool: str) -> list[int]:
        """Each row's TF-IDF k-means cluster (`curriculum score --scorer cluster` writes it as `cluster_id`), with as
        many clusters as tasks: the groups a user without a task column would have."""
        if pool not in self.clusters:
            from curriculum.scoring import score_dataset

            data = self.pool(pool).select_columns(["prompt", "completion"])
            scored = score_dataset(data, "cluster", clusters=CLUSTERS, seed=self.seed, progress=False)
            self.clusters[pool] = list(scored["cluster_id"])
        return self.clusters[pool]

    def reference_loss(self, pool: str) -> np.ndarray:
        """RHO-LOSS's reference: each row's completion loss (as `curriculum score --scorer loss --model REF` writes
        it) under a reference model, the model a run on `pool` starts from trained on a small clean holdout of the
        pool's task family (rows of their own, none in the prompt space of the test splits) for `REFERENCE_EXAMPLES`
        examples."""
        from curriculum.scoring import score_dataset

        spec = POOLS[pool].pathologies
        key = f"{spec.family}-base" if spec.base else spec.family
        if key not in self.reference_states:
            holdout = make_pool(REFERENCE_ROWS, Pathologies.clean(spec.family), self._held_out(spec.family),
                                seed=10_000 + self.seed)
            steps = self.size.steps(REFERENCE_EXAMPLES)
            self.reference_states[key] = self._train(self.model_for(pool), holdout, steps, f"reference-{key}")
        if pool not in self.reference_losses:
            model = self.model_for(pool)
            model.load_state_dict(self.reference_states[key])
            data = self.pool(pool).select_columns(["prompt", "completion"])
            scored = score_dataset(data, "loss", model, self.tokenizer, batch_size=256, progress=False)
            self.reference_losses[pool] = np.asarray(scored["score_loss"], dtype=np.float64)
        return self.reference_losses[pool]

    def thtb(self, pool: str, kind: str) -> np.ndarray:
        """Each row's THTB score (`benchmarks/learning/thtb.py`), `kind` `"judge"` or `"extrinsic"`."""
        if (pool, kind) not in self.thtb_values:
            from .thtb import pool_thtb

            workdir = os.path.join(self.workdir, "thtb_templates")
            values = pool_thtb(self.pool(pool), self.tokenizer, self.seed, workdir, judge=kind == "judge")
            self.thtb_values[(pool, kind)] = values
        return self.thtb_values[(pool, kind)]

    def offline_selection(self, pool: str) -> np.ndarray:
        """Rows of the hardest half of `pool` by the starting model's completion loss (`curriculum.scoring`)."""
        if pool not in self.offline_rows:
            from curriculum.scoring import score_dataset, select_top

            data = self.pool(pool).select_columns(["prompt", "completion"]).add_column(
                "row", list(range(len(self.pool(pool))))
            )
            scored = score_dataset(data, "loss", self.model_for(pool), self.tokenizer, batch_size=256, progress=False)
            chosen = select_top(scored, "score_loss", len(data) // 2)
            self.offline_rows[pool] = np.asarray(chosen["row"])
        return self.offline_rows[pool]


# ---------------------------------------------------------------------------------------------------- one run


def _training_rows(bench: Bench, strategy: Strategy, budget: int) -> tuple[Any, dict[str, Any]]:
    """The dataset the Trainer gets for `strategy`, and extra `SFTConfig` settings."""
    pool = bench.pool(strategy.pool)
    if strategy.thtb is not None:
        values = bench.thtb(strategy.pool, strategy.thtb)
        if strategy.curriculum is not None:
            return pool.add_column(THTB_PRIOR, [float(v) for v in values]), {}
        from curriculum.scoring import select_top

        from .thtb import HALF

        kept = int(np.isfinite(values).sum())  # rows that pass the quality filter
        chosen = select_top(pool.add_column(THTB_PRIOR, [float(v) for v in values]), THTB_PRIOR,
                            min(kept, round(len(pool) * HALF)))  # fmt: skip
        return chosen.remove_columns(THTB_PRIOR), {}
    if strategy.levels is not None:
        keep = np.flatnonzero(np.isin(np.asarray(pool["level"]), strategy.levels))
        return pool.select(keep), {}
    if strategy.offline:
        return pool.select(bench.offline_selection(strategy.pool)), {}
    if strategy.curriculum is not None and strategy.curriculum.get("signal") == "rho":
        return pool.add_column("reference_loss", bench.reference_loss(strategy.pool).tolist()), {}
    if strategy.curriculum is not None and strategy.curriculum.get("group_column") == "cluster_id":
        return pool.add_column("cluster_id", bench.cluster_ids(strategy.pool)), {}
    if strategy.ordered:
        rng = np.random.default_rng([bench.seed, budget])
        rows = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-budget // len(pool)))])[:budget]
        rows = rows[np.argsort(np.asarray(pool["level"])[rows], kind="stable")]
        return pool.select(rows), {"train_sampling_strategy": "sequential"}
    return pool, {}


def _drawn_summary(data: Any, rows_per_step: np.ndarray, tasks: tuple[str, ...], phases: int = 5) -> dict[str, Any]:
    """What was trained on, by phase of training: mean true level, noisy share and share of each of `tasks` (the
    pool's family's and `hash`); `natural`: each task's share of the training rows (what uniform draws)."""
    levels = np.asarray(data["level"], dtype=np.float64)
    noisy = np.asarray(data["noisy"], dtype=np.float64)
    task_of = np.asarray(data["task"])
    out: dict[str, Any] = {"level": [], "noisy": [], **{f"task_{t}": [] for t in tasks}}
    for chunk in np.array_split(rows_per_step, min(phases, len(rows_per_step))):
        rows = chunk.reshape(-1)
        out["level"].append(float(levels[rows].mean()))
        out["noisy"].append(float(noisy[rows].mean()))
        for t in tasks:
            out[f"task_{t}"].append(float((task_of[rows] == t).mean()))
    flat = rows_per_step.reshape(-1)
    out["unique_rows"] = int(np.unique(flat).size)
    out["natural"] = {t: float((task_of == t).mean()) for t in tasks}
    return out


def _sampler_trace(log_history: list[dict[str, float]]) -> dict[str, list[float]]:
    keys = ("curriculum/progress", "curriculum/target", "curriculum/sampled_difficulty")
    logs = [e for e in log_history if all(k in e for k in keys)]
    return {"step": [e["step"] for e in logs], **{k.split("/")[1]: [e[k] for e in logs] for k in keys}}


SHARE_PREFIX = "curriculum/task_share/"


def _share_trace(log_history: list[dict[str, float]]) -> dict[str, Any]:
    """The logged task shares of the curriculum (`curriculum/task_share/<task>`, one entry per logging step):
    `{"step": [...], "shares": {task: [...]}}`; empty lists when the curriculum logged none (no task shares)."""
    logs = [e for e in log_history if any(k.startswith(SHARE_PREFIX) for k in e)]
    tasks = list(dict.fromkeys(k[len(SHARE_PREFIX):] for e in logs for k in e if k.startswith(SHARE_PREFIX)))
    return {"step": [e["step"] for e in logs],
            "shares": {t: [e.get(SHARE_PREFIX + t, float("nan")) for e in logs] for t in tasks}}


def _per_group(values: np.ndarray, rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    labels = [str(r[key]) for r in rows]
    array = np.array(labels)
    return {label: float(values[array == label].mean()) for label in dict.fromkeys(labels)}


def evaluate(model: Any, bench: Bench, family: str = "arith") -> dict[str, Any]:
    """Exact match and completion loss on the test and extrapolation splits of `family`."""
    test, extrapolation = bench.splits(family)
    show = PROGRESS["show"]
    test_em = exact_match(model, bench.tokenizer, test, desc="evaluating: test" if show else None)
    extra_em = exact_match(model, bench.tokenizer, extrapolation, desc="evaluating: level 5" if show else None)
    return {
        "test_accuracy": float(test_em.mean()),
        "extrapolation_accuracy": float(extra_em.mean()),
        "test_loss": float(completion_loss(model, bench.tokenizer, test).mean()),
        "extrapolation_loss": float(completion_loss(model, bench.tokenizer, extrapolation).mean()),
        "test_accuracy_by_task": _per_group(test_em, test, "task"),
        "test_accuracy_by_level": _per_group(test_em, test, "level"),
        "test_accuracy_by_task_level": _per_group(test_em, [{"cell": f"{r['task']}/{r['level']}"} for r in test], "cell"),
        "extrapolation_accuracy_by_task": _per_group(extra_em, extrapolation, "task"),
    }


def noise_detection(data_map: dict[str, np.ndarray], noisy: np.ndarray) -> dict[str, Any]:
    """How well "suspected noise" (noise posterior above 0.5) finds the known wrong rows: precision, recall (of the
    wrong rows, and of those visited at least twice), and the data map's count per category."""
    from curriculum.datamap import CATEGORIES, NOISE_POSTERIOR

    categories = data_map["category"]
    return {
        **_detection(data_map["noise"] > NOISE_POSTERIOR, noisy, data_map["visits"]),
        "map": {name: int((categories == name).sum()) for name in CATEGORIES},
    }


def _detection(flagged: np.ndarray, noisy: np.ndarray, visits: np.ndarray) -> dict[str, Any]:
    """Precision and recall of `flagged` as a detector of the wrong rows `noisy` (recall also among those visited
    at least twice)."""
    hits = int((flagged & noisy).sum())
    revisited = noisy & (visits >= 2)
    return {
        "wrong_rows": int(noisy.sum()),
        "flagged": int(flagged.sum()),
        "precision": hits / int(flagged.sum()) if flagged.any() else float("nan"),
        "recall": hits / int(noisy.sum()) if noisy.any() else float("nan"),
        "recall_revisited": int((flagged & revisited).sum()) / int(revisited.sum()) if revisited.any() else float("nan"),
    }


def noise_detection_by_signal(curriculum: Any, noisy: np.ndarray) -> dict[str, dict[str, Any]]:
    """Every noise signal's detection of the wrong rows on the run's final score table (the signal does not change
    training unless the noise filter is on, so one run measures them all), and dataset cartography's "hard to
    learn" region (visited twice or more, confidence under 0.5, variability under 0.2) as a detector."""
    from curriculum.datamap import AMBIGUOUS_VARIABILITY, EASY_CONFIDENCE, NOISE_POSTERIOR
    from curriculum.noise import SIGNALS, noise_probability, noise_signal

    table, groups = curriculum.scores, curriculum.groups
    found = {}
    for name in SIGNALS:
        values, min_visits = noise_signal(table, name, curriculum.config.noise_min_visits)
        flagged = noise_probability(values, table.count, groups, min_visits) > NOISE_POSTERIOR
        found[name] = _detection(flagged, noisy, table.count)
    with np.errstate(invalid="ignore"):
        hard = (table.count >= 2) & (table.confidence < EASY_CONFIDENCE) & (table.variability < AMBIGUOUS_VARIABILITY)
    found["cartography_hard"] = _detection(hard, noisy, table.count)
    return found


def run_one(bench: Bench, strategy: Strategy, budget: int, data_map_png: str | None = None) -> dict[str, Any]:
    """Train the model the pool starts from (warm-up, and its family's base model if the pool has base knowledge)
    on `budget` examples the way `strategy` says; return its metrics on the pool family's splits and its draws (and,
    for the online curriculum, how well it found the wrong rows and its logged task shares, logged every refresh;
    `data_map_png`: where to plot its data map)."""
    from trl import SFTTrainer

    started = time.perf_counter()
    size = bench.size
    steps = size.steps(budget)
    spec = POOLS[strategy.pool].pathologies
    tasks = (*FAMILIES[spec.family].tasks, UNLEARNABLE_TASK)
    data, overrides = _training_rows(bench, strategy, budget)
    if strategy.curriculum is not None:
        overrides = {**overrides, "logging_steps": size.refresh_every_steps}
    out_dir = os.path.join(bench.workdir, f"{strategy.name}-{budget}-{bench.seed}")
    args = sft_config(size, out_dir, steps, bench.seed, **overrides)
    trainer = SFTTrainer(model=bench.model_for(strategy.pool), args=args, train_dataset=data,
                         processing_class=bench.tokenizer)
    _quiet(trainer)
    recorder = handle = None
    if strategy.curriculum is not None:
        settings = {"refresh_every_steps": size.refresh_every_steps, **ONLINE_BASE, **strategy.curriculum}
        handle = attach(trainer, CurriculumConfig.from_dict(settings))
        recorder = StreamRecorder(handle.sampler)
        trainer.add_callback(recorder)
    trainer.train()
    train_seconds = time.perf_counter() - started
    result = {
        "strategy": strategy.name,
        "pool": strategy.pool,
        "budget": size.examples(budget),
        "seed": bench.seed,
        "size": size.name,
        "family": spec.family,
        "base": spec.base,
        **evaluate(trainer.model, bench, spec.family),
        "train_seconds": train_seconds,
    }
    if recorder is not None:
        result["drawn"] = _drawn_summary(data, recorder.rows_per_step(), tasks)
        result["trace"] = _sampler_trace(trainer.state.log_history)
        result["share_trace"] = _share_trace(trainer.state.log_history)
        data_map = handle.curriculum.data_map()
        noisy = np.asarray(data["noisy"], dtype=bool)
        result["noise_detection"] = noise_detection(data_map, noisy)
        result["noise_detection_by_signal"] = noise_detection_by_signal(handle.curriculum, noisy)
        if data_map_png is not None:
            from curriculum.plot import plot_data_map

            plot_data_map(data_map, data_map_png, title=f"{strategy.label}, pool {strategy.pool}")
    elif strategy.name == "uniform":  # what shuffling trains on in expectation: the pool's make-up in every phase
        result["drawn"] = _drawn_summary(data, np.tile(np.arange(len(data)), (5, 1)), tasks)
        result["drawn"]["unique_rows"] = round(len(data) * (1.0 - np.exp(-budget / len(data))))
    return result
