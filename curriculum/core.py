"""`Curriculum`: the single owner of the curriculum's state (scores, difficulty, schedule, sharing, tasks, replay)."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import columns
from .config import CurriculumConfig
from .datamap import CATEGORIES, categorize, category_counts
from .difficulty import Difficulty, encode_groups, group_names
from .draws import draw_without_replacement
from .noise import noise_probability, noise_signal
from .progress import TaskProgress
from .replay import ReplayPolicy
from .scores import ScoreTable
from .sharing import ScoreSharing, build_sharing, duplicate_groups
from .weights import normalized_entropy, sampling_weights, task_shares

__all__ = ["Curriculum", "draw_without_replacement"]  # the latter from draws.py, for the loop without attach

logger = logging.getLogger(__name__)

# Blocks of the stream whose drawn rows' difficulty is kept for the sampled-difficulty metric: more than the blocks
# drawn ahead of training.
_SAMPLED_BLOCKS = 64


class Curriculum:
    r"""
    The online curriculum of one training run, framework-free (NumPy only).

    It owns every piece of the curriculum's state: the per-row [`ScoreTable`], the difficulty derived from it
    (quantile ranks within groups, duplicates sharing one score), the target-difficulty schedule, the task shares,
    the replay buffer and its admission policy, and the training position reached. Everything else asks it:

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
        if not isinstance(global_batch, int) or isinstance(global_batch, bool) or global_batch <= 0:
            raise ValueError(f"global_batch should be a positive integer value, but got global_batch={global_batch!r}")
        self.config = config
        self.scores = ScoreTable(num_rows, ema=config.ema)
        _require(config.group_column, groups, "groups", "group_column")
        _require(config.prior_column, prior, "prior", "prior_column")
        _require(config.reference_column, reference, "reference", "reference_column")
        _require(config.confidence_prior_column, confidence_prior, "confidence_prior", "confidence_prior_column")
        if config.share_scores != "none" and sharing is None:
            raise ValueError(
                f"share_scores={config.share_scores!r} needs the rows' content (texts=... in from_arrays); pass it, "
                "or set share_scores='none'"
            )
        self.groups = None if groups is None else narrow_codes(groups)
        self.group_names = None if group_names is None else [str(name) for name in group_names]
        self.difficulty = Difficulty(config.signal, groups=self.groups, prior=prior, reference=reference, sharing=sharing)
        self.row_weights = None
        self.duplicate = None
        self.copies_of = None  # per row, the first row of its group of copies (the unit of the duplicate weighting)
        self._distinct = num_rows  # groups of copies
        if sharing is not None:
            self.duplicate = sharing.canonical != np.arange(num_rows)
            self.copies_of = first = sharing.canonical if copies_of is None else np.asarray(copies_of, dtype=np.int64)
            per_first = np.bincount(first, minlength=num_rows)
            self._distinct = int(np.count_nonzero(per_first))
            copies = per_first[first]
            # 1 / copies exactly for the default alpha = 1 (a power can differ in the last bit).
            alpha = config.duplicate_alpha
            self.row_weights = 1.0 / copies if alpha == 1.0 else copies.astype(np.float64) ** -alpha

        self.global_batch = global_batch
        self.epoch_length = math.ceil((config.samples_per_epoch or num_rows) / global_batch) * global_batch
        self.block_size = default_refresh_steps(config, self.epoch_length // global_batch) * global_batch
        self.budget = _budget(config, num_rows, self.epoch_length, global_batch, max_steps, epochs)
        self.schedule = config.schedule_fn()

        self.num_groups = 0 if self.groups is None else int(self.groups.max()) + 1
        self.task_prior = None
        if config.balances_tasks:
            if config.task_min_share * self.num_groups > 1.0:
                raise ValueError(
                    f"task_min_share={config.task_min_share} times {self.num_groups} tasks exceeds 1; use at most "
                    f"{1.0 / self.num_groups:.4f}"
                )
            if confidence_prior is not None:
                counts = np.bincount(self.groups, minlength=self.num_groups)
                offline = np.asarray(confidence_prior, dtype=np.float64)
                self.task_prior = np.bincount(self.groups, weights=offline, minlength=self.num_groups) / counts
        self.task_progress = None
        self.group_mass = None
        if config.balances_tasks and config.task_signal == "progress":
            # Each task's natural sampling mass: its rows, each weighing its duplicate weight.
            self.group_mass = np.bincount(self.groups, weights=self.row_weights, minlength=self.num_groups)
            self.task_progress = TaskProgress(
                self.group_mass, period=self.refresh_steps, gamma=config.task_gamma, min_share=config.task_min_share
            )

        # Rows that can never be scored (no supervised token), and the observations with a non-finite loss so far.
        self._unscorable: np.ndarray | None = None  # the mask, or None while there is none
        self.num_unscorable = 0
        self.nonfinite_rows = 0
        self._warned_nonfinite = False
        self._empty_groups: np.ndarray | None = None  # groups without a row that can be drawn
        if unscorable is not None:
            self._set_unscorable(_mask(unscorable, num_rows))
            if self.num_unscorable:
                logger.warning(
                    f"curriculum: {self.num_unscorable} of {num_rows} rows have no supervised token (every label is "
                    "-100); they are never drawn"
                )

        self.replay = None
        if config.replay_share > 0:
            self.replay = ReplayPolicy(
                config.replay_buffer_size,
                self.groups,
                config.replay_threshold,
                near_target=config.replay_value == "near_target",
                refresh_steps=self.refresh_steps,
            )
        self.step = 0
        self._last: dict[str, Any] = {}
        # (stream position, difficulty of each row drawn from it) of the latest blocks drawn, for the metric
        # `curriculum/sampled_difficulty`: a block's rows only, never an array of the dataset's size.
        self._sampled: deque[tuple[int, np.ndarray]] = deque(maxlen=_SAMPLED_BLOCKS)
        self._window = _Window()

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
        global_batch: int = 1,
        max_steps: int | None = None,
        epochs: float = 1.0,
        unscorable: Sequence[bool] | None = None,
    ) -> "Curriculum":
        """Build from per-row arrays: `groups` are any hashable labels (coded by first appearance; missing labels,
        None or NaN, form one group named `"<missing>"`), `texts` the rows' contents for score sharing, `prompts`
        their prompts (for `duplicate_key="prompt"`; without them copies are counted by content). The other
        arguments are those of the constructor."""
        group_codes = names = None
        if groups is not None:
            group_codes = encode_groups(groups)
            names = group_names(groups)
        sharing = None
        if config.share_scores != "none" and texts is not None:
            sharing = build_sharing(
                texts, near_duplicates=config.share_scores == "near_duplicates", threshold=config.near_duplicate_threshold
            )
        copies_of = None
        if sharing is not None and config.duplicate_key == "prompt" and prompts is not None:
            copies_of = duplicate_groups(prompts)
        return cls(
            config,
            num_rows,
            groups=group_codes,
            group_names=names,
            prior=None if prior is None else np.asarray(prior, dtype=np.float64),
            reference=None if reference is None else np.asarray(reference, dtype=np.float64),
            sharing=sharing,
            copies_of=copies_of,
            confidence_prior=None if confidence_prior is None else np.asarray(confidence_prior, dtype=np.float64),
            global_batch=global_batch,
            max_steps=max_steps,
            epochs=epochs,
            unscorable=None if unscorable is None else np.asarray(unscorable, dtype=bool),
        )

    @classmethod
    def from_dataset(cls, config: CurriculumConfig, dataset: Any, **kwargs: Any) -> "Curriculum":
        """Build from a dataset with named columns (a `datasets.Dataset`), reading the columns that `config` names;
        `kwargs` are `global_batch`, `max_steps`, `epochs` and `unscorable` (see [`~curriculum.build_curriculum`],
        which finds the rows without a supervised label in a `labels` column).

        With several processes (`torch.distributed` initialised), the duplicate detection runs on rank 0 and its
        result is broadcast: every process must call this (as `attach` and `build_curriculum` do on each)."""

        def numeric(key: str) -> np.ndarray | None:
            name = getattr(config, key)
            return None if name is None else columns.read_numbers(dataset, name, key)

        # A `datasets.Dataset` is read through Arrow where its columns allow (no Python list of a whole column, and
        # duplicates found with vectorised kernels); the results are those of `from_arrays` on the same columns.
        group_codes = names = None
        if config.group_column is not None:
            group_codes, names = columns.read_groups(dataset, config.group_column, "group_column")
        sharing = copies_of = None
        if config.share_scores == "near_duplicates":
            sharing = build_sharing(
                columns.contents(dataset, config.content_column),
                near_duplicates=True,
                threshold=config.near_duplicate_threshold,
            )
        elif config.share_scores != "none":
            sharing = ScoreSharing(columns.read_copies(dataset, config.content_column))
        if sharing is not None and config.duplicate_key == "prompt":
            copies_of = columns.read_prompt_copies(dataset)
        return cls(
            config,
            len(dataset),
            groups=group_codes,
            group_names=names,
            prior=numeric("prior_column"),
            reference=numeric("reference_column"),
            sharing=sharing,
            copies_of=copies_of,
            confidence_prior=numeric("confidence_prior_column"),
            **kwargs,
        )

    # ------------------------------------------------------------------ positions and schedule

    @property
    def num_rows(self) -> int:
        return len(self.scores)

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
        if self._unscorable is None:
            return np.broadcast_to(np.False_, (self.num_rows,))
        return self._unscorable

    def weights(self, position: int) -> np.ndarray:
        """Probability of drawing each row in the block that starts at stream `position`."""
        return self._weights(position)[0]

    def _weights(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The probabilities of [`weights`] and the difficulty of every row they were computed from."""
        c = self.config
        difficulty = self.difficulty(self.scores)
        target = self.target(position)
        shares = None
        if self.task_progress is not None:
            shares = self.task_progress.shares()
        elif c.balances_tasks:
            shares = task_shares(
                self.scores.confidence, self.groups, self.num_groups, c.task_gamma, c.task_min_share, self.task_prior
            )
        if shares is not None and self._empty_groups is not None:
            # A task whose every row is unscorable gets nothing; the others share its mass in proportion.
            shares = np.where(self._empty_groups, 0.0, shares)
            shares /= shares.sum()
        groups = self.groups if shares is not None else None
        row_weights = self.row_weights
        if c.noise_filter == "mixture":
            clean = 1.0 - self.noise_probability()
            row_weights = clean if row_weights is None else row_weights * clean
        if c.revisit_penalty > 0:
            fresh = self.freshness()
            row_weights = fresh if row_weights is None else row_weights * fresh
        probs = sampling_weights(
            difficulty, target, c.kernel, c.width, c.uniform_mix, groups, shares, row_weights,
            eligible=None if self._unscorable is None else ~self._unscorable,
        )
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
        self._sampled.append((position, np.asarray(difficulty[rows], dtype=np.float64)))
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
        high-loss component of a two-component mixture on the running loss within its group."""
        values, min_visits = noise_signal(self.scores, self.config.noise_signal, self.config.noise_min_visits)
        return noise_probability(values, self.scores.count, self.groups, min_visits)

    def _categories(self, noise: np.ndarray) -> np.ndarray:
        t = self.scores
        return categorize(t.count, t.confidence, t.variability, noise, self.duplicate)

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

    # ------------------------------------------------------------------ observations

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
            start = self.position(step) - self.global_batch
            total, count = self._sampled_difficulty(start, self.position(step))
            self._window.difficulty_sum += total
            self._window.difficulty_rows += count
            while self._sampled and self._sampled[0][0] + self._sampled[0][1].size <= start:
                self._sampled.popleft()  # consumed
        keep = self._scorable_observations(rows, loss, confidence, tokens, step)
        if keep is not None:
            rows, loss, confidence = rows[keep], np.asarray(loss)[keep], np.asarray(confidence)[keep]
        if self.task_progress is not None:
            first = self.scores.count[rows] == 0
            if first.any():  # a row twice in the step: its first occurrence only is a first visit
                once = np.zeros(rows.size, dtype=bool)
                once[np.unique(rows, return_index=True)[1]] = True
                first &= once
            self.task_progress.observe(self.groups[rows], first, loss, step)
        self.scores.update(rows, loss, confidence, step=step)
        self.step = step
        if self.replay is not None and (rows.size or keep is not None):
            if self.replay.due(step):
                self.replay.snapshot(self._replay_values(None))
            self.replay.admit(rows, self._replay_values(rows), self.target(self.position(step)))
        if replayed is not None:
            self._window.replayed += int(np.count_nonzero(replayed))
            self._window.consumed += len(replayed)

    def _scorable_observations(
        self, rows: np.ndarray, loss: np.ndarray, confidence: np.ndarray, tokens: np.ndarray | None, step: int
    ) -> np.ndarray | None:
        """Mark the rows without a supervised token unscorable and count the non-finite observations; returns the
        mask of the observations to fold in, or None when all are."""
        keep = np.isfinite(np.asarray(loss, dtype=np.float32)) & np.isfinite(np.asarray(confidence, dtype=np.float32))
        if tokens is not None:
            unsupervised = np.asarray(tokens) == 0
            if unsupervised.any():
                fresh = np.unique(rows[unsupervised & ~self.unscorable[rows]])
                if fresh.size:
                    mask = self.unscorable.copy()
                    mask[fresh] = True
                    self._set_unscorable(mask)
                keep &= ~unsupervised
                self._count_nonfinite(int(np.count_nonzero(~keep & ~unsupervised)), step)
                return keep
        if keep.all():
            return None
        self._count_nonfinite(int(np.count_nonzero(~keep)), step)
        return keep

    def _count_nonfinite(self, count: int, step: int) -> None:
        if not count:
            return
        self.nonfinite_rows += count
        if not self._warned_nonfinite:
            self._warned_nonfinite = True
            logger.warning(
                f"curriculum: {count} row observation(s) at step {step} had a non-finite loss or confidence "
                "(inf or NaN) and were not scored (counted in curriculum/nonfinite_rows; warned once). The usual "
                "cause is an fp16 overflow: train with bf16=True, or keep fp16 with its loss scaling and check the "
                "learning rate."
            )

    def _set_unscorable(self, mask: np.ndarray) -> None:
        """Make `mask` the unscorable rows and update what depends on it: the rows that can be drawn, the tasks'
        natural mass, the tasks left without rows and, with `budget_unit="unique_rows"`, the budget."""
        count = int(np.count_nonzero(mask))
        if count == self.num_rows:
            raise ValueError(
                f"all {self.num_rows} training rows have no supervised token (every label is -100), so there "
                "is nothing to train on or score: check that the data (or the collator) sets `labels` to the token "
                "ids to learn, with -100 only on the positions without loss"
            )
        self._unscorable = mask if count else None
        self.num_unscorable = count
        if self.groups is not None:
            drawable = np.bincount(self.groups[~mask], minlength=self.num_groups)
            self._empty_groups = drawable == 0 if (drawable == 0).any() else None
        if self.group_mass is not None:
            weights = self.row_weights if self._unscorable is None else ~self._unscorable * (
                1.0 if self.row_weights is None else self.row_weights
            )
            self.group_mass = np.bincount(self.groups, weights=weights, minlength=self.num_groups)
            self.task_progress.natural = self.group_mass
        if self.config.budget_unit == "unique_rows" and self.config.budget_samples is None:
            self.budget = self.num_rows - count

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
            "curriculum/nonfinite_rows": self.nonfinite_rows,
            "curriculum/unscorable_rows": self.num_unscorable,
        }
        if "entropy" in self._last:
            out["curriculum/entropy"] = self._last["entropy"]
        window = self._window
        if window.difficulty_rows:
            out["curriculum/sampled_difficulty"] = window.difficulty_sum / window.difficulty_rows
        if self.replay is not None:
            out["curriculum/replay_share"] = window.replayed / window.consumed if window.consumed else 0.0
            out["curriculum/replay_buffer"] = len(self.replay)
        if self.scores.num_seen:
            for name, count in category_counts(self._categories(self.noise_probability())).items():
                out[f"curriculum/map/{name}"] = count
        if self._last.get("shares") is not None and self.group_names is not None:
            for name, share in zip(self.group_names, self._last["shares"]):
                out[f"curriculum/task_share/{name}"] = float(share)
        self._window = _Window()
        return out

    @property
    def last_refresh(self) -> dict[str, Any]:
        """What the latest [`weights`] call used: `target`, `entropy` and task `shares` (the difficulty per row is not
        kept between refreshes: `curriculum.difficulty(curriculum.scores)` computes it)."""
        return dict(self._last)

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as NumPy arrays: the score table, the replay buffer and snapshot, the task progress, the
        unscorable rows, the count of non-finite observations and the step reached."""
        state = {f"scores.{k}": v for k, v in self.scores.state_dict().items()}
        if self.replay is not None:
            state.update({f"replay.{k}": v for k, v in self.replay.state_dict().items()})
        if self.task_progress is not None:
            state.update({f"tasks.{k}": v for k, v in self.task_progress.state_dict().items()})
        state["unscorable"] = self.unscorable.copy()
        state["nonfinite_rows"] = np.array(self.nonfinite_rows, dtype=np.int64)
        # The difficulty of the rows drawn and not yet consumed (the sampled-difficulty metric continues exactly).
        state["sampled.position"] = np.array([begin for begin, _ in self._sampled], dtype=np.int64)
        state["sampled.size"] = np.array([values.size for _, values in self._sampled], dtype=np.int64)
        state["sampled.difficulty"] = np.concatenate([values for _, values in self._sampled] or [np.zeros(0)])
        state["step"] = np.array(self.step, dtype=np.int64)
        state["layout"] = np.array([self.global_batch, self.block_size, self.epoch_length], dtype=np.int64)
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}

        if self.replay is not None and "replay.buffer" not in state:
            raise ValueError("the checkpoint was saved without replay; resume with replay_share=0")
        self.scores.load_state_dict(part("scores."))
        if self.replay is not None:
            self.replay.load_state_dict(part("replay."))
        if self.task_progress is not None:
            if "tasks.current" not in state and "tasks.progress" not in state:
                raise ValueError("the checkpoint was saved without task_signal='progress'; resume with the same setting")
            self.task_progress.load_state_dict(part("tasks."))
        if "unscorable" in state:  # absent from older checkpoints: keep the rows known now
            saved = np.asarray(state["unscorable"], dtype=bool)
            if saved.shape != self.unscorable.shape:
                raise ValueError(
                    f"the saved unscorable mask has {saved.size} rows but the training dataset has {self.num_rows}; "
                    "resume with the same training dataset"
                )
            self._set_unscorable(saved | self.unscorable)
        self.nonfinite_rows = int(state.get("nonfinite_rows", 0))
        self._sampled.clear()
        if "sampled.position" in state:
            bounds = np.cumsum(np.r_[0, state["sampled.size"]])
            difficulty = np.asarray(state["sampled.difficulty"], dtype=np.float64)
            for begin, lo, hi in zip(state["sampled.position"].tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
                self._sampled.append((begin, difficulty[lo:hi].copy()))
        self.step = int(state["step"])
        if "layout" in state:
            self._continue_layout(*(int(v) for v in state["layout"]))

    def _continue_layout(self, global_batch: int, block_size: int, epoch_length: int) -> None:
        """Continue the saved run's stream with this run's global batch (elastic resume): the same blocks and epochs
        in samples, so the same draws at the same stream positions; the step reached is counted in this run's
        batches. The new global batch must divide the saved block, epoch and position."""
        position = self.step * global_batch
        if (global_batch, block_size, epoch_length) == (self.global_batch, self.block_size, self.epoch_length):
            return
        uneven = {name: value for name, value in (("block", block_size), ("epoch", epoch_length),
                                                   ("stream position", position)) if value % self.global_batch}
        if uneven:
            fits = [b for b in range(1, block_size + 1)
                    if block_size % b == 0 and epoch_length % b == 0 and position % b == 0]
            raise ValueError(
                f"cannot continue the saved stream with a global batch of {self.global_batch} samples per optimizer "
                f"step: it does not divide the saved run's "
                + ", ".join(f"{name} of {value} samples" for name, value in uneven.items())
                + f" (saved with a global batch of {global_batch}). Use a global batch (per-device batch x processes x "
                f"gradient accumulation) among {fits}."
            )
        self.block_size, self.epoch_length = block_size, epoch_length
        self.step = position // self.global_batch
        if self.task_progress is not None:
            self.task_progress.period = self.refresh_steps
        if self.replay is not None:
            self.replay.refresh_steps = self.refresh_steps

    @property
    def refresh_steps(self) -> int:
        """Optimizer steps per block of the stream (`refresh_every_steps` or its default, see
        [`default_refresh_steps`]; after an elastic resume the saved block in this run's steps)."""
        return self.block_size // self.global_batch


# With refresh_every_steps unset: a recomputation at least every this many steps, and about this many per epoch.
MIN_REFRESH_STEPS = 10
REFRESHES_PER_EPOCH = 1000


def default_refresh_steps(config: CurriculumConfig, epoch_steps: int) -> int:
    """`config.refresh_every_steps`, or when unset `max(10, epoch_steps // 1000)`: a recomputation of the weights
    costs O(rows), so on large datasets one per thousandth of an epoch keeps its cost per step bounded.

    Example:

    ```python
    >>> default_refresh_steps(CurriculumConfig(), 400), default_refresh_steps(CurriculumConfig(), 390_625)
    (10, 390)
    >>> default_refresh_steps(CurriculumConfig(refresh_every_steps=5), 390_625)
    5
    ```
    """
    if config.refresh_every_steps is not None:
        return config.refresh_every_steps
    return max(MIN_REFRESH_STEPS, epoch_steps // REFRESHES_PER_EPOCH)


def narrow_codes(codes: Any) -> np.ndarray:
    """Integer group codes in the narrowest unsigned dtype that holds them (uint8 up to 256 groups), int64 when some
    are negative."""
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        codes = codes.astype(np.int64)
    if codes.size == 0 or int(codes.min()) < 0:
        return codes.astype(np.int64, copy=False)
    high = int(codes.max())
    for dtype in (np.uint8, np.uint16, np.uint32):
        if high <= np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)


class _Window:
    """Sums behind the window-mean metrics, reset by each `metrics()` call."""

    def __init__(self) -> None:
        self.difficulty_sum = 0.0
        self.difficulty_rows = 0
        self.replayed = 0
        self.consumed = 0


def _mask(values: np.ndarray, num_rows: int) -> np.ndarray:
    """`values` as a boolean mask of `num_rows` rows."""
    mask = np.asarray(values, dtype=bool)
    if mask.shape != (num_rows,):
        raise ValueError(f"unscorable should be a boolean mask of the {num_rows} rows, but got shape {mask.shape}")
    return mask.copy()


def _require(column: str | None, values: Any, argument: str, key: str) -> None:
    if column is not None and values is None:
        raise ValueError(f"{key}={column!r} needs the per-row values: pass {argument}=... (from_dataset reads the column)")


def _budget(
    config: CurriculumConfig, num_rows: int, epoch_length: int, global_batch: int, max_steps: int | None, epochs: float
) -> int:
    """Samples (or, with `budget_unit="unique_rows"`, distinct rows) that make progress 1."""
    if config.budget_samples is not None:
        return config.budget_samples
    if config.budget_unit == "unique_rows":
        return num_rows
    if max_steps is not None and max_steps > 0:
        return max_steps * global_batch
    return math.ceil(epochs * epoch_length / global_batch) * global_batch
