"""The Arrow fast path of `Curriculum.from_dataset` (a `datasets.Dataset`) gives exactly what the Python path gives."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasets import Dataset

from curriculum import Curriculum, CurriculumConfig
from curriculum import columns
from curriculum.difficulty import encode_groups, group_names
from curriculum.text import arrow_duplicate_codes, duplicate_groups, first_of_codes, first_of_digests

# Variants of a few texts that normalize_text maps together (case, whitespace runs, edge punctuation, NFKC), texts
# with nothing left after normalisation, and non-ASCII texts (which the fast path hands to normalize_text).
PIECES = [
    "What is 2 + 2?", "what is 2 + 2", "what is  2 + 2", "what is 2 + 2  ", "  WHAT is\t2 +  2 ?!",
    "What\x1cis 2 + 2", "What\x0bis 2 + 2.", "«What is 2 + 2»", "Ｗｈａｔ is 2 + 2", "What\xa0is 2 + 2",
    "What\u2003is 2 + 2", "$5 each", "$5 EACH!", "?!", "!?", "  ", "", "\t", "null", "Ünïcödé  text",
    "ünïcödé text.", "İstanbul", "i̇stanbul", "ΟΔΟΣ", "οδος", "οδοσ", "naïve café", "NAÏVE CAFÉ", "emoji 🙂",
    "emoji 🙂 ", "a_b", "_a_b_", "tab\tsep", "tab sep", "line\nbreak", "line break", "bell\x07", "x" * 300,
]


def make_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        prompt = None if rng.random() < 0.1 else rng.choice(PIECES)
        completion = None if rng.random() < 0.05 else rng.choice(PIECES[:12])
        task = rng.choice(["math", "code", None, "Math", "ünï"])
        rows.append(
            {
                "prompt": prompt,
                "completion": completion,
                "text": rng.choice(PIECES),
                "task": task,
                "task_id": None if rng.random() < 0.1 else rng.randrange(4),
                "task_float": rng.choice([0.5, -0.0, 0.0, float("nan"), None, 2.0]),
                "flag": rng.random() < 0.5,
                "prior": None if rng.random() < 0.1 else rng.random(),
                "level": rng.randrange(5),
            }
        )
    return rows


@pytest.fixture(scope="module")
def datasets() -> dict[str, Dataset]:
    base = Dataset.from_list(make_rows(600))
    return {
        "plain": base,
        "shuffled": base.shuffle(seed=3),
        "selected": base.select(list(range(500, 20, -7))),  # less than half the table: taken, then normalised
        "shuffled+selected": base.shuffle(seed=5).select(range(400)),  # most of it: normalised, then remapped
        "empty": base.select([]),
    }


KINDS = ["plain", "shuffled", "selected", "shuffled+selected", "empty"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", [None, "prompt", "text", "completion"])
def test_content_duplicates_match_the_python_path(datasets, kind, name):
    ds = datasets[kind]
    fast = columns.content_duplicates(ds, name)
    assert fast is not None
    np.testing.assert_array_equal(fast, duplicate_groups(columns.contents(ds, name)))


@pytest.mark.parametrize("kind", KINDS)
def test_prompt_duplicates_match_the_python_path(datasets, kind):
    ds = datasets[kind]
    np.testing.assert_array_equal(columns.prompt_duplicates(ds), duplicate_groups(columns.prompts(ds)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["task", "task_id", "task_float", "flag", "level"])
def test_group_codes_and_names_match_the_python_path(datasets, kind, name):
    ds = datasets[kind]
    codes, names = columns.arrow_groups(ds, name, "group_column")
    labels = columns.column(ds, name, "group_column")
    np.testing.assert_array_equal(codes, encode_groups(labels))
    assert names == group_names(labels)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["prior", "level", "flag", "task_float"])
def test_numeric_columns_match_the_python_path(datasets, kind, name):
    ds = datasets[kind]
    np.testing.assert_array_equal(columns.arrow_numeric(ds, name, "prior_column"), columns.numeric_column(ds, name, "x"))


def test_non_text_columns_and_plain_objects_take_the_python_path(datasets):
    ds = Dataset.from_dict({"input_ids": [[1, 2], [1, 2], [3]], "messages": [[{"role": "user", "content": "a"}]] * 3})
    assert columns.content_duplicates(ds, None) is None
    assert columns.prompt_duplicates(ds) is None
    assert columns.content_duplicates(ds, "missing") is None  # the Python path raises the error

    class Named(list):
        column_names = ["text"]

    assert columns.content_duplicates(Named(), None) is None
    assert columns.arrow_groups(ds, "input_ids", "group_column") is None


@pytest.mark.parametrize("kind", ["plain", "shuffled+selected"])
@pytest.mark.parametrize("duplicate_key", ["prompt", "content"])
def test_from_dataset_matches_from_arrays(datasets, kind, duplicate_key):
    ds = datasets[kind]
    config = CurriculumConfig(group_column="task", prior_column="prior", duplicate_key=duplicate_key,
                              share_scores="duplicates")
    fast = Curriculum.from_dataset(config, ds, global_batch=4)
    slow = Curriculum.from_arrays(
        config,
        len(ds),
        groups=ds["task"],
        prior=ds["prior"],
        texts=columns.contents(ds, None),
        prompts=columns.prompts(ds),
        global_batch=4,
    )
    np.testing.assert_array_equal(fast.groups, slow.groups)
    assert fast.group_names == slow.group_names
    np.testing.assert_array_equal(fast.factors["duplicates"].copies_of, slow.factors["duplicates"].copies_of)
    np.testing.assert_array_equal(fast.factors["duplicates"].duplicate, slow.factors["duplicates"].duplicate)
    np.testing.assert_array_equal(fast.factors["duplicates"].weights, slow.factors["duplicates"].weights)
    np.testing.assert_array_equal(fast.difficulty.sharing.canonical, slow.difficulty.sharing.canonical)
    np.testing.assert_array_equal(fast.difficulty.prior_rank, slow.difficulty.prior_rank)


def test_arrow_codes_over_chunks_and_blocks(monkeypatch):
    import pyarrow as pa

    import curriculum.text as text

    monkeypatch.setattr(text, "_ARROW_BLOCK", 7)
    rng = random.Random(1)
    texts = [rng.choice(PIECES) for _ in range(200)]
    chunked = pa.chunked_array([pa.array(texts[:50]), pa.array(texts[50:])])
    np.testing.assert_array_equal(first_of_codes(arrow_duplicate_codes(chunked)), duplicate_groups(texts))
    assert arrow_duplicate_codes(pa.array([], pa.string())).tolist() == []


def test_punctuation_only_contents_keep_their_newline_join():
    # Keyed by their raw text: "!\n !" and "! \n!" differ although joining with a space would make both "!  !".
    ds = Dataset.from_dict({"prompt": ["!", "! ", "!", "Hi", "hi "], "completion": [" !", "!", " !", " there", "there"]})
    fast = columns.content_duplicates(ds, None)
    np.testing.assert_array_equal(fast, duplicate_groups(columns.contents(ds, None)))
    assert fast.tolist() == [0, 1, 0, 3, 3]


def _digests(texts: list[str]) -> np.ndarray:
    import pyarrow as pa

    from curriculum.text import arrow_duplicate_digests

    return arrow_duplicate_digests(pa.array(texts, pa.string()))


def test_texts_that_normalise_alike_share_a_digest_and_others_do_not():
    spaced = "one  two   three\t\tfour\n\n" * 40  # over 64 runs of spaces in one block: the masked deletion
    alike = [
        ["Hello,  World!", "hello, world", "  HELLO,\n\tworld?! ", "Hello,\x0bWORLD.", "«Hello, World»"],
        [spaced, " ".join(spaced.split()), spaced.upper() + "!!"],
        ["?!", "?!"],  # nothing left: keyed by the raw text
        ["a" * 8 + "  " + "b" * 7, "A" * 8 + " " + "B" * 7],  # a 16-byte text: no padding
    ]
    different = [
        "hello, world", "hello world", "hello, word", "hello, world\0", "hello, world\0\0", "hello,, world",
        "abcdefghijklmnop", "ijklmnopabcdefgh", "abcdefgh", "abcdefgh\0", "?!", "!?", "", "a" * 8 + " " + "b" * 7,
        spaced.strip(), "ünïcödé text", "unicode text", "x" * 4096, "x" * 4095,
    ]
    texts = [t for group in alike for t in group] + different
    digests = _digests(texts)
    np.testing.assert_array_equal(first_of_codes(first_of_digests(digests)), duplicate_groups(texts))
    start = 0
    for group in alike:
        assert (digests[start : start + len(group)] == digests[start]).all(), group
        start += len(group)
    distinct = np.unique(digests[start:], axis=0)
    assert len(distinct) == len(different)  # every pair differs, in both 64-bit halves
    assert len(np.unique(digests[start:, 0])) == len(np.unique(digests[start:, 1])) == len(different)


def test_digest_groups_do_not_depend_on_the_block_size(monkeypatch):
    import curriculum.text as text

    rng = random.Random(2)
    texts = [rng.choice(PIECES) * rng.randrange(1, 40) for _ in range(300)]
    whole = _digests(texts)
    monkeypatch.setattr(text, "_BLOCK_BYTES", 100)  # a few rows per block
    np.testing.assert_array_equal(_digests(texts), whole)
    np.testing.assert_array_equal(first_of_digests(whole), duplicate_groups(texts))


def test_first_of_digests_when_first_halves_collide():
    # Rows 0, 2, 4 share a first half, rows 0 and 4 also the second: only they are copies.
    digests = np.array([[5, 1], [9, 9], [5, 2], [3, 3], [5, 1], [9, 9], [5, 2]], dtype=np.uint64)
    assert first_of_digests(digests).tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert first_of_digests(np.zeros((0, 2), dtype=np.uint64)).tolist() == []


@pytest.mark.parametrize("codes", [[3, 3, 1, 3, 1, 0], [7, -2, 7, 10**12, -2], [2**40, 5, 2**40]])
def test_first_of_codes(codes):
    first: dict[int, int] = {}
    expected = [first.setdefault(c, i) for i, c in enumerate(codes)]
    assert first_of_codes(np.array(codes)).tolist() == expected


@pytest.mark.slow
def test_from_dataset_needs_no_torch(tmp_path):
    # The framework-free core reads a dataset's columns (groups, duplicates by content and by prompt) without
    # importing torch (`datasets` only looks for it; blocking the import itself makes `datasets` fail).
    script = tmp_path / "no_torch.py"
    script.write_text(
        "import sys\n"
        "from datasets import Dataset\n"
        "from curriculum import Curriculum, CurriculumConfig\n"
        "rows = [{'prompt': p, 'completion': c, 'task': t} for p, c, t in [('a', 'x', 'u'), ('a', 'y', 'u'), ('b', 'x', 'v')]]\n"
        "config = CurriculumConfig(group_column='task', share_scores='duplicates')\n"
        "curriculum = Curriculum.from_dataset(config, Dataset.from_list(rows))\n"
        "assert 'torch' not in sys.modules\n"
        "print(curriculum.factors['duplicates'].weights.tolist(), curriculum.group_names)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[0.5, 0.5, 1.0] ['u', 'v']"
