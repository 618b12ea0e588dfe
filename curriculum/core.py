"""`Curriculum`: the score table, the schedule, the stream position and the weight factors of one training run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import inputs
from .config import CurriculumConfig
from .datamap import build_data_map, categorize, category_counts
from .difficulty import Difficulty
from .groups import narrow_codes
from .draws import draw_rows, draw_without_replacement
from .factors import Factor, Observation, RowData, build_factors
from .factors.task_shares import share_metrics
from .layout import StreamLayout
from .monitor import StreamMonitor
from .noise import noise_posterior
from .replay import ReplayPolicy
from .rollouts import GroupStats, RolloutStats, group_statistics
from .scores import ScoreTable
from .sharing import ScoreSharing
from .weights import normalized_entropy, sampling_weights

__all__ = ["Curriculum", "draw_without_replacement"]  # the latter from draws.py, for the loop without attach


class Curriculum:
    r"""
    The online curriculum of one training run, framework-free (NumPy only).

    It holds the per-row [`ScoreTable`], the difficulty derived from it, the schedule, the stream's layout and
    position, the replay policy and the weight factors (`factors`, by name: `"tasks"`, `"duplicates"`, `"noise"`,
    `"revisit"`, `"unscorable"`; see `curriculum.factors`), each owning its state. A row's sampling weight is
    `mix(uniform, kernel(difficulty - target) x product of the factors)`. [`observe`] folds in one optimizer step's
    per-row loss and confidence (the same on every process); [`draw`] draws a block of the stream; [`progress`] and
    [`target`] give the schedule at a stream position; [`metrics`], [`state_dict`] / [`load_state_dict`],
    [`noise_probability`] and [`data_map`] report and checkpoint.

    Stream positions count samples since the start of training over all epochs and processes; optimizer step `k`
    has consumed the positions before [`position`]`(k) = k x global_batch`.

    Build it with [`from_arrays`] (any training loop) or [`from_dataset`] (a `datasets.Dataset`); under a
    `Trainer`, [`~curriculum.attach`] does it for you.

    Args:
        config ([`CurriculumConfig`]): the settings.
        num_rows (`int`): rows of the training dataset.
        groups (`np.ndarray`, *optional*): integer group (task) code per row, from 0; needed by `group_column`.
        group_names (`list[str]`, *optional*): name of each group code, for metrics.
        prior (`np.ndarray`, *optional*): per-row prior difficulty (higher = harder) for rows not yet trained on.
        reference (`np.ndarray`, *optional*): per-row reference loss, for `signal="rho"`.
        sharing ([`~curriculum.sharing.ScoreSharing`], *optional*): duplicate groups (and near-duplicate graph) of
            the rows; needed unless `share_scores="none"`.
        copies_of (`np.ndarray`, *optional*): per row, the first row of its group of copies for the duplicate
            weighting (`duplicate_key="prompt"`: the rows with its prompt); defaults to the groups of `sharing`.
        confidence_prior (`np.ndarray`, *optional*): per-row offline confidence, for task shares before a task's
            rows are trained on.
        global_batch (`int`, *optional*, defaults to `1`): samples per optimizer step over all processes and
            accumulation steps.
        max_steps (`int`, *optional*), epochs (`float`, *optional*, defaults to `1.0`): the run's length, for the
            budget when `budget_samples` is not given (`max_steps` first).
        unscorable (`np.ndarray`, *optional*): mask of the rows known to have no supervised token (every label is
            -100), never drawn; rows found so in training are added by [`observe`].

    Example:

    ```python
    >>> import numpy as np
    >>> from curriculum import Curriculum, CurriculumConfig
    >>> config = CurriculumConfig(group_column="task", refresh_every_steps=2)
    >>> curriculum = Curriculum.from_arrays(config, 6, groups=["a", "a", "a", "b", "b", "b"],
    ...                                     texts=[str(i) for i in range(6)], global_batch=4, max_steps=10)
    >>> rows, replayed = curriculum.draw(0, 8, np.random.default_rng(0))
    >>> curriculum.observe(rows[:4], loss=np.ones(4), confidence=np.full(4, 0.5), step=1)
    >>> curriculum.progress(curriculum.position(5)), curriculum.epoch_length
    (0.5, 8)
    ```
    """

    def __init__(
        self, config: CurriculumConfig, num_rows: int, *, groups: np.ndarray | None = None,
        group_names: Sequence[str] | None = None, prior: np.ndarray | None = None, reference: np.ndarray | None = None,
        sharing: ScoreSharing | None = None, copies_of: np.ndarray | None = None,
        confidence_prior: np.ndarray | None = None, global_batch: int = 1, max_steps: int | None = None,
        epochs: float = 1.0, unscorable: np.ndarray | None = None, num_generations: int = 1,
    ) -> None:
        self.layout = StreamLayout(config, num_rows, global_batch, max_steps, epochs)
        self.config = config
        self.scores = ScoreTable(num_rows, ema=config.ema)
        inputs.check(config, groups=groups, prior=prior, reference=reference, confidence_prior=confidence_prior,
                     sharing=sharing)
        self.groups = None if groups is None else narrow_codes(groups)
        self.num_groups = 0 if self.groups is None else int(self.groups.max()) + 1
        self.group_names = None if group_names is None else [str(name) for name in group_names]
        self.difficulty = Difficulty(config.signal, groups=self.groups, prior=prior, reference=reference,
                                     sharing=sharing, num_generations=num_generations)
        self.schedule = config.schedule_fn()
        rows = RowData(num_rows, self.groups, self.num_groups, sharing, copies_of, confidence_prior, unscorable,
                       self.refresh_steps, num_generations)
        self.factors: dict[str, Factor] = build_factors(config, rows)
        self._unscorable = self.factors["unscorable"]
        self._wants_first_visits = any(f.wants_first_visits for f in self.factors.values())
        if self._unscorable.mask is not None:
            self._drawable_changed()
        # Under GRPO (signal "pass_rate") rows are prompts: rollouts, not rows, are replayed (by the trainer's side).
        rl = config.signal == "pass_rate"
        self.replay = None if rl else ReplayPolicy.from_config(config, self.groups, self.refresh_steps)
        self.rollouts = RolloutStats(num_rows, config.ema) if rl else None
        self.num_generations = num_generations
        self.monitor = StreamMonitor()
        self.step = 0
        self._last: dict[str, Any] = {}

    @classmethod
    def from_arrays(cls, config: CurriculumConfig, num_rows: int, **arrays: Any) -> "Curriculum":
        """Build from per-row arrays: `groups` any hashable labels (missing ones form a group `"<missing>"`), `texts`
        the rows' contents for score sharing, `prompts` their prompts (copies by prompt), `prior`, `reference`,
        `confidence_prior`, and the layout arguments (see [`~curriculum.inputs.from_arrays`])."""
        return cls(config, num_rows, **inputs.from_arrays(config, **arrays))

    @classmethod
    def from_dataset(cls, config: CurriculumConfig, dataset: Any, **layout: Any) -> "Curriculum":
        """Build from a `datasets.Dataset`, reading the columns `config` names (through Arrow where it can; the result
        is `from_arrays`'s on the same columns); `layout` as in `from_arrays`. With several processes the duplicate
        detection runs on rank 0 and is broadcast: every process must call this (as `attach` does)."""
        return cls(config, len(dataset), **inputs.from_dataset(config, dataset), **layout)

    num_rows = property(lambda self: len(self.scores), doc="Rows of the training dataset.")
    global_batch = property(lambda self: self.layout.global_batch, doc="Samples per optimizer step.")
    block_size = property(lambda self: self.layout.block_size, doc="Samples of the stream drawn per refresh.")
    epoch_length = property(lambda self: self.layout.epoch_length, doc="Samples per epoch (a pass of the rows).")
    budget = property(lambda self: self.layout.budget, doc="Samples (or distinct rows) that make progress 1.")
    refresh_steps = property(lambda self: self.layout.refresh_steps, doc="Optimizer steps per block of the stream.")

    def position(self, step: int) -> int:
        """Stream position reached after optimizer step `step` (samples consumed since the start of training)."""
        return step * self.global_batch

    def progress(self, position: int) -> float:
        """Progress in [0, 1] at a stream position: samples consumed / budget, or with `budget_unit="unique_rows"`
        distinct rows trained on / budget (then independent of `position`)."""
        return min(1.0, (self.scores.num_seen if self.config.budget_unit == "unique_rows" else position) / self.budget)

    def target(self, position: int) -> float:
        """Target difficulty quantile at a stream position."""
        return float(self.schedule(self.progress(position)))

    @property
    def unscorable(self) -> np.ndarray:
        """Boolean mask of the rows known to have no supervised token (read-only; no memory while there is none)."""
        return self._unscorable.rows

    def weights(self, position: int) -> np.ndarray:
        """Probability of drawing each row in the block that starts at stream `position`."""
        return self._weights(position)[0]

    def _weights(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities of [`weights`] and the difficulty of every row they were computed from."""
        c = self.config
        difficulty = self.difficulty(self.scores)
        target = self.target(position)
        shares = product = drawable = scale = None
        for factor in self.factors.values():
            part = factor.row_factor(self.scores)
            if part is not None:
                product = part if product is None else product * part
            shares = factor.shares(self.scores) if shares is None else shares
            part = factor.share_factor(self.scores)
            if part is not None:
                scale = part if scale is None else scale * part
            drawable = factor.drawable() if drawable is None else drawable
        if shares is not None and scale is not None:
            shares = shares * scale
            shares /= shares.sum()
        probs = sampling_weights(difficulty, target, c.kernel, c.width, c.uniform_mix,
                                 self.groups if shares is not None else None, shares, product, eligible=drawable)
        self._last = {"target": target, "entropy": normalized_entropy(probs), "shares": shares}
        return probs, difficulty

    def draw(
        self, position: int, size: int, rng: np.random.Generator, taken: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `size` rows of the stream block starting at `position` (the start of a global batch); returns them
        and whether each is a replay (round(replay_share x global_batch) random slots of every global batch, once the
        buffer holds a row). `taken` (updated in place) marks the rows drawn in the pass so far, for draws without
        replacement; see [`~curriculum.draws.draw_rows`] for how a pass is drawn."""
        probs, difficulty = self._weights(position)
        c = self.config
        if not c.replacement:
            taken = np.zeros(self.num_rows, dtype=bool) if taken is None else taken
        budget_left = self.budget - position if c.pass_order == "shuffled" and c.budget_unit == "samples" else None
        rows = draw_rows(probs, size, rng, None if c.replacement else taken, budget_left)
        del probs
        replayed = np.zeros(size, dtype=bool)
        if self.replay is not None:
            per_batch = round(c.replay_share * self.global_batch)
            replayed = self.replay.substitute(rows, per_batch, self.global_batch, rng, None if c.replacement else taken)
        self.monitor.drawn(position, difficulty[rows])
        return rows, replayed

    def noise_probability(self) -> np.ndarray:
        """Each row's probability of being a wrong answer (0 for rows with too few visits): the posterior of the
        high component of a two-component mixture on the config's `noise_signal` within its group."""
        return noise_posterior(self.scores, self.config.noise_signal, self.config.noise_min_visits, self.groups)

    def data_map(self) -> dict[str, np.ndarray]:
        """The live data map (see [`~curriculum.datamap.build_data_map`]): per row its category (easy, ambiguous,
        hard, suspected noise, duplicate, never trained), noise posterior, confidence, variability, loss, visits."""
        duplicate = getattr(self.factors.get("duplicates"), "duplicate", None)
        return build_data_map(self.scores, self.noise_probability(), duplicate)

    def observe(
        self, rows: np.ndarray, loss: np.ndarray, confidence: np.ndarray, step: int,
        replayed: np.ndarray | None = None, tokens: np.ndarray | None = None,
    ) -> None:
        """Fold in the observations of optimizer step `step` (1 for the first), in order, the same arrays on every
        process: the rows trained on, their mean token NLL (`loss`) and target-token probability (`confidence`),
        whether each position the step consumed was a replay (`replayed`, for metrics) and each row's supervised
        tokens (`tokens`). A non-finite loss or confidence (usually an fp16 overflow) is not scored and is counted in
        `curriculum/nonfinite_rows`; a row with no supervised token is marked unscorable and never drawn again."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:  # the positions this step consumed: the global batch before position(step)
            self.monitor.trained(self.position(step) - self.global_batch, self.position(step))
        keep, changed = self._unscorable.screen(rows, loss, confidence, tokens, step)
        if changed:
            self._drawable_changed()
        if keep is not None:
            rows, loss, confidence = rows[keep], np.asarray(loss)[keep], np.asarray(confidence)[keep]
        first = self.scores.first_visits(rows) if self._wants_first_visits else None
        observation = Observation(rows, np.asarray(loss), np.asarray(confidence), first, step)
        for factor in self.factors.values():
            factor.observe(observation)
        self.scores.update(rows, loss, confidence, step=step)
        self.step = step
        if self.replay is not None and (rows.size or keep is not None):
            self.replay.observe(rows, step, self._replay_values, self.target(self.position(step)))
        if replayed is not None:
            self.monitor.replays(replayed)

    def observe_rollouts(self, rows: np.ndarray, rewards: np.ndarray, step: int, replayed: int = 0) -> GroupStats:
        """Fold in one GRPO generation round (`step`, 1 for the first): the prompt row of each group and the
        groups' rewards, `num_generations` consecutive rewards per group in the order of `rows` (as GRPO gathers
        them; NaN: no reward), and the completions replayed instead of generated that round. Each prompt is scored by
        its group's pass rate (its `loss` is 1 - pass rate, its `confidence` the pass rate); returns the groups'
        [`~curriculum.rollouts.GroupStats`]."""
        if self.rollouts is None:
            raise ValueError(f"observe_rollouts needs signal='pass_rate', but signal={self.config.signal!r}")
        c = self.config
        stats = group_statistics(rewards, self.num_generations, c.pass_threshold, c.pass_rate_from, c.reward_range)
        scored = np.isfinite(stats.pass_rate)
        rows = np.asarray(rows, dtype=np.int64)
        self.rollouts.observe(rows, stats, replayed)
        rate = stats.pass_rate[scored]
        self.observe(rows[scored], loss=1.0 - rate, confidence=rate, step=step)
        return stats

    def _drawable_changed(self) -> None:
        """Tell the factors which rows can be drawn; with `budget_unit="unique_rows"` the budget is those rows."""
        drawable = self._unscorable.drawable()
        for factor in self.factors.values():
            factor.drawable_changed(drawable)
        if self.config.budget_unit == "unique_rows" and self.config.budget_samples is None:
            self.layout.budget = self.num_rows - self._unscorable.count

    def _replay_values(self, rows: np.ndarray | None) -> np.ndarray:
        if self.config.replay_value == "near_target":
            return self.difficulty.values(self.scores, rows)
        return self.scores.signal(self.config.replay_value, rows)

    def metrics(self) -> dict[str, float]:
        """The `curriculum/*` metrics: means over the steps since the previous call, and the current state (with the
        data map's count per category, an O(rows) pass: it runs at logging steps)."""
        progress = self.progress(self.position(self.step))
        out = {
            "curriculum/progress": round(progress, 6),
            "curriculum/target": float(self.schedule(progress)),
            "curriculum/coverage": self.scores.coverage,
            "curriculum/unique_rows": self.scores.num_seen,
        }
        if "entropy" in self._last:
            out["curriculum/entropy"] = self._last["entropy"]
        out.update(self.monitor.window(replay=self.replay is not None))
        if self.scores.num_seen:
            t = self.scores
            duplicate = getattr(self.factors.get("duplicates"), "duplicate", None)
            codes = categorize(t.count, t.confidence, t.variability, self.noise_probability(), duplicate)
            out.update({f"curriculum/map/{name}": count for name, count in category_counts(codes).items()})
        out.update(share_metrics(self.group_names, self._last.get("shares")))
        for part in self._parts():
            out.update(part.metrics(self.group_names))
        return out

    def _parts(self) -> list[Any]:
        """The factors, then the replay policy or the rollout statistics when on: what reports and checkpoints
        beside the table."""
        return [*self.factors.values(), *(part for part in (self.replay, self.rollouts) if part is not None)]

    @property
    def last_refresh(self) -> dict[str, Any]:
        """What the latest [`weights`] call used: `target`, `entropy` and task `shares` (the difficulty per row is not
        kept between refreshes: `curriculum.difficulty(curriculum.scores)` computes it)."""
        return dict(self._last)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as NumPy arrays: the score table, the replay buffer and snapshot, each factor's state, the
        difficulty of the rows drawn and not yet trained, the step reached and the stream layout."""
        state = {f"scores.{k}": v for k, v in self.scores.state_dict().items()}
        for part in self._parts():
            state.update(part.state_dict())
        state.update(self.monitor.state_dict())
        state["step"] = np.array(self.step, dtype=np.int64)
        state["layout"] = np.array(self.layout.saved(), dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.scores.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("scores.")})
        for part in self._parts():
            part.load_state_dict(state)
        self._drawable_changed()
        self.monitor.load_state_dict(state)
        self.step = int(state["step"])
        if "layout" in state:
            self.step = self.layout.continue_saved(self.step, *(int(v) for v in state["layout"]))
            for part in self._parts():
                part.set_refresh_steps(self.refresh_steps)
