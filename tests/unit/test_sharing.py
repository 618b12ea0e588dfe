"""Score sharing: normalisation, duplicate groups, MinHash, near-duplicate graph and `ScoreSharing.share`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curriculum import minhash
from curriculum.minhash import minhash_signatures, near_duplicate_neighbors
from curriculum.sharing import ScoreSharing, build_sharing
from curriculum.text import duplicate_groups, normalize_text
from processes import PYTHON, check_ok, run_process

nan = np.nan
assert_equal = np.testing.assert_array_equal

WORDS = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon "
    "phi chi psi omega apple banana cherry river mountain cloud"
).split()


def random_sentences(n: int, words: int = 14, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, words)) for _ in range(n)]


def shingles(text: str, k: int = 5) -> set[str]:
    t = normalize_text(text)
    return {t[i : i + k] for i in range(len(t) - k + 1)} or {t}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


# ---------------------------------------------------------------------------------------------------- normalisation


def test_normalize_text():
    assert normalize_text("  Hello,\n\tWORLD!! ") == "hello, world"
    assert normalize_text("«Bonjour  le   monde…»") == "bonjour le monde"
    assert normalize_text("Ｆｕｌｌ width") == "full width"  # NFKC
    assert normalize_text("$5 each") == "$5 each"  # symbols are not punctuation
    assert normalize_text("?!") == ""
    with pytest.raises(TypeError, match="should be strings"):
        normalize_text(["a list"])


def test_case_and_whitespace_variants_are_duplicates():
    texts = ["What is 2+2?\nAnswer: 4", "what is 2+2? answer: 4", "  WHAT  is 2+2?  Answer:\t4. ", "What is 2+3?"]
    assert_equal(duplicate_groups(texts), [0, 0, 0, 3])


def test_punctuation_only_texts_are_not_merged():
    # Nothing is left after normalising these; they group by their raw text instead of all becoming "".
    assert_equal(duplicate_groups(["?", "!", "?", "", ""]), [0, 1, 0, 3, 3])


# -------------------------------------------------------------------------------------------------- sharing scores


def test_one_trained_copy_lends_its_score():
    sharing_ = build_sharing(["Tell me a joke.", "unrelated", "tell me a JOKE"])
    assert_equal(sharing_.share(np.array([2.5, nan, nan])), [2.5, nan, 2.5])
    assert_equal(sharing_.share(np.array([nan, nan, 1.0])), [1.0, nan, 1.0])


def test_trained_copies_share_their_mean():
    sharing_ = build_sharing(["Tell me a joke.", "unrelated", "tell me a JOKE"])
    assert_equal(sharing_.share(np.array([1.0, 7.0, 3.0])), [2.0, 7.0, 2.0])


def test_share_leaves_input_alone_and_accepts_float32():
    signal = np.array([1.0, nan, 3.0], dtype=np.float32)
    out = ScoreSharing(np.array([0, 0, 2])).share(signal)
    assert out.dtype == np.float64
    assert_equal(out, [1.0, 1.0, 3.0])
    assert_equal(signal, np.array([1.0, nan, 3.0], dtype=np.float32))


def test_unseen_near_duplicate_inherits_and_unrelated_stays_nan():
    base = "Translate into French: the small red house stands by the quiet lake near the old mill"
    near = "Translate into French: the small red house stands by the quiet lake near the old mills"
    unrelated = "Compute the derivative of x squared times the sine of x with respect to x"
    texts = [base, near, unrelated, *random_sentences(30)]
    assert jaccard(base, near) > 0.9
    sharing_ = build_sharing(texts, near_duplicates=True, threshold=0.8)
    signal = np.full(len(texts), nan)
    signal[0] = 4.0
    signal[3:] = np.arange(len(texts) - 3, dtype=float)  # unrelated scored rows must not leak into row 2
    out = sharing_.share(signal)
    assert out[1] == 4.0
    assert np.isnan(out[2])
    assert_equal(out[3:], signal[3:])


def test_neighbour_scores_are_similarity_weighted_and_reach_copies():
    # Row 3 is unseen with scored neighbours 0 (weight 3) and 1 (weight 1); row 4 is a copy of row 3.
    canonical = np.array([0, 1, 2, 3, 3])
    indptr = np.array([0, 0, 0, 0, 2, 2])
    neighbors = (indptr, np.array([0, 1]), np.array([0.75, 0.25]))
    out = ScoreSharing(canonical, neighbors).share(np.array([1.0, 5.0, nan, nan, nan]))
    assert_equal(out, [1.0, 5.0, nan, 2.0, 2.0])
    # Own (group) scores win over neighbours'.
    out = ScoreSharing(canonical, neighbors).share(np.array([1.0, 5.0, nan, nan, 9.0]))
    assert_equal(out, [1.0, 5.0, nan, 9.0, 9.0])


def test_hops_pass_scores_along_a_chain():
    # A chain 0 - 1 - 2 - 3 with only row 0 scored: one hop reaches row 1, three hops reach row 3.
    indptr = np.array([0, 1, 3, 5, 6])
    indices = np.array([1, 0, 2, 1, 3, 2])
    graph = (indptr, indices, np.ones(6))
    signal = np.array([2.0, nan, nan, nan])
    assert_equal(ScoreSharing(np.arange(4), graph).share(signal), [2.0, 2.0, nan, nan])
    assert_equal(ScoreSharing(np.arange(4), graph, hops=3).share(signal), [2.0, 2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="hops"):
        ScoreSharing(np.arange(4), graph, hops=0)


def test_share_on_many_rows_matches_a_direct_computation():
    # 200k rows in copy pairs (2k, 2k + 1); each pair's first row has one edge, to the next pair's first row.
    rng = np.random.default_rng(0)
    n = 200_000
    canonical = np.repeat(np.arange(0, n, 2), 2)
    indptr = np.concatenate([[0], np.cumsum(np.arange(n) % 2 == 0)])
    indices = (np.arange(0, n, 2) + 2) % n
    signal = np.where(rng.random(n) < 0.1, rng.random(n), nan)
    out = ScoreSharing(canonical, (indptr, indices, np.ones(n // 2))).share(signal)
    # A pair's score is the mean of its trained copies, else (one hop) the next pair's score, else NaN.
    pairs = signal.reshape(-1, 2)
    trained = np.isfinite(pairs).sum(axis=1)
    own = np.where(trained > 0, np.nansum(pairs, axis=1) / np.maximum(trained, 1), nan)
    expected = np.repeat(np.where(trained > 0, own, np.roll(own, -1)), 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert np.isfinite(out).mean() > 3 * np.isfinite(signal).mean()


@pytest.mark.parametrize(
    ("canonical", "neighbors", "match"),
    [
        (np.array([0.0, 1.0]), None, "1-D integer array"),
        (np.array([0, 5]), None, r"in \[0, 2\)"),
        (np.array([1, 2, 2]), None, "should point to itself"),
        (np.array([0, 1]), (np.array([0, 1]), np.array([1]), np.array([1.0])), "indptr"),
        (np.array([0, 1]), (np.array([0, 1, 2]), np.array([1]), np.array([1.0])), "entries"),
        (np.array([0, 1]), (np.array([0, 1, 1]), np.array([1]), np.array([-1.0])), "non-negative"),
    ],
)
def test_bad_inputs_raise(canonical, neighbors, match):
    with pytest.raises(ValueError, match=match):
        ScoreSharing(canonical, neighbors)


def test_bad_signal_and_arguments_raise():
    with pytest.raises(ValueError, match="one value per row"):
        ScoreSharing(np.array([0, 1])).share(np.zeros(3))
    with pytest.raises(ValueError, match="divisor of num_perm"):
        near_duplicate_neighbors(["a"], num_perm=64, bands=10)
    with pytest.raises(ValueError, match="threshold"):
        near_duplicate_neighbors(["a"], threshold=0.0)
    with pytest.raises(ValueError, match="shingle"):
        minhash_signatures(["a"], shingle=0)


# -------------------------------------------------------------------------------------------------------- MinHash


def test_minhash_estimates_jaccard():
    pairs = [
        ("the quick brown fox jumps over the lazy dog", "the quick brown fox jumped over the lazy dog"),
        ("the quick brown fox jumps over the lazy dog", "a quick brown cat sleeps under the lazy dog"),
        ("alpha beta gamma delta epsilon zeta eta theta", "alpha beta gamma delta omega psi chi phi"),
        ("to be or not to be that is the question", "to be or not to be, that is the question!"),
        ("completely different words here", "nothing shared at all in this one"),
    ]
    for a, b in pairs:
        sig = minhash_signatures([a, b], num_perm=128)
        assert sig.shape == (2, 128) and sig.dtype == np.uint32
        assert abs((sig[0] == sig[1]).mean() - jaccard(a, b)) <= 0.15, (a, b)


def test_minhash_edge_cases():
    sig = minhash_signatures(["", "abc", "ABC", "abd", "abcde" * 40])
    assert (sig[0] == np.iinfo(np.uint32).max).all()  # no shingle
    assert_equal(sig[1], sig[2])  # short texts are one shingle, after normalisation
    assert not (sig[1] == sig[3]).any()
    assert minhash_signatures([]).shape == (0, 64)


def test_minhash_independent_of_blocks_and_chunks(monkeypatch):
    # A text longer than a processing block gives the same signature alone as among others ...
    long = " ".join(random_sentences(2000, seed=3))
    together = minhash_signatures(["short one", long, "another short"])
    assert_equal(together[1], minhash_signatures([long])[0])
    # ... and signatures do not depend on how texts are chunked.
    texts = random_sentences(300, seed=4) + ["", "ab", long]
    reference = minhash_signatures(texts)
    for chars in (1, 97, 5000):
        monkeypatch.setattr(minhash, "_CHUNK_CHARS", chars)
        assert_equal(minhash_signatures(texts), reference)


@pytest.mark.slow
def test_deterministic_within_and_across_processes():
    texts = random_sentences(50, seed=1) + ["Unicode: café, naïve, 日本語のテキスト"]
    sig = minhash_signatures(texts, num_perm=16)
    assert_equal(sig, minhash_signatures(texts, num_perm=16))
    graph = near_duplicate_neighbors(texts * 2, threshold=0.5)
    for a, b in zip(graph, near_duplicate_neighbors(texts * 2, threshold=0.5)):
        assert_equal(a, b)
    # A fresh interpreter with a different string-hash salt must give the same signatures.
    code = (
        "import json, sys; from curriculum.minhash import minhash_signatures; "
        "texts = json.loads(sys.stdin.read()); print(json.dumps(minhash_signatures(texts, num_perm=16).tolist()))"
    )
    for salt in ("1", "2"):
        result = run_process([PYTHON, "-c", code], 120, env={"PYTHONHASHSEED": salt}, input=json.dumps(texts))
        assert_equal(np.array(json.loads(check_ok(result)), dtype=np.uint32), sig)
    assert not (minhash_signatures(texts, num_perm=16, seed=1) == sig).all()


# ---------------------------------------------------------------------------------------------- near-duplicates


def test_neighbors_are_symmetric_capped_and_exclude_copies():
    base = "Summarise the following paragraph about the history of the printing press in Europe"
    variants = [base + suffix for suffix in ("", ".", " now", " please", " today", " briefly")]
    texts = [*variants, base.upper(), "Something else entirely, about cooking rice in a pot"]
    graph = near_duplicate_neighbors(texts, threshold=0.7, max_neighbors=3)
    indptr, indices, similarity = graph
    assert len(indptr) == len(texts) + 1
    edges = {(i, int(j)) for i in range(len(texts)) for j in indices[indptr[i] : indptr[i + 1]]}
    # Rows 1 and 6 are exact copies of row 0 (after normalisation): no edges of their own, none to them.
    assert not any(i in (1, 6) or j in (1, 6) for i, j in edges)
    assert not any(i == j for i, j in edges)
    assert np.diff(indptr).max() <= 3
    assert indptr[7] == indptr[8]  # the unrelated row has no neighbour
    assert (similarity >= 0.7).all() and (similarity <= 1.0).all()
    for i in range(len(texts)):  # most similar first
        assert (np.diff(similarity[indptr[i] : indptr[i + 1]]) <= 0).all()
    # Uncapped: the five distinct variants (rows 0, 2, 3, 4, 5) form a complete, symmetric graph.
    indptr, indices, _ = near_duplicate_neighbors(texts, threshold=0.7, max_neighbors=8)
    pairs = {(i, int(j)) for i in range(len(texts)) for j in indices[indptr[i] : indptr[i + 1]]}
    assert pairs == {(i, j) for i in (0, 2, 3, 4, 5) for j in (0, 2, 3, 4, 5) if i != j}


def test_scale_20k_texts():
    rng = np.random.default_rng(0)
    templates = [" ".join(rng.choice(WORDS, 12)) for _ in range(300)]
    texts = [f"{templates[i % 300]} item {rng.integers(10_000)}" for i in range(20_000)]
    texts[::10] = texts[1::10]  # some exact duplicates too
    sharing_ = build_sharing(texts, near_duplicates=True)
    signal = np.where(rng.random(len(texts)) < 0.05, rng.random(len(texts)), nan)
    out = sharing_.share(signal)
    assert out.shape == (20_000,)
    assert np.isfinite(out).sum() > np.isfinite(signal).sum()
    assert sharing_.num_groups < 20_000 and sharing_.num_edges > 0
