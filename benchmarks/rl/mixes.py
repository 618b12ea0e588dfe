"""The task mixes of the RL benchmark, each fixed in code as a tuning or a validation mix (before any run).

A mix is a family of the learning testbed (`benchmarks.learning.families`), the levels its prompts come from, and
equal shares of every (task, level) cell. Each mix gives a training pool of prompts (what GRPO draws from) and a fixed
held-out set of prompts (never in the pool, never in the warm-up), on which greedy exact match is measured.

Settings (learning rate, pool size, evaluation interval) may be chosen on the tuning mix only; the validation mixes
come from another generator (`skills`, not `arith`) and are reported, never tuned on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from benchmarks.learning.families import TRAIN_LEVELS, family_of

__all__ = ["MIXES", "ROLES", "Mix", "make_heldout", "make_pool", "make_warmup_rows", "mixes_of"]

ROLES = ("tuning", "validation")
Row = dict[str, Any]


@dataclass(frozen=True)
class Mix:
    """One task mix.

    Args:
        name (`str`): its name in results and reports.
        role (`str`): `"tuning"` or `"validation"`.
        family (`str`): the testbed family whose generator makes its prompts.
        levels (`tuple[int, ...]`): the levels of its prompts (1-4 are the warm-up's levels, 5 extrapolates).
    """

    name: str
    role: str
    family: str
    levels: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role should be one of {list(ROLES)}, but got role={self.role!r}")

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(task, level) for task in family_of(self.family).tasks for level in self.levels]

    def describe(self) -> str:
        tasks = ", ".join(family_of(self.family).tasks)
        return f"`{self.family}` ({tasks}), levels {', '.join(map(str, self.levels))}, equal shares"


MIXES: dict[str, Mix] = {
    m.name: m
    for m in (
        # ------------------------------------------------------------------ tuning
        Mix("arith_levels1to4", "tuning", "arith", (1, 2, 3, 4)),
        # ------------------------------------------------------------------ validation (another generator)
        Mix("skills_levels1to4", "validation", "skills", (1, 2, 3, 4)),
        Mix("skills_levels1to5", "validation", "skills", (1, 2, 3, 4, 5)),
    )
}


def mixes_of(role: str) -> list[str]:
    """Names of the mixes of `role`, in a fixed order."""
    if role not in ROLES:
        raise ValueError(f"role should be one of {list(ROLES)}, but got role={role!r}")
    return [name for name, mix in MIXES.items() if mix.role == role]


def _draw(family: str, cells: list[tuple[str, int]], per_cell: int, rng: random.Random, exclude: set[str],
          held_out: bool = False) -> list[Row]:
    """`per_cell` rows of distinct prompts per cell, none in `exclude` (fewer where a cell's prompt space is small)."""
    gen = family_of(family)
    rows, seen = [], set(exclude)
    for task, level in cells:
        got, attempts = 0, 0
        while got < per_cell and attempts < 50 * per_cell:
            attempts += 1
            ex = gen.make_example(task, level, rng, held_out)
            if ex["prompt"] in seen:
                continue
            seen.add(ex["prompt"])
            rows.append({"prompt": ex["prompt"], "answer": ex["completion"], "task": task, "level": level})
            got += 1
    return rows


def make_heldout(mix: Mix, per_cell: int) -> list[Row]:
    """The mix's fixed held-out prompts (seeded by the mix's name only)."""
    return _draw(mix.family, mix.cells, per_cell, random.Random(f"rl-heldout-{mix.name}"), set(), held_out=True)


def family_heldout(family: str, per_cell: int) -> set[str]:
    """The held-out prompts of every mix of `family`."""
    return {r["prompt"] for m in MIXES.values() if m.family == family for r in make_heldout(m, per_cell)}


def make_pool(mix: Mix, per_cell: int, heldout_per_cell: int) -> list[Row]:
    """The mix's training pool: `per_cell` prompts per cell, none held out by any mix of the family. Shuffled."""
    rows = _draw(mix.family, mix.cells, per_cell, random.Random(f"rl-pool-{mix.name}"),
                 family_heldout(mix.family, heldout_per_cell))
    random.Random(f"rl-pool-order-{mix.name}").shuffle(rows)
    return rows


def make_warmup_rows(family: str, num_rows: int, heldout_per_cell: int, seed: int = 0) -> list[Row]:
    """Supervised warm-up rows of `family` (levels 1-4, equal shares), none held out by any mix of the family.

    Prompts may recur (a level-1 cell has few prompts) and may coincide with pool prompts of small cells."""
    gen = family_of(family)
    exclude = family_heldout(family, heldout_per_cell)
    rng = random.Random(f"rl-warmup-{family}-{seed}")
    cells = [(t, lv) for t in gen.tasks for lv in TRAIN_LEVELS]
    rows = []
    while len(rows) < num_rows:
        task, level = cells[len(rows) % len(cells)]
        ex = gen.make_example(task, level, rng)
        if ex["prompt"] not in exclude:
            rows.append({"prompt": ex["prompt"], "answer": ex["completion"], "task": task, "level": level})
    rng.shuffle(rows)
    return rows
