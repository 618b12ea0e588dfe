"""The learning benchmark's generated SFT testbed: pathological training pools, base-knowledge rows and two test
splits per task family (the generators are in `families.py`)."""

from __future__ import annotations

import random
import string
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "EXTRAPOLATION_LEVEL",
    "FAMILIES",
    "NOISE_KINDS",
    "NOISE_PLACES",
    "Family",
    "Pathologies",
    "TASKS",
    "TRAIN_LEVELS",
    "UNLEARNABLE_TASK",
    "make_base_rows",
    "make_example",
    "make_pool",
    "make_splits",
    "make_warmup",
]

from .families import (  # noqa: F401  (re-exported: the testbed's public names)
    _LETTERS,
    EXTRAPOLATION_LEVEL,
    FAMILIES,
    TASKS,
    TRAIN_LEVELS,
    UNLEARNABLE_TASK,
    Family,
    Row,
    family_of,
    make_example,
)

NOISE_KINDS = ("random", "plausible")
# Where the wrong answers sit: on any row, only on rows whose prompt occurs more than once in the pool, or only on
# rows whose prompt occurs once.
NOISE_PLACES = ("any", "repeated", "unrepeated")


def _unique_rows(task: str, level: int, count: int, rng: random.Random, exclude: set[str],
                 family: Family = FAMILIES["arith"], held_out: bool = False) -> list[Row]:  # fmt: skip
    """`count` rows with distinct prompts not in `exclude` (fewer if the level's prompt space runs out)."""
    rows, seen = [], set(exclude)
    for _ in range(count * 50):
        if len(rows) == count:
            break
        row = family.make_example(task, level, rng, held_out)
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            rows.append({**row, "task": task, "level": level, "noisy": False})
    return rows


def make_splits(per_cell: int = 40, seed: int = 0, family: str = "arith") -> tuple[list[Row], list[Row]]:
    """The test split (`per_cell` rows per task and training level) and the extrapolation split (`per_cell` rows
    per task at level 5, harder than any training row) of `family`. Prompts are distinct; the pool later excludes
    them (and the `words` family draws them from its test words, which no pool uses)."""
    fam = family_of(family)
    rng = random.Random(f"splits-{seed}" if family == "arith" else f"splits-{family}-{seed}")
    test = []
    for task in fam.tasks:
        for level in TRAIN_LEVELS:
            # A small prompt space (1-digit sums: 100 prompts): the test split takes at most a quarter of it.
            count = min(per_cell, fam.test_cap[(task, level)]) if (task, level) in fam.test_cap else per_cell
            test += _unique_rows(task, level, count, rng, set(), fam, held_out=True)
    extrapolation = [
        row for t in fam.tasks for row in _unique_rows(t, EXTRAPOLATION_LEVEL, per_cell, rng, set(), fam, True)
    ]
    return test, extrapolation


@dataclass(frozen=True)
class Pathologies:
    """Which pathologies of real SFT corpora the training pool has, each switchable on its own.

    Args:
        redundant (`float`): share of the pool that is rows repeated from a small set at `redundant_levels`; the
            other rows spread evenly over levels 1-4. 0 = every level equally common, no repeats.
        noise (`float`): share of rows with a wrong completion.
        imbalance (`tuple[float, ...]` or `None`): share of each task of the family, in its `tasks` order; `None` =
            equal shares.
        easy_distinct (`int`): distinct prompts per task and redundant level behind the redundant share (unless
            `copies` is given).
        noise_kind (`str`): `"random"`: a random string of the same length and alphabet (easy to spot by its loss);
            `"plausible"`: a wrong answer of the right format (a wrong digit, two letters swapped, the value of a
            distractor variable, ...: the family's per-task function), as real mislabelled rows look.
        redundant_levels (`tuple[int, ...]`): levels of the repeated rows, in equal parts.
        copies (`int` or `None`): copies of each repeated row on average; sets the number of distinct ones.
        unlearnable (`float`): share of the pool from [`UNLEARNABLE_TASK`]; the tasks share the rest.
        family (`str`): the generator, a name of [`FAMILIES`].
        noise_on (`str`): where the wrong answers sit ([`NOISE_PLACES`]): `"any"` row, only `"repeated"` rows (whose
            prompt occurs more than once in the pool) or only `"unrepeated"` ones.
        base (`bool`): the run starts from a "base model" that already knows levels 1-2 of the family's tasks (extra
            warm-up on clean rows of them, see `make_base_rows`), standing in for a pretrained model.
    """

    redundant: float = 0.6
    noise: float = 0.15
    imbalance: tuple[float, ...] | None = (0.4, 0.3, 0.22, 0.08)
    easy_distinct: int = 40
    noise_kind: str = "random"
    redundant_levels: tuple[int, ...] = (1,)
    copies: int | None = None
    unlearnable: float = 0.0
    family: str = "arith"
    noise_on: str = "any"
    base: bool = False

    def __post_init__(self) -> None:
        if self.noise_kind not in NOISE_KINDS:
            raise ValueError(f"noise_kind should be one of {list(NOISE_KINDS)}, but got {self.noise_kind!r}")
        if not set(self.redundant_levels) <= set(TRAIN_LEVELS):
            raise ValueError(f"redundant_levels should be among {list(TRAIN_LEVELS)}, got {self.redundant_levels}")
        family_of(self.family)
        if self.noise_on not in NOISE_PLACES:
            raise ValueError(f"noise_on should be one of {list(NOISE_PLACES)}, but got {self.noise_on!r}")

    @classmethod
    def clean(cls, family: str = "arith", base: bool = False) -> Pathologies:
        return cls(redundant=0.0, noise=0.0, imbalance=None, family=family, base=base)

    @property
    def tasks(self) -> tuple[str, ...]:
        """The learnable tasks of the family."""
        return FAMILIES[self.family].tasks

    def describe(self) -> str:
        shares = "equal" if self.imbalance is None else "/".join(f"{s:.0%}" for s in self.imbalance)
        levels = "+".join(map(str, self.redundant_levels))
        copies = f" (~{self.copies} copies each)" if self.copies else ""
        where = {"any": "", "repeated": " on repeated rows only", "unrepeated": " on unrepeated rows only"}
        parts = [
            f"family `{self.family}` ({', '.join(self.tasks)})",
            "base model knowing levels 1-2" if self.base else "no base knowledge",
            f"{self.redundant:.0%} repeated rows of level {levels}{copies}" if self.redundant else "no repeated rows",
            f"{self.noise:.0%} {self.noise_kind} wrong answers{where[self.noise_on]}" if self.noise
            else "no wrong answers",
            f"task shares {shares}",
        ]
        if self.unlearnable:
            parts.append(f"{self.unlearnable:.0%} unlearnable `{UNLEARNABLE_TASK}` rows")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_answer(completion: str, rng: random.Random) -> str:
    """A random string of the same length: digits for a number, lowercase letters for lowercase letters, else each
    character from its own class (digit, lowercase, uppercase; `-` kept)."""
    if completion.isdigit() or (completion.isalpha() and completion.islower()):
        alphabet = string.digits if completion.isdigit() else _LETTERS
        while True:
            wrong = "".join(rng.choice(alphabet) for _ in completion)
            if wrong != completion:
                return wrong
    classes = (string.digits, _LETTERS, string.ascii_uppercase)
    while True:
        wrong = "".join(next((rng.choice(k) for k in classes if c in k), c) for c in completion)
        if wrong != completion or not any(c.isalnum() for c in completion):
            return wrong


def make_pool(num_rows: int, pathologies: Pathologies, exclude: set[str], seed: int = 0) -> list[Row]:
    """The training pool: `num_rows` rows of the pathologies' family with columns `prompt`, `completion`, `task`,
    `level` and `noisy`, none of whose prompts is in `exclude` (the test splits). Row order is shuffled."""
    family = FAMILIES[pathologies.family]
    tasks = family.tasks
    rng = random.Random(f"pool-{seed}" if family.name == "arith" else f"pool-{family.name}-{seed}")
    shares = pathologies.imbalance or tuple(1.0 / len(tasks) for _ in tasks)
    if len(shares) != len(tasks) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"imbalance should give one share per task {list(tasks)} summing to 1, got {shares}")
    rows: list[Row] = []
    learnable = num_rows - round(num_rows * pathologies.unlearnable)
    for task, share in zip(tasks, shares):
        n_task = round(learnable * share)
        n_easy = round(n_task * pathologies.redundant)
        levels = pathologies.redundant_levels
        for i, level in enumerate(levels):
            n_level = n_easy // len(levels) + (i < n_easy % len(levels))
            if not n_level:
                continue
            distinct = max(1, round(n_level / pathologies.copies)) if pathologies.copies else pathologies.easy_distinct
            easy = _unique_rows(task, level, distinct, rng, exclude, family)
            rows += [dict(rng.choice(easy)) for _ in range(n_level)]
        rows += _spread_over_levels(task, n_task - n_easy, rng, exclude, family)
    rows += _spread_over_levels(UNLEARNABLE_TASK, num_rows - learnable, rng, exclude, family)
    noisy = round(len(rows) * pathologies.noise)
    if pathologies.noise_on == "any":
        eligible = rows
    else:
        counts = Counter(r["prompt"] for r in rows)
        eligible = [r for r in rows if (counts[r["prompt"]] > 1) == (pathologies.noise_on == "repeated")]
        if noisy > len(eligible):
            raise ValueError(f"{noisy} wrong answers asked on {pathologies.noise_on} rows, but the pool has only "
                             f"{len(eligible)} of them")
    for row in rng.sample(eligible, noisy):
        wrong = _random_answer(row["completion"], rng) if pathologies.noise_kind == "random" else family.plausible(row, rng)
        row["completion"], row["noisy"] = wrong, True
    rng.shuffle(rows)
    return rows


def _spread_over_levels(task: str, count: int, rng: random.Random, exclude: set[str],
                        family: Family = FAMILIES["arith"], levels: tuple[int, ...] = TRAIN_LEVELS) -> list[Row]:  # fmt: skip
    """`count` rows of `task` in equal parts over `levels`, distinct where the prompt space allows."""
    rows = []
    per_level = [count // len(levels) + (i < count % len(levels)) for i in range(len(levels))]
    for level, n in zip(levels, per_level):
        fresh = _unique_rows(task, level, n, rng, exclude, family)
        while len(fresh) < n:  # a small prompt space (1-digit sums): repeat its rows
            fresh.append(dict(rng.choice(fresh)))
        rows += fresh
    return rows


# Levels a base model knows (see `Pathologies.base`).
BASE_LEVELS = (1, 2)


def make_base_rows(num_rows: int, family: str, exclude: set[str], seed: int = 0) -> list[Row]:
    """Clean rows of levels 1-2 of every learnable task of `family`, in equal parts, none of whose prompts is in
    `exclude` (the test splits): what the "base model" of a `base=True` pool was trained on. Shuffled."""
    fam = family_of(family)
    rng = random.Random(f"base-{family}-{seed}")
    rows: list[Row] = []
    for i, task in enumerate(fam.tasks):
        n = num_rows // len(fam.tasks) + (i < num_rows % len(fam.tasks))
        rows += _spread_over_levels(task, n, rng, exclude, fam, BASE_LEVELS)
    rng.shuffle(rows)
    return rows


def make_warmup(num_rows: int, seed: int = 0) -> list[Row]:
    """Generic warm-up rows that teach the prompt/completion format and the end-of-sequence token, but none of the
    tasks: `"copy k3x:"` -> `"k3x"` for random strings of 1-8 letters and digits."""
    rng = random.Random(f"warmup-{seed}")
    alphabet = _LETTERS + string.digits
    rows = []
    for _ in range(num_rows):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        rows.append({"prompt": f"copy {s}:", "completion": s})
    return rows
