"""The learning benchmark's generated SFT testbed: four graded tasks, a pathological training pool and two test splits."""

from __future__ import annotations

import hashlib
import random
import string
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "EXTRAPOLATION_LEVEL",
    "NOISE_KINDS",
    "Pathologies",
    "TASKS",
    "TRAIN_LEVELS",
    "UNLEARNABLE_TASK",
    "make_example",
    "make_pool",
    "make_splits",
    "make_warmup",
]

TASKS = ("add", "sort", "reverse", "lookup")
TRAIN_LEVELS = (1, 2, 3, 4)
EXTRAPOLATION_LEVEL = 5
# A task no model of the benchmark's sizes can learn: the answer is a keyed hash of the prompt (consistent, so not
# noise, but without structure). It appears in pools only, never in the test splits.
UNLEARNABLE_TASK = "hash"
NOISE_KINDS = ("random", "plausible")
_LETTERS = string.ascii_lowercase


def make_example(task: str, level: int, rng: random.Random) -> dict[str, str]:
    """One prompt/completion row of `task` at difficulty `level` (1 = easiest). Each level adds one unit of the
    same skill to the one below, so that easier rows teach what harder ones need:

    - `add`: `level`-digit + `level`-digit integers, `"38+45="` -> `"83"`;
    - `sort`: `level + 2` letters in alphabetical order, `"sort dbe:"` -> `"bde"`;
    - `reverse`: `level + 2` letters backwards, `"rev dbe:"` -> `"ebd"`;
    - `lookup`: follow a chain of `level` variable assignments (among two distractors) to a two-digit value,
      `"c=b,a=47,d=19,b=a c?"` -> `"47"` (level 2);
    - `hash` ([`UNLEARNABLE_TASK`]): two letters given by a keyed hash of `level + 2` letters, `"hash dbe:"` -> `"qk"`.
    """
    if task == "add":
        low = 10 ** (level - 1) if level > 1 else 0
        a, b = rng.randrange(low, 10**level), rng.randrange(low, 10**level)
        return {"prompt": f"{a}+{b}=", "completion": str(a + b)}
    if task in ("sort", "reverse"):
        s = "".join(rng.choice(_LETTERS) for _ in range(level + 2))
        if task == "sort":
            return {"prompt": f"sort {s}:", "completion": "".join(sorted(s))}
        return {"prompt": f"rev {s}:", "completion": s[::-1]}
    if task == UNLEARNABLE_TASK:
        s = "".join(rng.choice(_LETTERS) for _ in range(level + 2))
        digest = hashlib.blake2b(s.encode(), key=b"unlearnable", digest_size=2).digest()
        return {"prompt": f"hash {s}:", "completion": "".join(_LETTERS[b % 26] for b in digest)}
    if task == "lookup":
        names = rng.sample(_LETTERS, level + 2)
        chain, distractors = names[:level], names[level:]
        value = f"{rng.randrange(10, 100)}"
        assignments = [f"{chain[0]}={value}"] + [f"{chain[i]}={chain[i - 1]}" for i in range(1, level)]
        assignments += [f"{name}={rng.randrange(10, 100)}" for name in distractors]
        rng.shuffle(assignments)
        return {"prompt": f"{','.join(assignments)} {chain[-1]}?", "completion": value}
    raise ValueError(f"task should be one of {list(TASKS)}, but got task={task!r}")


def _unique_rows(task: str, level: int, count: int, rng: random.Random, exclude: set[str]) -> list[dict[str, Any]]:
    """`count` rows with distinct prompts not in `exclude` (fewer if the level's prompt space runs out)."""
    rows, seen = [], set(exclude)
    for _ in range(count * 50):
        if len(rows) == count:
            break
        row = make_example(task, level, rng)
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            rows.append({**row, "task": task, "level": level, "noisy": False})
    return rows


def make_splits(per_cell: int = 40, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The test split (`per_cell` rows per task and training level) and the extrapolation split (`per_cell` rows
    per task at level 5, harder than any training row). Prompts are distinct; the pool later excludes them."""
    rng = random.Random(f"splits-{seed}")
    test = []
    for task in TASKS:
        for level in TRAIN_LEVELS:
            # Level 1 of `add` has only 100 prompts: the test split takes at most a quarter of them.
            count = min(per_cell, 25) if (task, level) == ("add", 1) else per_cell
            test += _unique_rows(task, level, count, rng, set())
    extrapolation = [row for t in TASKS for row in _unique_rows(t, EXTRAPOLATION_LEVEL, per_cell, rng, set())]
    return test, extrapolation


@dataclass(frozen=True)
class Pathologies:
    """Which pathologies of real SFT corpora the training pool has, each switchable on its own.

    Args:
        redundant (`float`): share of the pool that is rows repeated from a small set at `redundant_levels`; the
            other rows spread evenly over levels 1-4. 0 = every level equally common, no repeats.
        noise (`float`): share of rows with a wrong completion.
        imbalance (`tuple[float, ...]` or `None`): share of each task in `TASKS` order; `None` = equal shares.
        easy_distinct (`int`): distinct prompts per task and redundant level behind the redundant share (unless
            `copies` is given).
        noise_kind (`str`): `"random"`: a random string of the same length and alphabet (easy to spot by its loss);
            `"plausible"`: a wrong answer of the right format (a wrong digit, two letters swapped, the value of a
            distractor variable), as real mislabelled rows look.
        redundant_levels (`tuple[int, ...]`): levels of the repeated rows, in equal parts.
        copies (`int` or `None`): copies of each repeated row on average; sets the number of distinct ones.
        unlearnable (`float`): share of the pool from [`UNLEARNABLE_TASK`]; the tasks share the rest.
    """

    redundant: float = 0.6
    noise: float = 0.15
    imbalance: tuple[float, ...] | None = (0.4, 0.3, 0.22, 0.08)
    easy_distinct: int = 40
    noise_kind: str = "random"
    redundant_levels: tuple[int, ...] = (1,)
    copies: int | None = None
    unlearnable: float = 0.0

    def __post_init__(self) -> None:
        if self.noise_kind not in NOISE_KINDS:
            raise ValueError(f"noise_kind should be one of {list(NOISE_KINDS)}, but got {self.noise_kind!r}")
        if not set(self.redundant_levels) <= set(TRAIN_LEVELS):
            raise ValueError(f"redundant_levels should be among {list(TRAIN_LEVELS)}, got {self.redundant_levels}")

    @classmethod
    def clean(cls) -> Pathologies:
        return cls(redundant=0.0, noise=0.0, imbalance=None)

    def describe(self) -> str:
        shares = "equal" if self.imbalance is None else "/".join(f"{s:.0%}" for s in self.imbalance)
        levels = "+".join(map(str, self.redundant_levels))
        copies = f" (~{self.copies} copies each)" if self.copies else ""
        parts = [
            f"{self.redundant:.0%} repeated rows of level {levels}{copies}" if self.redundant else "no repeated rows",
            f"{self.noise:.0%} {self.noise_kind} wrong answers" if self.noise else "no wrong answers",
            f"task shares {shares}",
        ]
        if self.unlearnable:
            parts.append(f"{self.unlearnable:.0%} unlearnable `{UNLEARNABLE_TASK}` rows")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _random_answer(completion: str, rng: random.Random) -> str:
    alphabet = string.digits if completion.isdigit() else _LETTERS
    while True:
        wrong = "".join(rng.choice(alphabet) for _ in completion)
        if wrong != completion:
            return wrong


def _plausible_answer(row: dict[str, Any], rng: random.Random) -> str:
    """A wrong answer of the right format: a distractor's value (`lookup`), two adjacent different letters swapped
    (`sort`, `reverse`), else one digit or letter changed (`add`, `hash`, and rows whose letters are all equal)."""
    right = row["completion"]
    if row["task"] == "lookup":
        values = {item.split("=")[1] for item in row["prompt"].rstrip("?").split(" ")[0].split(",")} - {right}
        values = sorted(v for v in values if v.isdigit())
        if values:
            return rng.choice(values)
    if row["task"] in ("sort", "reverse"):
        swaps = [i for i in range(len(right) - 1) if right[i] != right[i + 1]]
        if swaps:
            i = rng.choice(swaps)
            return right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    alphabet = string.digits if right.isdigit() else _LETTERS
    i = rng.randrange(len(right))
    choices = [c for c in alphabet if c != right[i] and not (c == "0" and i == 0 and len(right) > 1)]
    return right[:i] + rng.choice(choices) + right[i + 1 :]


def make_pool(num_rows: int, pathologies: Pathologies, exclude: set[str], seed: int = 0) -> list[dict[str, Any]]:
    """The training pool: `num_rows` rows with columns `prompt`, `completion`, `task`, `level` and `noisy`, none
    of whose prompts is in `exclude` (the test splits). Row order is shuffled."""
    rng = random.Random(f"pool-{seed}")
    shares = pathologies.imbalance or tuple(1.0 / len(TASKS) for _ in TASKS)
    if len(shares) != len(TASKS) or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"imbalance should give one share per task {list(TASKS)} summing to 1, got {shares}")
    rows: list[dict[str, Any]] = []
    learnable = num_rows - round(num_rows * pathologies.unlearnable)
    for task, share in zip(TASKS, shares):
        n_task = round(learnable * share)
        n_easy = round(n_task * pathologies.redundant)
        levels = pathologies.redundant_levels
        for i, level in enumerate(levels):
            n_level = n_easy // len(levels) + (i < n_easy % len(levels))
            if not n_level:
                continue
            distinct = max(1, round(n_level / pathologies.copies)) if pathologies.copies else pathologies.easy_distinct
            easy = _unique_rows(task, level, distinct, rng, exclude)
            rows += [dict(rng.choice(easy)) for _ in range(n_level)]
        rows += _spread_over_levels(task, n_task - n_easy, rng, exclude)
    rows += _spread_over_levels(UNLEARNABLE_TASK, num_rows - learnable, rng, exclude)
    wrong = _random_answer if pathologies.noise_kind == "random" else _plausible_answer
    for row in rng.sample(rows, round(len(rows) * pathologies.noise)):
        row["completion"], row["noisy"] = wrong(row if wrong is _plausible_answer else row["completion"], rng), True
    rng.shuffle(rows)
    return rows


def _spread_over_levels(task: str, count: int, rng: random.Random, exclude: set[str]) -> list[dict[str, Any]]:
    """`count` rows of `task` in equal parts over the training levels, distinct where the prompt space allows."""
    rows = []
    per_level = [count // len(TRAIN_LEVELS) + (i < count % len(TRAIN_LEVELS)) for i in range(len(TRAIN_LEVELS))]
    for level, n in zip(TRAIN_LEVELS, per_level):
        fresh = _unique_rows(task, level, n, rng, exclude)
        while len(fresh) < n:  # a small prompt space (1-digit sums): repeat its rows
            fresh.append(dict(rng.choice(fresh)))
        rows += fresh
    return rows


def make_warmup(num_rows: int, seed: int = 0) -> list[dict[str, Any]]:
    """Generic warm-up rows that teach the prompt/completion format and the end-of-sequence token, but none of the
    tasks: `"copy k3x:"` -> `"k3x"` for random strings of 1-8 letters and digits."""
    rng = random.Random(f"warmup-{seed}")
    alphabet = _LETTERS + string.digits
    rows = []
    for _ in range(num_rows):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        rows.append({"prompt": f"copy {s}:", "completion": s})
    return rows
