"""`Curriculum`: the score table, the schedule, the stream position and the weight factors of one training run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import inputs
from .config import CurriculumConfig
from .datamap import CATEGORIES, categorize, category_counts
from .difficulty import Difficulty, narrow_codes
from .draws import draw_without_replacement
from .factors import Factor, Observation, RowData, build_factors
from .layout import StreamLayout
from .monitor import StreamMonitor
from .noise import noise_posterior
from .replay import ReplayPolicy
from .scores import ScoreTable
from .sharing import ScoreSharing
from .weights import normalized_entropy, sampling_weights

__all__ = ["Curriculum", "draw_without_replacement"]  # the latter from draws.py, for the loop without attach


class Curriculum:
    r"""
    The online curriculum of one training run, framework-free (NumPy only).

    It holds the per-row [`ScoreTable`], the difficulty derived from it (quantile ranks within groups, duplicates
    sharing one score), the target-difficulty schedule, the stream's layout and the training position reached, the
    replay buffer and its admission policy, and the list of weight factors (`factors`: task shares, duplicate
    weights, noise filter, revisit penalty, unscorable rows; see `curriculum.factors`), each owning its own state.
    A row's sampling weight is `mix(uniform, kernel(difficulty - target) x product of the factors)`. Everything else
    asks it:

    - [`observe`] folds in the per-row loss and confidence of one optimizer step (the same on every process);
    - [`draw`] draws a block of the sample stream at a stream position from a seeded generator;
    - [`progress`] and [`target`] give the schedule's view of a stream position;
    - [`metrics`] gives the `curriculum/*` metrics; [`state_dict`] / [`load_state_dict`] checkpoint the state;
    - [`noise_probability`] and [`data_map`] say which rows look like wrong answers, and the category of each row.

    Stream positions count samples since the start of training over all epochs and processes; optimizer step `k`
    has consumed the positions before [`position`]`(k) = k x global_batch`.

    Build it with [`from_arrays`] (any training loop) or [`from_dataset`] (a `datasets.Dataset`); under a
    `Trainer`, [`~curriculum.attach`] does it for you.

    Args:
        config ([`CurriculumConfig`]):
            The settings.
        num_rows (`int`):
            Rows of the training dataset.
        groups (`np.ndarray`, *optional*):
            Integer group (task) code per row, from 0; required by `group_column` settings.
        group_names (`list[str]`, *optional*):
            Name of each group code, for metrics.
        prior (`np.ndarray`, *optional*):
            Numeric per-row prior difficulty (higher = harder) for rows not yet trained on.
        reference (`np.ndarray`, *optional*):
            Per-row reference loss, for `signal="rho"`.
        sharing ([`~curriculum.sharing.ScoreSharing`], *optional*):
            Duplicate groups (and near-duplicate graph) of the rows; required unless `share_scores="none"`.
        copies_of (`np.ndarray`, *optional*):
            Per row, the first row of its group of copies for the duplicate weighting (`duplicate_key="prompt"`:
            the rows with its prompt); defaults to the duplicate groups of `sharing`.
        confidence_prior (`np.ndarray`, *optional*):
            Per-row offline confidence, for task balance before a task's rows are trained on.
        global_batch (`int`, *optional*, defaults to `1`):
            Samples per optimizer step over all processes and accumulation steps.
        max_steps (`int`, *optional*):
            Optimizer steps of the run; with `epochs`, sets the budget when `budget_samples` is not given.
        epochs (`float`, *optional*, defaults to `1.0`):
            Epochs of the run, used for the budget when `max_steps` is not given.
        unscorable (`np.ndarray`, *optional*):
            Boolean mask of the rows known to have no supervised token (every label is -100): they are never
            drawn (probability 0, also in the `uniform_mix` part). Rows found so during training are added by
            [`observe`].

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
        self,
        config: CurriculumConfig,
        num_rows: int,
        *,
        groups: np.ndarray | None = None,
        group_names: Sequence[str] | None = None,
        prior: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        sharing: ScoreSharing | None = None,
        copies_of: np.ndarray | None = None,
        confidence_prior: np.ndarray | None = None,
        global_batch: int = 1,
        max_steps: int | None = None,
        epochs: float = 1.0,
        unscorable: np.ndarray | None = None,
    ) -> None:
        self.layout = StreamLayout(config, num_rows, global_batch, max_steps, epochs)
        self.config = config
        self.scores = ScoreTable(num_rows, ema=config.ema)
        for key, values, argument in (("group_column", groups, "groups"), ("prior_column", prior, "prior"),
                                      ("reference_column", reference, "reference"),
                                      ("confidence_prior_column", confidence_prior, "confidence_prior")):
            if getattr(config, key) is not None and values is None:
                raise ValueError(f"{key}={getattr(config, key)!r} needs the per-row values: pass {argument}=... "
                                 "(from_dataset reads the column)")
        if config.share_scores != "none" and sharing is None:
            raise ValueError(
                f"share_scores={config.share_scores!r} needs the rows' content (texts=... in from_arrays); pass it, "
                "or set share_scores='none'"
            )
        self.groups = None if groups is None else narrow_codes(groups)
        self.num_groups = 0 if self.groups is None else int(self.groups.max()) + 1
        self.group_names = None if group_names is None else [str(name) for name in group_names]
        self.difficulty = Difficulty(config.signal, groups=self.groups, prior=prior, reference=reference, sharing=sharing)
        self.schedule = config.schedule_fn()
        rows = RowData(num_rows, self.groups, self.num_groups, sharing, copies_of, confidence_prior, unscorable,
                       self.refresh_steps)
        self.factors: dict[str, Factor] = build_factors(config, rows)
        self._unscorable = self.factors["unscorable"]
        if self._unscorable.mask is not None:
            self._drawable_changed()
        self.replay = None
        if config.replay_share > 0:
            self.replay = ReplayPolicy(config.replay_buffer_size, self.groups, config.replay_threshold,
                                       near_target=config.replay_value == "near_target", refresh_steps=self.refresh_steps)
        self.monitor = StreamMonitor()
        self.step = 0
        self._last: dict[str, Any] = {}

    # ------------------------------------------------------------------ builders

    @classmethod
    def from_arrays(
        cls,
        config: CurriculumConfig,
        num_rows: int,
        *,
        groups: Sequence | None = None,
        prior: Sequence[float] | None = None,
        reference: Sequence[float] | None = None,
        texts: Sequence[str] | None = None,
        prompts: Sequence[str] | None = None,
        confidence_prior: Sequence[float] | None = None,
        **layout: Any,
    ) -> "Curriculum":
        """Build from per-row arrays: `groups` are any hashable labels (coded by first appearance; missing labels,
        None or NaN, form one group named `"<missing>"`), `texts` the rows' contents for score sharing, `prompts`
        their prompts (for `duplicate_key="prompt"`; without them copies are counted by content). `layout` are the
        constructor's `global_batch`, `max_steps`, `epochs` and `unscorable`."""
        arrays = inputs.from_arrays(config, groups=groups, prior=prior, reference=reference, texts=texts,
                                    prompts=prompts, confidence_prior=confidence_prior)
        if layout.get("unscorable") is not None:
            layout["unscorable"] = np.asarray(layout["unscorable"], dtype=bool)
        return cls(config, num_rows, **arrays, **layout)

    @classmethod
    def from_dataset(cls, config: CurriculumConfig, dataset: Any, **layout: Any) -> "Curriculum":
        """Build from a dataset with named columns (a `datasets.Dataset`), reading the columns that `config` names
        through Arrow where its columns allow (the result is that of `from_arrays` on the same columns); `layout`
        are `global_batch`, `max_steps`, `epochs` and `unscorable` (see [`~curriculum.build_curriculum`], which finds
        the rows without a supervised label in a `labels` column).

        With several processes (`torch.distributed` initialised), the duplicate detection runs on rank 0 and its
        result is broadcast: every process must call this (as `attach` and `build_curriculum` do on each)."""
        return cls(config, len(dataset), **inputs.from_dataset(config, dataset), **layout)

    # ------------------------------------------------------------------ layout, positions and schedule

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
        if self.config.budget_unit == "unique_rows":
            return min(1.0, self.scores.num_seen / self.budget)
        return min(1.0, position / self.budget)

    def target(self, position: int) -> float:
        """Target difficulty quantile at a stream position."""
        return float(self.schedule(self.progress(position)))

    # ------------------------------------------------------------------ sampling

    @property
    def unscorable(self) -> np.ndarray:
        """Boolean mask of the rows known to have no supervised token (read-only; no memory while there is none)."""
        return self._unscorable.rows

    def factor(self, name: str) -> Factor | None:
        """The weight factor named `name` (`"tasks"`, `"duplicates"`, `"noise"`, `"revisit"`, `"unscorable"`), or None
        when the config leaves it off."""
        return self.factors.get(name)

    def weights(self, position: int) -> np.ndarray:
        """Probability of drawing each row in the block that starts at stream `position`."""
        return self._weights(position)[0]

    def _weights(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities of [`weights`] and the difficulty of every row they were computed from."""
        c = self.config
        difficulty = self.difficulty(self.scores)
        target = self.target(position)
        shares = product = drawable = None
        for factor in self.factors.values():
            part = factor.row_factor(self.scores)
            if part is not None:
                product = part if product is None else product * part
            shares = factor.shares(self.scores) if shares is None else shares
            drawable = factor.drawable() if drawable is None else drawable
        probs = sampling_weights(difficulty, target, c.kernel, c.width, c.uniform_mix,
                                 self.groups if shares is not None else None, shares, product, eligible=drawable)
        self._last = {"target": target, "entropy": normalized_entropy(probs), "shares": shares}
        return probs, difficulty

    def draw(
        self, position: int, size: int, rng: np.random.Generator, taken: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `size` rows of the stream block starting at `position`, which must start a global batch. Returns the
        rows and whether each came from the replay buffer: round(replay_share x global_batch) random slots of every
        global batch do, once the buffer holds a row.

        With `replacement=True` the draws are independent. Otherwise `taken` (a boolean mask of the rows, updated in
        place; default: none taken) holds the rows already drawn in the current pass: the block is a draw without
        replacement among the others (see [`draw_without_replacement`]), and a pass ends when every row that can be
        drawn has been. With `pass_order="shuffled"` (the default) a pass that the rest of the budget will complete
        anyway is drawn uniformly (shuffled, as the Trainer would): the weights then could only change when each row
        is trained, and ordering by them bunches the rows they disfavour at the end of every pass. They decide
        which rows a pass that the budget leaves unfinished trains on."""
        probs, difficulty = self._weights(position)
        if self.config.replacement:
            cdf = np.cumsum(probs, out=probs)  # in place: no second array of the dataset's size
            cdf /= cdf[-1]
            rows = np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), self.num_rows - 1)
        else:
            taken = np.zeros(self.num_rows, dtype=bool) if taken is None else taken
            budget_left = None  # the weights order every pass
            if self.config.pass_order == "shuffled" and self.config.budget_unit == "samples":
                budget_left = self.budget - position
            rows = draw_without_replacement(probs, size, rng, taken, budget_left)
        del probs
        replayed = np.zeros(size, dtype=bool)
        per_batch = round(self.config.replay_share * self.global_batch)
        if self.replay is not None and per_batch and len(self.replay):
            for start in range(0, size, self.global_batch):
                chosen = rng.choice(self.global_batch, size=per_batch, replace=False)
                replayed[start + chosen[chosen < size - start]] = True
            buffer = self.replay.rows()
            if not self.config.replacement:
                taken[rows[replayed]] = False  # drawn, then replaced by a replay: not trained in this pass
            rows[replayed] = buffer[rng.integers(0, buffer.size, int(replayed.sum()))]
        self.monitor.drawn(position, difficulty[rows])
        return rows, replayed

    def _sampled_difficulty(self, start: int, stop: int) -> tuple[float, int]:
        """Sum and count of the difficulty (when drawn) of the stream positions `start` to `stop - 1` still known."""
        total, count = 0.0, 0
        for begin, values in self._sampled:
            lo, hi = max(start, begin), min(stop, begin + values.size)
            if lo < hi:
                total += float(values[lo - begin : hi - begin].sum())
                count += hi - lo
        return total, count

    def freshness(self) -> np.ndarray:
        """Each row's factor exp(-revisit_penalty x v / max(1, v_mean)) for `revisit_penalty`: v the visits of its
        group of copies (the row alone without score sharing), v_mean the mean of v over the groups."""
        visits = self.scores.count.astype(np.float64)
        mean = float(visits.sum()) / self._distinct
        if self.copies_of is not None:
            visits = np.bincount(self.copies_of, weights=visits, minlength=self.num_rows)[self.copies_of]
        visits *= -self.config.revisit_penalty / max(1.0, mean)
        return np.exp(visits, out=visits)

    # ------------------------------------------------------------------ noise and the data map

    def noise_probability(self) -> np.ndarray:
        """Each row's probability of being a wrong answer (0 for rows with too few visits): the posterior of the
        high component of a two-component mixture on the config's `noise_signal` within its group."""
        return noise_posterior(self.scores, self.config.noise_signal, self.config.noise_min_visits, self.groups)

    def _categories(self, noise: np.ndarray) -> np.ndarray:
        t, duplicates = self.scores, self.factor("duplicates")
        return categorize(t.count, t.confidence, t.variability, noise, None if duplicates is None else duplicates.duplicate)

    def data_map(self) -> dict[str, np.ndarray]:
        """The live data map, per row: `category` (a name of `"easy"`, `"ambiguous"`, `"hard"`, `"suspected_noise"`,
        `"duplicate"`, `"never_trained"`), `noise` (probability of a wrong answer), `confidence` (running mean
        target-token probability) and `variability` (its standard deviation across visits), `loss` and `visits`."""
        t = self.scores
        noise = self.noise_probability()
        return {
            "category": np.asarray(CATEGORIES, dtype=object)[self._categories(noise)],
            "noise": noise,
            "confidence": t.confidence.astype(np.float64),
            "variability": t.variability.astype(np.float64),
            "loss": t.loss.astype(np.float64),
            "visits": t.count.astype(np.int64),
        }

    def observe(
        self,
        rows: np.ndarray,
        loss: np.ndarray,
        confidence: np.ndarray,
        step: int,
        replayed: np.ndarray | None = None,
        tokens: np.ndarray | None = None,
    ) -> None:
        """Fold in the observations of optimizer step `step`, in order (the same arrays on every process).

        Observations that cannot score their row are left out of the score table, the task progress and the replay:
        a non-finite loss or confidence (inf or NaN, usually an fp16 overflow) is counted in
        `curriculum/nonfinite_rows`; a row with no supervised token (`tokens` 0) is marked unscorable and never
        drawn again (`curriculum/unscorable_rows`).

        Args:
            rows (`np.ndarray`): row indices trained on.
            loss (`np.ndarray`), confidence (`np.ndarray`): their mean token NLL and target-token probability.
            step (`int`): the optimizer step (1 for the first).
            replayed (`np.ndarray`, *optional*): for metrics, whether each position the step consumed was a replay.
            tokens (`np.ndarray`, *optional*): each row's number of supervised tokens (0: the row has none).
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:  # the positions this step consumed: the global batch before position(step)
            self.monitor.trained(self.position(step) - self.global_batch, self.position(step))
        keep, changed = self._unscorable.screen(rows, loss, confidence, tokens, step)
        if changed:
            self._drawable_changed()
        if keep is not None:
            rows, loss, confidence = rows[keep], np.asarray(loss)[keep], np.asarray(confidence)[keep]
        first = self.scores.count[rows] == 0
        if first.any():  # a row twice in the step: its first occurrence only is a first visit
            once = np.zeros(rows.size, dtype=bool)
            once[np.unique(rows, return_index=True)[1]] = True
            first &= once
        observation = Observation(rows, np.asarray(loss), np.asarray(confidence), first, step)
        for factor in self.factors.values():
            factor.observe(observation)
        self.scores.update(rows, loss, confidence, step=step)
        self.step = step
        if self.replay is not None and (rows.size or keep is not None):
            if self.replay.due(step):
                self.replay.snapshot(self._replay_values(None))
            self.replay.admit(rows, self._replay_values(rows), self.target(self.position(step)))
        if replayed is not None:
            self.monitor.replays(replayed)

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

    # ------------------------------------------------------------------ metrics

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
        if self.replay is not None:
            out["curriculum/replay_buffer"] = len(self.replay)
        if self.scores.num_seen:
            for name, count in category_counts(self._categories(self.noise_probability())).items():
                out[f"curriculum/map/{name}"] = count
        for factor in self.factors.values():
            out.update(factor.metrics(self.group_names))
        return out

    @property
    def last_refresh(self) -> dict[str, Any]:
        """What the latest [`weights`] call used: `target`, `entropy` and task `shares` (the difficulty per row is not
        kept between refreshes: `curriculum.difficulty(curriculum.scores)` computes it)."""
        return dict(self._last)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as NumPy arrays: the score table, the replay buffer and snapshot, each factor's state, the
        difficulty of the rows drawn and not yet trained, the step reached and the stream layout."""
        state = {f"scores.{k}": v for k, v in self.scores.state_dict().items()}
        if self.replay is not None:
            state.update({f"replay.{k}": v for k, v in self.replay.state_dict().items()})
        for factor in self.factors.values():
            state.update(factor.state_dict())
        state.update(self.monitor.state_dict())
        state["step"] = np.array(self.step, dtype=np.int64)
        state["layout"] = np.array(self.layout.saved(), dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if self.replay is not None and "replay.buffer" not in state:
            raise ValueError("the checkpoint was saved without replay; resume with replay_share=0")
        self.scores.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("scores.")})
        if self.replay is not None:
            self.replay.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("replay.")})
        for factor in self.factors.values():
            factor.load_state_dict(state)
        self._drawable_changed()
        self.monitor.load_state_dict(state)
        self.step = int(state["step"])
        if "layout" in state:
            self.step = self.layout.continue_saved(self.step, *(int(v) for v in state["layout"]))
            for factor in self.factors.values():
                factor.set_refresh_steps(self.refresh_steps)
            if self.replay is not None:
                self.replay.refresh_steps = self.refresh_steps
