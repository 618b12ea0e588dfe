"""Offline hardness scorers (`curriculum.scoring`) and the `curriculum score` / `select` commands."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from datasets import Dataset

from curriculum.cli import main
from curriculum.scoring import (
    cluster_hardness,
    irei,
    kmeans,
    lm_scores,
    load_rows,
    nearest_neighbors,
    save_rows,
    score_dataset,
    select_top,
    silhouette,
    tfidf_vectors,
)
from curriculum.scoring.tfidf import TfidfMatrix, words
from curriculum.toy import make_graded_dataset, make_tiny_model
from processes import PYTHON, check_ok, run_process

@pytest.fixture(scope="module")
def model(tokenizer):
    return make_tiny_model(len(tokenizer), seed=0).eval()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, model, tokenizer):
    path = tmp_path_factory.mktemp("tiny_model")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def direct_completion_loss(model, tokenizer, context: str, completion: str) -> tuple[float, float]:
    """Mean NLL and mean probability of completion + EOS after `context`, one unpadded forward pass."""
    context_ids = tokenizer(context)["input_ids"]
    target_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = torch.tensor([context_ids + target_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].double()
    start = len(context_ids)
    logp = torch.log_softmax(logits[start - 1 : -1], dim=-1).gather(1, torch.tensor(target_ids)[:, None])[:, 0]
    return float(-logp.mean()), float(logp.exp().mean())


def dense_to_matrix(rows: np.ndarray) -> TfidfMatrix:
    """A `TfidfMatrix` holding the given dense rows as they are."""
    indptr, indices, data = [0], [], []
    for row in rows:
        nz = np.flatnonzero(row)
        indices.extend(nz.tolist())
        data.extend(row[nz].tolist())
        indptr.append(len(indices))
    terms = [str(j) for j in range(rows.shape[1])]
    return TfidfMatrix(np.array(indptr), np.array(indices, dtype=np.int64), np.array(data), terms)


def direct_silhouette(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rousseeuw's silhouette with the cosine distance, pair by pair."""
    n = len(labels)
    unit = [v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v for v in vectors]
    d = np.array([[1.0 - float(unit[i] @ unit[j]) for j in range(n)] for i in range(n)])
    s = np.zeros(n)
    for i in range(n):
        same = [j for j in range(n) if labels[j] == labels[i] and j != i]
        if not same:
            continue
        a = np.mean(d[i, same])
        b = min(np.mean(d[i, labels == c]) for c in set(labels.tolist()) if c != labels[i])
        s[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return s


# ---------------------------------------------------------------------------------------------------- length (IREI)


def test_irei_matches_hand_computation():
    prompts, completions = ["a b", "a", "a b c d", ""], ["x", "x y z", "x y", "x y"]
    # words: I = 2, 1, 4, 0 and R = 1, 3, 2, 2 -> total = 3, 4, 6, 2; ratio = R / max(I, 1) = 0.5, 3, 0.5, 2.
    # Quantile ranks: total -> 1/3, 2/3, 1, 0; ratio -> 1/6, 1, 1/6, 2/3 (the two 0.5 share rank (0 + 1) / 2 / 3).
    expected_rank = [(1 / 3 + 1 / 6) / 2, (2 / 3 + 1) / 2, (1 + 1 / 6) / 2, (0 + 2 / 3) / 2]
    np.testing.assert_allclose(irei(prompts, completions), expected_rank, atol=1e-12)
    # Min-max: total -> (t - 2) / 4 = 0.25, 0.5, 1, 0; ratio -> (r - 0.5) / 2.5 = 0, 1, 0, 0.6.
    expected_minmax = [0.125, 0.75, 0.5, 0.3]
    np.testing.assert_allclose(irei(prompts, completions, normalization="minmax"), expected_minmax, atol=1e-12)


def test_irei_counts_tokens_with_a_tokenizer(tokenizer):
    # The toy tokenizer has one token per character: I = 4, 2, 2 and R = 1, 6, 2.
    prompts, completions = ["1+1=", "ab", "cd"], ["2", "abcdef", "xy"]
    # total = 5, 8, 4 -> ranks 0.5, 1, 0; ratio = 0.25, 3, 1 -> ranks 0, 1, 0.5.
    np.testing.assert_allclose(irei(prompts, completions, tokenizer=tokenizer), [0.25, 1.0, 0.25], atol=1e-12)
    # In words, each text is one word: every total is 2 and every ratio 1, so all rows tie at 0.5.
    np.testing.assert_allclose(irei(prompts, completions), [0.5, 0.5, 0.5])


def test_irei_errors():
    with pytest.raises(ValueError, match=r"should be one of \['rank', 'minmax'\], but got normalization='z'"):
        irei(["a"], ["b"], normalization="z")
    with pytest.raises(ValueError, match="same length"):
        irei(["a", "b"], ["c"])


# ------------------------------------------------------------------------------------ TF-IDF, k-means, silhouette


def test_tfidf_matches_hand_computation():
    x = tfidf_vectors(["a b a", "a c"])
    assert x.terms == ["a", "b", "c"]
    # n = 2; df(a) = 2 -> idf 1; df(b) = df(c) = 1 -> idf ln(3/2) + 1.
    idf = math.log(1.5) + 1
    row0 = np.array([2.0, idf, 0.0])
    row1 = np.array([1.0, 0.0, idf])
    dense = x.rows_dense([0, 1])
    np.testing.assert_allclose(dense, [row0 / np.linalg.norm(row0), row1 / np.linalg.norm(row1)], atol=1e-12)
    assert words("Rev abc: 12+7=") == ["rev", "abc", "12", "7"]
    assert tfidf_vectors(["x y z", "x", "y"], max_features=2).terms == ["x", "y"]


def test_silhouette_matches_hand_computation():
    r = 1 / math.sqrt(2)
    # x0 = e1, x1 = (e1 + e2)/sqrt(2), x2 = e2; clusters {0, 1}, {2}.
    # Row 0: a = d(0,1) = 1 - r, b = d(0,2) = 1 -> s = (1 - (1 - r)) / 1 = r.
    # Row 1: a = d(1,0) = 1 - r, b = d(1,2) = 1 - r -> s = 0. Row 2 is alone in its cluster -> s = 0.
    vectors = dense_to_matrix(np.array([[1.0, 0.0], [r, r], [0.0, 1.0]]))
    np.testing.assert_allclose(silhouette(vectors, [0, 0, 1]), [r, 0.0, 0.0], atol=1e-12)


def test_silhouette_matches_pairwise_formula_on_random_vectors():
    rng = np.random.default_rng(0)
    dense = np.abs(rng.normal(size=(12, 5))) * (rng.random((12, 5)) < 0.6)
    dense[3] = 0.0  # a row without terms
    unit = np.array([v / np.linalg.norm(v) if np.linalg.norm(v) > 0 else v for v in dense])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 0, 1, 3])  # cluster 3 is a singleton
    expected = direct_silhouette(dense, labels)
    np.testing.assert_allclose(silhouette(dense_to_matrix(unit), labels), expected, atol=1e-12)


def test_cluster_hardness_is_one_minus_normalised_silhouette_of_the_kmeans_clustering():
    texts = [
        "red apple pie", "green apple tart", "apple pie recipe", "ripe red apple",
        "blue sky today", "grey sky rain", "clear blue sky", "sky and apple",
    ]  # fmt: skip
    hardness = cluster_hardness(texts, clusters=2, seed=0)
    labels = kmeans(tfidf_vectors(texts), 2, seed=0)
    # The clustering is the obvious one: apples, then skies (the mixed last row joins one of them).
    assert len(set(labels[:4])) == 1 and len(set(labels[4:7])) == 1 and labels[0] != labels[4]
    # Independent TF-IDF (smoothed idf, L2 rows) and pairwise silhouette for that clustering.
    counts = [Counter(t.split()) for t in texts]
    vocab = sorted({w for c in counts for w in c})
    df = {w: sum(w in c for c in counts) for w in vocab}
    dense = np.array([[c[w] * (math.log((1 + len(texts)) / (1 + df[w])) + 1) for w in vocab] for c in counts])
    expected = (1 - direct_silhouette(dense, labels)) / 2
    np.testing.assert_allclose(hardness, expected, atol=1e-12)
    assert int(np.argmax(hardness)) == 7  # the row that mixes both topics is the most atypical
    assert np.all((hardness >= 0) & (hardness <= 1))


def test_kmeans_is_deterministic_and_checks_arguments():
    x = tfidf_vectors([f"w{i % 3} v{i % 5}" for i in range(20)])
    np.testing.assert_array_equal(kmeans(x, 3, seed=1), kmeans(x, 3, seed=1))
    assert set(kmeans(x, 3, seed=1).tolist()) == {0, 1, 2}
    same = tfidf_vectors(["same text"] * 4)
    assert sorted(Counter(kmeans(same, 2).tolist()).values()) == [1, 3]  # no cluster left empty
    with pytest.raises(ValueError, match=r"at most the number of rows \(20\), but got clusters=21"):
        kmeans(x, 21)
    with pytest.raises(ValueError, match="clusters should be an integer >= 2, but got clusters=1"):
        cluster_hardness(["a", "b"], clusters=1)
    with pytest.raises(ValueError, match=r"at most the number of rows \(2\).*--clusters"):
        cluster_hardness(["a", "b"], clusters=3)


def test_nearest_neighbors_by_prompt_similarity():
    x = tfidf_vectors(["red apple", "blue sky", "green apple", "sky", "nothing shared"])
    # Row 4 shares no term: every similarity is 0 and the lowest other index wins.
    np.testing.assert_array_equal(nearest_neighbors(x), [2, 3, 0, 1, 0])
    np.testing.assert_array_equal(nearest_neighbors(x, [3, 0]), [1, 2])
    np.testing.assert_array_equal(nearest_neighbors(tfidf_vectors(["alone"])), [-1])


# ---------------------------------------------------------------------------------------------------- language model


def test_loss_and_confidence_equal_a_direct_computation(model, tokenizer):
    ds = make_graded_dataset(7, seed=3)
    prompts, completions = list(ds["prompt"]), list(ds["completion"])
    out = lm_scores(model, tokenizer, prompts, completions, ["loss", "confidence"], batch_size=3, progress=False)
    for i, (p, c) in enumerate(zip(prompts, completions)):
        loss, confidence = direct_completion_loss(model, tokenizer, p, c)
        assert out["loss"][i] == pytest.approx(loss, abs=1e-5)
        assert out["confidence"][i] == pytest.approx(confidence, abs=1e-5)


def test_miwv_is_one_shot_minus_zero_shot_loss(model, tokenizer):
    prompts = ["rev abc:", "12+3=", "rev abd:", "12+4=", "7*8="]
    completions = ["cba", "15", "dba", "16", "56"]
    neighbors = nearest_neighbors(tfidf_vectors(prompts)).tolist()
    assert neighbors == [2, 3, 0, 1, 0]  # "7*8=" shares no term: the lowest other index
    out = lm_scores(model, tokenizer, prompts, completions, ["miwv", "loss"], batch_size=2, progress=False)
    assert list(out) == ["miwv", "loss"]
    for i, j in enumerate(neighbors):
        zero_shot, _ = direct_completion_loss(model, tokenizer, prompts[i], completions[i])
        context = prompts[j] + completions[j] + "\n\n" + prompts[i]
        one_shot, _ = direct_completion_loss(model, tokenizer, context, completions[i])
        assert out["miwv"][i] == pytest.approx(one_shot - zero_shot, abs=1e-5)
        assert out["loss"][i] == pytest.approx(zero_shot, abs=1e-5)
    # A separator of choice; one row has no demonstration.
    spaced = lm_scores(model, tokenizer, prompts[:2], completions[:2], ["miwv"], separator=" ", progress=False)
    one_shot, _ = direct_completion_loss(model, tokenizer, "12+3=15 rev abc:", "cba")
    zero_shot, _ = direct_completion_loss(model, tokenizer, "rev abc:", "cba")
    assert spaced["miwv"][0] == pytest.approx(one_shot - zero_shot, abs=1e-5)
    assert np.isnan(lm_scores(model, tokenizer, ["1+1="], ["2"], ["miwv"], progress=False)["miwv"][0])


def test_max_length_keeps_the_last_tokens(model, tokenizer):
    out = lm_scores(model, tokenizer, ["rev abcdef:"], ["fedcba"], ["loss"], max_length=8, progress=False)
    # 11 prompt + 6 completion + EOS = 18 tokens; the last 8 are ":" + "fedcba" + EOS: the 7 targets are all kept,
    # with ":" as the only context.
    expected, _ = direct_completion_loss(model, tokenizer, ":", "fedcba")
    assert out["loss"][0] == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="max_length should be an integer >= 2 or None, but got max_length=1"):
        lm_scores(model, tokenizer, ["a"], ["b"], max_length=1)
    with pytest.raises(ValueError, match=r"scores should be among \['loss', 'confidence', 'miwv'\], but got \['ppl'\]"):
        lm_scores(model, tokenizer, ["a"], ["b"], ["ppl"])


# ------------------------------------------------------------------------------------ score_dataset, select_top


def test_score_dataset_adds_one_column_per_scorer(model, tokenizer):
    ds = make_graded_dataset(10, seed=1)
    scored = score_dataset(ds, ["length", "cluster", "loss", "length"], model, tokenizer, clusters=3, progress=False)
    assert scored.column_names == ds.column_names + ["score_length", "score_cluster", "cluster_id", "score_loss"]
    prompts, completions = list(ds["prompt"]), list(ds["completion"])
    np.testing.assert_allclose(list(scored["score_length"]), irei(prompts, completions, tokenizer=tokenizer))
    texts = [p + "\n" + c for p, c in zip(prompts, completions)]
    np.testing.assert_allclose(list(scored["score_cluster"]), cluster_hardness(texts, clusters=3))
    # Scoring again replaces the column; a prefix of choice; words without a tokenizer.
    again = score_dataset(scored, "length", progress=False)
    assert again.column_names == scored.column_names
    np.testing.assert_allclose(list(again["score_length"]), irei(prompts, completions))
    assert score_dataset(ds, ["length"], column_prefix="h_").column_names[-1] == "h_length"


def test_score_dataset_errors(model, tokenizer):
    ds = Dataset.from_dict({"instruction": ["a", "b"], "output": ["c", "d"]})
    with pytest.raises(ValueError, match=r"no column 'prompt' \(its columns are \['instruction', 'output'\]\)"):
        score_dataset(ds, ["length"])
    renamed = score_dataset(ds, ["length"], prompt_column="instruction", completion_column="output")
    assert "score_length" in renamed.column_names
    with pytest.raises(ValueError, match=r"unknown scorer\(s\) \['hardness'\]; the scorers are \['length', 'cluster'"):
        score_dataset(ds, ["length", "hardness"], prompt_column="instruction", completion_column="output")
    with pytest.raises(ValueError, match=r"scorer\(s\) \['miwv'\] need a causal LM: pass model=... and tokenizer="):
        score_dataset(ds, ["miwv"], prompt_column="instruction", completion_column="output")
    chat = Dataset.from_dict({"prompt": [[{"role": "user", "content": "hi"}]], "completion": ["hello"]})
    with pytest.raises(ValueError, match="column 'prompt' should hold strings, but row 0 holds a list"):
        score_dataset(chat, ["length"])
    with pytest.raises(ValueError, match="would replace a text column"):
        score_dataset(Dataset.from_dict({"prompt": ["a"], "completion": ["b"], "x_length": ["c"]}), "length",
                      column_prefix="x_", completion_column="x_length")  # fmt: skip


def test_select_top_picks_the_highest_or_lowest_rows_in_original_order():
    ds = Dataset.from_dict({"id": list(range(7)), "s": [0.5, 0.9, None, 0.1, 0.9, 0.3, 0.7]})
    assert list(select_top(ds, "s", 3)["id"]) == [1, 4, 6]
    assert list(select_top(ds, "s", 2, lowest=True)["id"]) == [3, 5]
    assert list(select_top(ds, "s", 1)["id"]) == [1]  # a tie goes to the earlier row
    assert list(select_top(ds, "s", 7)["id"]) == list(range(7))  # the missing value comes last
    assert list(select_top(ds, "s", 6, lowest=True)["id"]) == [0, 1, 3, 4, 5, 6]
    with pytest.raises(ValueError, match=r"an integer from 1 to the number of rows \(7\), but got budget=8"):
        select_top(ds, "s", 8)
    with pytest.raises(ValueError, match="budget=0"):
        select_top(ds, "s", 0)
    with pytest.raises(ValueError, match=r"no column 'score_loss' \(its columns are \['id', 's'\]\)"):
        select_top(ds, "score_loss", 1)
    with pytest.raises(ValueError, match="column 'text' should be numeric, but holds str values such as 'a'"):
        select_top(Dataset.from_dict({"text": ["a", "b"]}), "text", 1)


# ---------------------------------------------------------------------------------------------------- files and CLI


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.json", "rows.parquet", "rows_dir"])
def test_load_and_save_keep_the_format(tmp_path, name):
    ds = Dataset.from_dict({"prompt": ["1+1=", "rev ab:"], "completion": ["2", "ba"], "x": [0.25, float("nan")]})
    path = tmp_path / name
    fmt = save_rows(ds, path)
    assert fmt == {"rows.jsonl": "jsonl", "rows.json": "json", "rows.parquet": "parquet", "rows_dir": "datasets"}[name]
    back = load_rows(path)
    assert list(back["prompt"]) == ["1+1=", "rev ab:"] and back["x"][0] == 0.25
    assert back["x"][1] is None or math.isnan(back["x"][1])
    # No extension: the input's format.
    assert save_rows(back, tmp_path / "copy", like=path) == fmt


def test_json_array_input_is_written_back_as_an_array(tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"prompt": "a b", "completion": "c"}, {"prompt": "d", "completion": "e f g"}]))
    assert main(["score", str(src), str(tmp_path / "out.json"), "--scorer", "length"]) == 0
    rows = json.loads((tmp_path / "out.json").read_text())
    assert [r["score_length"] for r in rows] == pytest.approx(irei(["a b", "d"], ["c", "e f g"]).tolist())


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_rows(tmp_path / "missing.jsonl")
    (tmp_path / "rows.csv").write_text("prompt,completion\n")
    with pytest.raises(ValueError, match=r"should be a `datasets` directory \(save_to_disk\) or a .jsonl, .json or"):
        load_rows(tmp_path / "rows.csv")


def test_cli_score_then_select_on_jsonl(tmp_path, model_dir, model, tokenizer, capsys):
    ds = make_graded_dataset(12, seed=2)
    src, scored_path, top_path = tmp_path / "train.jsonl", tmp_path / "scored.jsonl", tmp_path / "top.jsonl"
    ds.to_json(src)
    argv = ["score", str(src), str(scored_path), "--model", model_dir, "--batch-size", "5", "--clusters", "3"]
    for s in ("length", "cluster", "loss", "confidence", "miwv"):
        argv += ["--scorer", s]
    assert main(argv + ["--no-progress"]) == 0
    columns = "score_length, score_cluster, cluster_id, score_loss, score_confidence, score_miwv"
    assert f"12 rows with {columns}" in capsys.readouterr().out
    scored = load_rows(scored_path)
    expected = score_dataset(ds, ["length", "cluster", "loss", "confidence", "miwv"], model, tokenizer, clusters=3,
                             progress=False)  # fmt: skip
    assert scored.column_names == expected.column_names
    for column in ("score_length", "score_cluster", "score_loss", "score_confidence", "score_miwv"):
        np.testing.assert_allclose(list(scored[column]), list(expected[column]), atol=1e-5, err_msg=column)

    assert main(["select", str(scored_path), str(top_path), "--by", "score_loss", "--budget", "4"]) == 0
    assert "the 4 of 12 rows with the highest score_loss" in capsys.readouterr().out
    top = [json.loads(line) for line in top_path.read_text().splitlines()]
    losses = np.asarray(scored["score_loss"])
    assert [r["prompt"] for r in top] == [scored["prompt"][i] for i in sorted(np.argsort(-losses)[:4])]
    argv = ["select", str(scored_path), str(top_path), "--by", "score_confidence", "--budget", "2", "--lowest"]
    assert main(argv) == 0
    assert len(top_path.read_text().splitlines()) == 2


def test_cli_errors(tmp_path, model_dir, capsys):
    src = tmp_path / "rows.jsonl"
    Dataset.from_dict({"instruction": ["a", "b"], "output": ["c", "d"]}).to_json(src)
    out = str(tmp_path / "out.jsonl")

    assert main(["score", str(src), out, "--scorer", "miwv"]) == 2
    assert "curriculum: error: scorer(s) ['miwv'] need --model DIR" in capsys.readouterr().err
    assert main(["score", str(src), out, "--scorer", "length"]) == 2
    assert "no column 'prompt'" in (err := capsys.readouterr().err) and "--prompt-column" in err
    assert main(["score", str(src), out, "--scorer", "length", "--prompt-column", "instruction",
                 "--completion-column", "output"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["score", str(src), out, "--scorer", "loss", "--model", str(tmp_path / "nope")]) == 2
    assert "--model should be a local model directory" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "missing.jsonl"), out, "--scorer", "length"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["select", str(src), out, "--by", "score_loss", "--budget", "1"]) == 2
    assert "no column 'score_loss'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["score", str(src), out, "--scorer", "hardness"])
    assert info.value.code == 2 and "invalid choice: 'hardness'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["select", str(src), out, "--by", "x", "--budget", "0"])
    assert "should be a positive integer, but got '0'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_processes_give_the_same_columns_as_one(tmp_path, model_dir):
    ds = make_graded_dataset(15, seed=4)  # an odd number of rows: the processes get 8 and 7
    src = tmp_path / "train.jsonl"
    ds.to_json(src)
    scorers = [arg for s in ("loss", "confidence", "miwv", "cluster", "length") for arg in ("--scorer", s)]
    common = ["--model", model_dir, "--batch-size", "3", "--clusters", "3", "--no-progress", *scorers]
    assert main(["score", str(src), str(tmp_path / "one.jsonl"), *common]) == 0
    cmd = [PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "curriculum.cli", "score", str(src), str(tmp_path / "two.jsonl"), *common]  # fmt: skip
    out = check_ok(run_process(cmd, 300, env={"OMP_NUM_THREADS": "1"}))
    assert out.count("two.jsonl: 15 rows") == 1  # written once, by the main process
    one, two = load_rows(tmp_path / "one.jsonl"), load_rows(tmp_path / "two.jsonl")
    assert list(one["prompt"]) == list(two["prompt"])
    for column in ("score_loss", "score_confidence", "score_miwv", "score_cluster", "score_length"):
        np.testing.assert_allclose(list(two[column]), list(one[column]), atol=1e-5, err_msg=column)


def test_miwv_with_embedding_model_neighbours(tmp_path):
    """MIWV with demonstrations chosen by a local sentence-embedding model (a tiny BERT saved to disk)."""
    from transformers import BertConfig, BertModel

    from curriculum.scoring import score_dataset
    from curriculum.scoring.embeddings import embed_texts, embedding_neighbors
    from curriculum.scoring.lm import lm_scores
    from curriculum.toy import make_graded_dataset, make_tiny_model, make_tokenizer

    tok = make_tokenizer()
    encoder_dir = tmp_path / "encoder"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(encoder_dir)
    tok.save_pretrained(encoder_dir)
    data = make_graded_dataset(12, seed=9)
    model = make_tiny_model(len(tok), seed=1)

    neighbors = embedding_neighbors(embed_texts(str(encoder_dir), data["prompt"]))
    assert (neighbors != np.arange(12)).all() and ((neighbors >= 0) & (neighbors < 12)).all()
    expected = lm_scores(model, tok, data["prompt"], data["completion"], ["miwv"], progress=False, neighbors=neighbors)
    scored = score_dataset(data, ["miwv"], model, tok, embedding_model=str(encoder_dir), progress=False)
    np.testing.assert_allclose(scored["score_miwv"], expected["miwv"], atol=1e-6)
    # The demonstration really is the embedding neighbour: recompute one row's MIWV by hand.
    i, j = 0, int(neighbors[0])
    one_shot = lm_scores(model, tok, [data["prompt"][j] + data["completion"][j] + "\n\n" + data["prompt"][i]],
                         [data["completion"][i]], ["loss"], progress=False)["loss"][0]
    zero_shot = lm_scores(model, tok, [data["prompt"][i]], [data["completion"][i]], ["loss"], progress=False)["loss"][0]
    assert scored["score_miwv"][0] == pytest.approx(one_shot - zero_shot, abs=1e-5)
