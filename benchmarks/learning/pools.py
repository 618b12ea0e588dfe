"""The family of training pools of the learning protocol, each fixed in code as a tuning or a validation pool.

Defaults are chosen on the tuning pools only; the validation pools, fixed here before any tuning, report whether they
transfer. Every varied dimension appears in both roles: the generator (task family of `testbed.FAMILIES`: `arith`,
the original four tasks; `skills`, other generated character-level skills; `words`, real English words of the CMU
dictionary), base knowledge (a model that starts knowing levels 1-2 of the family's tasks, or one that knows none),
the kind of noise (random strings; plausible wrong answers of the right format), its rate (0, 15, 30%) and its
placement (on any row; only on repeated rows; only on unrepeated rows), duplication (none; a majority of repeated
rows, over one or two levels), task imbalance, a task the model cannot learn, and visits per row (a pool of
`pool_rows` rows gives about 1.3 to 5 visits per row over the small size's budgets; `scale=5` gives about 0.3 to 1).

The pools of the other generators and of base knowledge (names starting with `skills_`, `words_` and `arith_base_`)
were added after defaults had been chosen on `arith` pools, and fixed in their roles before any tuning on them: a
held-back pool of another generator had shown that validation pools of the tuning generator do not show transfer.
`skills_base_clean` (tuning) is the clean pool of the budget-vs-difficulty-band study with base knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass

from .testbed import Pathologies

__all__ = ["POOLS", "ROLES", "Pool", "pools_of"]

ROLES = ("tuning", "validation")
_RARE_TASK = (0.3125, 0.3125, 0.3125, 0.0625)  # the last task 5x rarer than the others
_SKEWED = (0.4, 0.3, 0.22, 0.08)
# 60% of the rows repeated ~30 times each over levels 1 and 2, the pathology of the held-back pools.
_DUP = dict(redundant=0.6, redundant_levels=(1, 2), copies=30)


@dataclass(frozen=True)
class Pool:
    """One training pool of the protocol.

    Args:
        name (`str`): its name in results and reports.
        role (`str`): `"tuning"` (defaults may be chosen on it) or `"validation"` (reported, never tuned on).
        pathologies ([`Pathologies`]): how it is generated.
        scale (`float`): its rows, as a multiple of the benchmark size's `pool_rows`.
    """

    name: str
    role: str
    pathologies: Pathologies
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role should be one of {list(ROLES)}, but got role={self.role!r}")

    def rows(self, pool_rows: int) -> int:
        """Rows of this pool for a benchmark size whose pools have `pool_rows` rows."""
        return round(pool_rows * self.scale)

    def describe(self) -> str:
        visits = "about 1 visit per row or fewer" if self.scale >= 5 else "several visits per row"
        return f"{self.pathologies.describe()}; {visits}"


POOLS: dict[str, Pool] = {
    p.name: p
    for p in (
        # ------------------------------------------------------------------ tuning
        Pool("pathological", "tuning", Pathologies()),
        Pool("clean", "tuning", Pathologies.clean()),
        Pool(
            "plausible15_skewed_unlearnable_1visit",
            "tuning",
            Pathologies(redundant=0.0, noise=0.15, noise_kind="plausible", imbalance=_SKEWED, unlearnable=0.15),
            scale=5.0,
        ),
        Pool(
            "plausible30_dup2levels",
            "tuning",
            Pathologies(redundant=0.6, noise=0.3, noise_kind="plausible", imbalance=None, redundant_levels=(1, 2),
                        copies=30),
        ),
        # Other generators and base knowledge (fixed before any tuning on them).
        Pool(
            "skills_plausible15_dup_noisyrepeated_rare",
            "tuning",
            Pathologies(**_DUP, noise=0.15, noise_kind="plausible", noise_on="repeated", imbalance=_RARE_TASK,
                        family="skills"),
        ),
        Pool(
            "words_base_plausible15_noisyunrepeated_1visit",
            "tuning",
            Pathologies(redundant=0.3, redundant_levels=(1, 2), copies=30, noise=0.15, noise_kind="plausible",
                        noise_on="unrepeated", imbalance=None, family="words", base=True),
            scale=5.0,
        ),
        Pool(
            "skills_base_clean_rare_unlearnable",
            "tuning",
            Pathologies(redundant=0.0, noise=0.0, imbalance=_RARE_TASK, unlearnable=0.15, family="skills", base=True),
        ),
        Pool("skills_base_clean", "tuning", Pathologies.clean(family="skills", base=True)),
        # ------------------------------------------------------------------ validation
        Pool(
            "plausible15_dup2levels_rare_unlearnable",
            "validation",
            Pathologies(redundant=0.6, noise=0.15, noise_kind="plausible", imbalance=_RARE_TASK,
                        redundant_levels=(1, 2), copies=30, unlearnable=0.15),
        ),
        Pool("random30_1visit", "validation", Pathologies(redundant=0.0, noise=0.3, imbalance=None), scale=5.0),
        Pool(
            "clean_skewed_unlearnable",
            "validation",
            Pathologies(redundant=0.0, noise=0.0, imbalance=tuple(reversed(_SKEWED)), unlearnable=0.2),
        ),
        Pool(
            "plausible15_dup2levels_1visit",
            "validation",
            Pathologies(redundant=0.6, noise=0.15, noise_kind="plausible", imbalance=None, redundant_levels=(1, 2),
                        copies=30),
            scale=5.0,
        ),
        Pool("clean_1visit", "validation", Pathologies.clean(), scale=5.0),
        # Other generators and base knowledge (fixed before any tuning on them).
        Pool(
            # It mirrors a held-back pool of another generator on which the curriculum lost.
            "skills_plausible15_dup_noisyunrepeated_rare_unlearnable",
            "validation",
            Pathologies(**_DUP, noise=0.15, noise_kind="plausible", noise_on="unrepeated", imbalance=_RARE_TASK,
                        unlearnable=0.15, family="skills"),
        ),
        Pool(
            "words_plausible15_dup_noisyrepeated_rare",
            "validation",
            Pathologies(**_DUP, noise=0.15, noise_kind="plausible", noise_on="repeated", imbalance=_RARE_TASK,
                        family="words"),
        ),
        Pool(
            "skills_base_plausible30_1visit",
            "validation",
            Pathologies(redundant=0.0, noise=0.3, noise_kind="plausible", imbalance=None, family="skills", base=True),
            scale=5.0,
        ),
        Pool(
            "arith_base_plausible15_dup_noisyunrepeated_rare_unlearnable",
            "validation",
            Pathologies(**_DUP, noise=0.15, noise_kind="plausible", noise_on="unrepeated", imbalance=_RARE_TASK,
                        unlearnable=0.15, family="arith", base=True),
        ),
    )
}


def pools_of(role: str) -> list[str]:
    """Names of the pools of `role`, in a fixed order."""
    if role not in ROLES:
        raise ValueError(f"role should be one of {list(ROLES)}, but got role={role!r}")
    return [name for name, pool in POOLS.items() if pool.role == role]
