"""`CurriculumConfig`: the curriculum's settings, with strict validation and YAML loading."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import yaml

from .fields import ConfigError, check_field, check_keys, schema_table, yaml_section
from .fields import config_field as _field  # short: one per field below
from .noise import SIGNALS as NOISE_SIGNALS
from .schedules import SCHEDULES, make_schedule

__all__ = ["ConfigError", "CurriculumConfig"]


@dataclass
class CurriculumConfig:
    r"""
    Settings of the online curriculum.

    Every field can be given in YAML (see [`~CurriculumConfig.from_yaml`]); unknown keys, wrong types, values out
    of range and impossible combinations raise [`ConfigError`] naming the key, the value and what is allowed.

    Parameters:
        > Difficulty

        signal (`str`, *optional*, defaults to `"loss"`):
            Per-row signal whose quantile rank is the difficulty: `"loss"` (running mean token NLL), `"confidence"`
            (uses 1 - running mean target-token probability) or `"learnability"` (first loss - current loss).
            `"pass_rate"` (TRL's `GRPOTrainer` only): the difficulty of a prompt is 1 - its predicted pass rate, the
            share of its completions that pass (see `pass_threshold`), not a rank; prompts never rolled out take the
            pass rate of their scored near-duplicates or their task's mean. The default schedule is then a constant
            target of 0.5 (a pass rate of 1/2, where a group of completions carries the most signal).
        group_column (`str` or `None`, *optional*):
            Dataset column (for example a task label) within which difficulty is ranked. Strongly recommended when
            the data mixes tasks: a row's loss is mostly a property of its task. Missing labels (None, NaN) form one
            group, named `"<missing>"`.
        prior_column (`str` or `None`, *optional*):
            Numeric dataset column (higher = harder) whose quantile rank is the difficulty of rows not yet trained
            on. Without it, unseen rows sit at the median (0.5).
        reference_column (`str` or `None`, *optional*):
            Numeric column of per-row reference losses (for example from a model trained on held-out data); with
            `signal="rho"` the signal is current loss - reference loss (RHO-LOSS: learnable and not yet learnt).
        ema (`float`, *optional*, defaults to `0.5`):
            Weight of the previous value in the running means; the first observation initialises them.

        > Schedule

        schedule (`str`, *optional*, defaults to `"linear"`):
            Target difficulty as a function of progress p = consumed samples / budget.
        start (`float`, *optional*, defaults to `0.3`):
            Target difficulty quantile at p = 0.
        end (`float`, *optional*, defaults to `0.6`):
            Target difficulty quantile at p = 1. Not higher by default: in real corpora the top loss quantiles of
            a task hold wrong or unlearnable rows, which a target near 1 would chase (see the learning benchmark).
        degree (`float`, *optional*, defaults to `2.0`):
            Root degree of the `"root"` schedule.
        milestones (`list[float]`, *optional*, defaults to `[0.5]`):
            Progress points of the `"step"` schedule, increasing, in (0, 1).
        rate (`float`, *optional*, defaults to `5.0`):
            Rate of the `"exponential"` schedule.
        budget_samples (`int` or `None`, *optional*):
            Samples that make p = 1. Defaults to `max_steps` x global batch size (or the epochs' total).

        > Sampling

        kernel (`str`, *optional*, defaults to `"laplace"`):
            Kernel of the distance between a row's difficulty and the target: `"laplace"` (exp(-|d|/width), as in
            DOTS) or `"gaussian"` (exp(-d^2 / (2 width^2))).
        width (`float`, *optional*, defaults to `0.25`):
            Kernel width, in difficulty-quantile units.
        uniform_mix (`float`, *optional*, defaults to `0.1`):
            Share of the sampling mass spread uniformly over all rows, so that none starves.
        revisit_penalty (`float`, *optional*, defaults to `0.0`):
            Prefer rows trained on less often, as shuffling without replacement does: a row's weight is multiplied
            by exp(-revisit_penalty x v / max(1, v_mean)), v the visits of its group of copies and v_mean their mean
            over all groups. Within the first pass over the data a revisit then costs a factor e^-revisit_penalty
            against a fresh row; later, only visits above the mean are penalised. 0 disables it.
        refresh_every_steps (`int` or `None`, *optional*):
            Optimizer steps between two recomputations of the sampling weights (a fixed point of the sample
            stream, identical on every process). Defaults to 10, or to a thousandth of an epoch where that is more
            (above ~2.6M rows at a global batch of 256): a recomputation costs O(rows), so a cadence in proportion
            to the epoch keeps its cost per step constant at any dataset size.
        samples_per_epoch (`int` or `None`, *optional*):
            Samples drawn per epoch. Defaults to the dataset size; rounded up to a multiple of the global batch.
        seed (`int` or `None`, *optional*):
            Seed of the sampler. Defaults to `TrainingArguments.data_seed`, else `TrainingArguments.seed`.
        budget_unit (`str`, *optional*, defaults to `"samples"`):
            `"samples"`: progress counts samples consumed. `"unique_rows"`: it counts distinct rows trained on, so
            replays cost no budget (the label-efficient setting); the budget then defaults to the dataset size.

        > Rollouts (signal `"pass_rate"`)

        pass_threshold (`float`, *optional*, defaults to `0.5`):
            A completion passes when its reward (the weighted sum of the reward functions, as GRPO computes it) is
            at least this; with `pass_rate_from="scaled_reward"` it is not used.
        pass_rate_from (`str`, *optional*, defaults to `"threshold"`):
            `"threshold"`: a prompt's pass rate is the share of its completions that pass. `"scaled_reward"`: the
            mean reward rescaled from `reward_range` to [0, 1] (for graded rewards).
        reward_range (`list[float]`, *optional*, defaults to `[0.0, 1.0]`):
            Lowest and highest reward, for `pass_rate_from="scaled_reward"`.
        balanced_filtering (`bool`, *optional*, defaults to `True`):
            Multiply a prompt's weight by the probability that its group of G completions is neither all passing nor
            all failing, 1 - p^G - (1 - p)^G, p its predicted pass rate: a group whose rewards are all equal has zero
            advantage and trains nothing (balanced filtering, Bae et al. 2025).
        replay_max_age (`int`, *optional*, defaults to `4`):
            Rollout replay: most generation rounds a rollout group stays replayable.

        > Score sharing

        share_scores (`str`, *optional*, defaults to `"duplicates"`):
            `"duplicates"`: rows whose normalised content is identical share one score (the mean of their
            observations), and each copy gets 1 / copies of the sampling weight, so a group weighs like one row.
            `"near_duplicates"`: also, a row never trained on inherits the similarity-weighted score of its scored
            near-duplicates (MinHash), instead of the median. `"none"`: every row is scored and weighted on its own.
        duplicate_alpha (`float`, *optional*, defaults to `1.0`):
            With score sharing, each copy of a row with `copies` copies gets copies^(-alpha) of the sampling weight:
            1 makes a group of copies weigh like one row, 0 leaves every copy its full weight.
        duplicate_key (`str`, *optional*, defaults to `"prompt"`):
            What makes rows copies for the weighting: the same `"prompt"` (the `prompt` column, or all messages but
            the last; data with neither counts by content): rows answering one prompt share its weight, so a wrong
            answer to a repeated prompt weighs like one more copy, not like a row of its own. Or the same
            `"content"` (the rows that share a score).
        near_duplicate_threshold (`float`, *optional*, defaults to `0.8`):
            Estimated Jaccard similarity of character 5-grams above which two rows are near-duplicates.
        content_column (`str` or `None`, *optional*):
            Column whose content identifies a row; by default `prompt` + `completion`, else `text`, `messages`,
            or the token ids `input_ids`.

        > Suspected noise

        noise_filter (`str`, *optional*, defaults to `"none"`):
            `"mixture"`: at every refresh, fit a two-component Gaussian mixture to the running loss of the rows of
            each group trained on at least `noise_min_visits` times (DivideMix's small-loss mixture); a row's
            sampling weight is multiplied by its posterior of the low-loss (clean) component. `"none"`: no filter;
            the data map still reports suspected noise.
        noise_min_visits (`int`, *optional*, defaults to `2`):
            Visits before a row's loss enters the mixture: a first visit cannot tell a wrong answer from a new one.

        > Replay

        replay_share (`float`, *optional*, defaults to `0.0`):
            Share of every global batch (rounded to whole rows) drawn from the replay buffer; 0 disables replay.
            Under `GRPOTrainer`: the share of each generation batch's prompt groups taken from recent rollouts
            (with their behaviour log-probabilities) instead of being generated (rollout replay, DOTS+RR).
        replay_buffer_size (`int`, *optional*, defaults to `512`):
            Most rows held by the buffer: a FIFO without duplicates of recently trained, valuable rows (under
            `GRPOTrainer`: most rollout groups held per process).
        replay_value (`str`, *optional*, defaults to `"loss"`):
            What makes a trained row valuable: its `"loss"` or `"learnability"` quantile within its group, or
            `"near_target"`: its difficulty close to the current target.
        replay_threshold (`float`, *optional*, defaults to `0.5`):
            Admission: value quantile >= threshold (`near_target`: |difficulty - target| <= threshold).

        > Task balance

        task_balance (`bool` or `None`, *optional*):
            Share the sampling mass across the tasks of `group_column` by `task_signal`; within a task, difficulty
            targeting as usual. Default (`None`): on when `group_column` is set.
        task_signal (`str`, *optional*, defaults to `"progress"`):
            What sets the task shares. `"progress"`: learning progress, as in Teacher-Student Curriculum Learning:
            task t gets the share m_t (p_t)^gamma / Z of the mass, m_t its natural mass and p_t the running mean
            drop of its rows' loss between visits, floored at a tenth of the mean so no task starves; budget leaves
            tasks already learnt and tasks that cannot be learnt. `"confidence"`: the share (1 / c_t)^gamma / Z,
            c_t the live mean confidence on the task's trained rows.
        task_gamma (`float`, *optional*, defaults to `1.0`):
            Exponent gamma; 0 gives equal shares.
        task_min_share (`float`, *optional*, defaults to `0.0`):
            Least share per task (must be below 1 / number of tasks).
        confidence_prior_column (`str` or `None`, *optional*):
            Per-row confidence from an offline pass (`curriculum score --scorer confidence`): a task's confidence
            until one of its rows is trained on. Without it, such a task takes the mean over trained rows.

        > Resume

        resume_allow_changes (`list[str]`, *optional*, defaults to `[]`):
            What may differ from the run a checkpoint was saved by when resuming from it: names of config keys,
            `"data"` (the training rows: the scores stay with the row indices), `"budget"` (the samples that make
            progress 1, e.g. a changed `max_steps`) or `"seed"`. Anything else that changed is refused, naming it.

    Example:

    ```python
    >>> from curriculum import CurriculumConfig
    >>> config = CurriculumConfig(schedule="cosine", start=0.1, end=0.9, group_column="task")
    >>> config.target(0.5)
    0.5
    ```
    """

    signal: str = _field(
        "loss", "Per-row signal ranked into a difficulty.", choices=("loss", "confidence", "learnability", "rho", "pass_rate")
    )
    reference_column: str | None = _field(None, "Reference loss per row for signal `rho` (current - reference).")
    group_column: str | None = _field(None, "Dataset column within which difficulty is ranked (e.g. a task label).")
    prior_column: str | None = _field(None, "Numeric column (higher = harder) giving the difficulty of unseen rows.")
    ema: float = _field(0.5, "Weight of the previous value in the running means.", min=0.0, max_exclusive=1.0)
    schedule: str = _field("linear", "Target difficulty as a function of progress.", choices=tuple(SCHEDULES))
    start: float = _field(0.3, "Target difficulty quantile at progress 0.", min=0.0, max=1.0)
    end: float = _field(0.6, "Target difficulty quantile at progress 1.", min=0.0, max=1.0)
    degree: float = _field(2.0, "Root degree of the `root` schedule.", min_exclusive=0.0)
    milestones: list[float] = _field([0.5], "Progress points of the `step` schedule, increasing, in (0, 1).")
    rate: float = _field(5.0, "Rate of the `exponential` schedule.", min_exclusive=0.0)
    budget_samples: int | None = _field(None, "Samples that make progress 1 (default: max_steps x global batch).", min=1)
    kernel: str = _field("laplace", "Kernel of the distance to the target.", choices=("laplace", "gaussian"))
    width: float = _field(0.25, "Kernel width in difficulty-quantile units.", min_exclusive=0.0)
    uniform_mix: float = _field(0.1, "Share of the sampling mass spread uniformly.", min=0.0, max=1.0)
    revisit_penalty: float = _field(
        0.0, "Weight factor exp(-penalty x visits / max(1, mean visits)): prefer rows trained on less often.", min=0.0
    )
    refresh_every_steps: int | None = _field(
        None, "Optimizer steps between two recomputations of the weights (default: 10, or 1/1000 epoch if more).", min=1
    )
    samples_per_epoch: int | None = _field(None, "Samples drawn per epoch (default: dataset size).", min=1)
    replacement: bool = _field(
        False,
        "Draw with replacement (each draw independent), or without: every row once per epoch, the weights deciding "
        "the order (and so which rows a partial epoch trains on).",
    )
    pass_order: str = _field(
        "shuffled",
        "Without replacement: a pass the remaining budget completes anyway is shuffled (the weights only choose the "
        "rows of a pass the budget leaves unfinished), or ordered by the weights.",
        choices=("shuffled", "weighted"),
    )
    seed: int | None = _field(None, "Sampler seed (default: data_seed, else seed).", min=0)
    budget_unit: str = _field(
        "samples", "What progress counts: samples consumed, or unique rows trained on.", choices=("samples", "unique_rows")
    )
    replay_share: float = _field(0.0, "Share of every global batch drawn from the replay buffer.", min=0.0, max_exclusive=1.0)
    replay_buffer_size: int = _field(512, "Most rows in the replay buffer (FIFO, deduplicated).", min=1)
    replay_value: str = _field(
        "loss", "Value that admits a trained row to the buffer.", choices=("loss", "near_target", "learnability")
    )
    replay_threshold: float = _field(
        0.5, "Admit rows whose value quantile is >= this (near_target: within this of the target).", min=0.0, max=1.0
    )
    task_balance: bool | None = _field(
        None, "Share the sampling mass across `group_column` tasks by `task_signal` (default: on with a group column)."
    )
    task_signal: str = _field(
        "progress", "What sets the task shares: learning progress or inverse confidence.", choices=("progress", "confidence")
    )
    task_gamma: float = _field(1.0, "Exponent of the inverse task confidence.", min=0.0)
    task_min_share: float = _field(0.0, "Least share of the sampling mass per task.", min=0.0, max_exclusive=1.0)
    pass_threshold: float = _field(0.5, "Least reward (weighted sum of the reward functions) of a passing completion.")
    pass_rate_from: str = _field(
        "threshold", "A prompt's pass rate: the share of passing completions, or the mean reward scaled to [0, 1].",
        choices=("threshold", "scaled_reward"),
    )
    reward_range: list[float] = _field([0.0, 1.0], "Lowest and highest reward, for `pass_rate_from: scaled_reward`.")
    balanced_filtering: bool = _field(
        True, "Weight prompts by the chance that their completions neither all pass nor all fail (pass_rate)."
    )
    replay_max_age: int = _field(4, "Most generation rounds a rollout group stays replayable (GRPO).", min=1)
    share_scores: str = _field(
        "none",
        "Share scores between duplicate rows, and pass them on to unseen near-duplicates.",
        choices=("none", "duplicates", "near_duplicates"),
    )
    duplicate_alpha: float = _field(
        1.0, "Each copy of a row with `copies` copies gets copies^(-alpha) of the sampling weight.", min=0.0, max=1.0
    )
    duplicate_key: str = _field(
        "prompt", "Rows are copies for the weighting when they share their prompt (else their content), or content.",
        choices=("prompt", "content"),
    )
    near_duplicate_threshold: float = _field(
        0.8, "Estimated Jaccard similarity (MinHash) above which two rows are near-duplicates.", min_exclusive=0.0, max=1.0
    )
    noise_filter: str = _field(
        "none", "Down-weight rows by their posterior of a high-loss mixture component within their group.",
        choices=("none", "mixture"),
    )
    noise_min_visits: int = _field(2, "Visits before a row's loss enters the noise mixture.", min=1)
    noise_signal: str = _field(
        "loss", "Per-row signal the noise mixture is fitted to: the running loss, the loss at the row's first visit, "
        "or the gap between the running loss and -log of the running confidence (large when a few target tokens are "
        "confidently contradicted, small when every token is uncertain).",
        choices=NOISE_SIGNALS,
    )
    content_column: str | None = _field(
        None, "Column whose text identifies a row for score sharing (default: prompt+completion, text or messages)."
    )
    confidence_prior_column: str | None = _field(
        None, "Per-row confidence from an offline pass: a task's confidence before any of its rows is trained on."
    )

    resume_allow_changes: list[str] = _field(
        [], "What may change when resuming: config keys, `data`, `budget`, `seed`."
    )

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_field(f, getattr(self, f.name)))
        changeable = self.resume_changeable()
        wrong = [name for name in self.resume_allow_changes if name not in changeable]
        if wrong:
            raise ConfigError(
                f"resume_allow_changes should list names among {sorted(changeable)}, but got {wrong!r}"
            )
        ms = self.milestones
        if any(not 0.0 < m < 1.0 for m in ms) or any(b <= a for a, b in zip(ms, ms[1:])):
            raise ConfigError(
                f"milestones should be strictly increasing progress values in (0, 1), but got milestones={ms}"
            )
        if self.schedule == "step" and not ms:
            raise ConfigError("schedule='step' needs at least one milestone, but got milestones=[]")
        if self.uniform_mix == 1.0 and self.schedule != "constant":
            raise ConfigError(
                f"uniform_mix=1.0 makes sampling uniform, so schedule={self.schedule!r} would have no effect; "
                "use uniform_mix < 1.0 or schedule='constant'"
            )
        if self.task_balance is True and self.group_column is None:
            raise ConfigError("task_balance=True needs group_column (the task label column), but group_column=None")
        if self.signal == "rho" and self.reference_column is None:
            raise ConfigError("signal='rho' needs reference_column (a per-row reference loss), but it is None")
        if self.reference_column is not None and self.signal != "rho":
            raise ConfigError(
                f"reference_column={self.reference_column!r} is only used with signal='rho', but signal={self.signal!r}"
            )
        if self.signal == "pass_rate":
            self._check_pass_rate()
        if self.group_column is not None and self.group_column == self.prior_column:
            raise ConfigError(
                f"group_column and prior_column should name different columns, but both are {self.group_column!r}"
            )

    def _check_pass_rate(self) -> None:
        if (self.schedule, self.start, self.end) == ("linear", 0.3, 0.6):  # the loss defaults: target a pass rate 1/2
            self.schedule, self.start, self.end = "constant", 0.5, 0.5
        if len(self.reward_range) != 2 or not self.reward_range[0] < self.reward_range[1]:
            raise ConfigError(
                f"reward_range should be [lowest, highest] reward with lowest < highest, but got {self.reward_range!r}"
            )
        if self.noise_filter != "none":
            raise ConfigError(
                f"noise_filter={self.noise_filter!r} finds wrong answers among supervised rows by their loss; with "
                "signal='pass_rate' the rows are prompts without answers: use noise_filter='none'"
            )
        if self.replay_value != "loss" or self.replay_threshold != 0.5:
            raise ConfigError(
                "replay_value and replay_threshold choose supervised rows to replay; with signal='pass_rate' rollout "
                "replay keeps every recent group whose advantages are not all zero: leave them at their defaults"
            )

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "CurriculumConfig":
        """Build a config from a mapping, rejecting unknown keys with the list of allowed ones."""
        check_keys(values, {f.name for f in dataclasses.fields(cls)})
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "CurriculumConfig":
        """Load a config from a YAML file: the keys at the top level, or under a top-level `curriculum:` key (a
        training file such as `examples/train_tiny.yaml`: its other keys are the training script's, not read here)."""
        data, _ = yaml_section(path, set(cls.__dataclass_fields__))
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    # ------------------------------------------------------------------ derived

    @classmethod
    def resume_changeable(cls) -> set[str]:
        """What `resume_allow_changes` may name: every other key, and `data`, `budget`, `seed`."""
        return {f.name for f in dataclasses.fields(cls)} - {"resume_allow_changes"} | {"data", "budget", "seed"}

    @property
    def balances_tasks(self) -> bool:
        """Whether task shares are on: `task_balance`, or by default whenever `group_column` is set."""
        return self.task_balance if self.task_balance is not None else self.group_column is not None

    def schedule_fn(self):
        """The schedule as a picklable function of progress."""
        return make_schedule(self.schedule, self.start, self.end, self.degree, self.milestones, self.rate)

    def target(self, progress: float) -> float:
        """Target difficulty quantile at `progress` in [0, 1]."""
        return self.schedule_fn()(progress)


def schema_markdown() -> str:
    """The YAML schema as a Markdown table (key, type, default, allowed, meaning)."""
    return schema_table(CurriculumConfig)
