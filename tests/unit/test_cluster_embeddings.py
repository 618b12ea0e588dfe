"""The cluster scorer on sentence embeddings (`embedding_model=...`, `--embedding-model`), with a tiny local model."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

pytest.importorskip("sentence_transformers")

from datasets import Dataset  # noqa: E402

from curriculum.cli import main  # noqa: E402
from curriculum.scoring import load_rows, score_dataset  # noqa: E402
from curriculum.scoring.sentence import embedding_clusters, sentence_embeddings  # noqa: E402

WORDS = "red green blue grey apple pear plum sky cloud rain sun add two three four five what is the a".split()
PROMPTS = [
    "red apple", "green apple", "ripe pear", "blue sky", "grey cloud", "rain sky",
    "add two three", "add four five", "what is the sun", "a red plum", "blue rain", "two apple",
]  # fmt: skip
COMPLETIONS = ["apple", "pear", "plum", "sky", "cloud", "rain", "five", "the", "sun", "plum", "sky", "four"]


@pytest.fixture(scope="module")
def st_model_dir(tmp_path_factory) -> str:
    """A tiny sentence-transformers model (1-layer BERT, word-level vocab, mean pooling) saved to disk."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    try:  # sentence-transformers >= 6; `sentence_transformers.models` before
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:
        from sentence_transformers import models

    root = tmp_path_factory.mktemp("st")
    bert_dir, st_dir = root / "bert", root / "st"
    bert_dir.mkdir()
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(bert_dir)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=32)  # fmt: skip
    BertModel(config).save_pretrained(bert_dir)
    word = models.Transformer(str(bert_dir), max_seq_length=32)
    pooling = models.Pooling(config.hidden_size, pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling], device="cpu").save(str(st_dir))
    return str(st_dir)


@pytest.fixture
def data() -> Dataset:
    return Dataset.from_dict({"prompt": PROMPTS, "completion": COMPLETIONS})


def texts_of(data: Dataset) -> list[str]:
    return [p + "\n" + c for p, c in zip(data["prompt"], data["completion"])]


def test_columns_range_and_determinism(st_model_dir, data):
    scored = score_dataset(data, ["cluster"], embedding_model=st_model_dir, clusters=3, progress=False)
    assert scored.column_names == ["prompt", "completion", "score_cluster", "cluster_id"]
    ids = np.asarray(scored["cluster_id"])
    assert ids.dtype == np.int64 and ((ids >= 0) & (ids < 3)).all() and len(set(ids.tolist())) == 3
    hardness = np.asarray(scored["score_cluster"])
    assert ((hardness >= 0) & (hardness <= 1)).all()
    again = score_dataset(data, ["cluster"], embedding_model=st_model_dir, clusters=3, progress=False)
    assert list(again["cluster_id"]) == list(scored["cluster_id"])
    assert list(again["score_cluster"]) == list(scored["score_cluster"])


def test_equals_kmeans_on_the_models_own_encode(st_model_dir, data):
    from sentence_transformers import SentenceTransformer

    encoded = SentenceTransformer(st_model_dir, device="cpu").encode(
        texts_of(data), batch_size=4, normalize_embeddings=True, show_progress_bar=False
    )
    np.testing.assert_allclose(np.linalg.norm(encoded, axis=1), 1.0, atol=1e-5)
    ours = sentence_embeddings(st_model_dir, texts_of(data), batch_size=4)
    np.testing.assert_allclose(ours, encoded, atol=1e-6)
    labels, hardness = embedding_clusters(encoded, clusters=3, seed=5)
    scored = score_dataset(data, ["cluster"], embedding_model=st_model_dir, clusters=3, seed=5, batch_size=4,
                           progress=False)  # fmt: skip
    assert list(scored["cluster_id"]) == labels.tolist()
    np.testing.assert_allclose(scored["score_cluster"], hardness, atol=1e-12)


def test_hardness_is_the_cosine_silhouette_by_brute_force(st_model_dir, data):
    x = sentence_embeddings(st_model_dir, texts_of(data))
    labels, hardness = embedding_clusters(x, clusters=3)
    distance = 1.0 - x @ x.T
    expected = []
    for i in range(len(x)):
        own = (labels == labels[i]) & (np.arange(len(x)) != i)
        if not own.any():
            expected.append(0.5)
            continue
        a = distance[i, own].mean()
        b = min(distance[i, labels == c].mean() for c in set(labels.tolist()) - {labels[i]})
        expected.append((1.0 - (b - a) / max(a, b)) / 2.0)
    np.testing.assert_allclose(hardness, expected, atol=1e-9)


def test_tfidf_stays_the_default(data):
    from curriculum.scoring.cluster import cluster_labels_and_hardness

    labels, hardness = cluster_labels_and_hardness(texts_of(data), clusters=3)
    scored = score_dataset(data, ["cluster"], clusters=3, progress=False)
    assert list(scored["cluster_id"]) == labels.tolist()
    np.testing.assert_allclose(scored["score_cluster"], hardness)


def test_too_many_clusters_fails_before_embedding(data, tmp_path):
    # The directory does not exist: the clusters check comes first.
    with pytest.raises(ValueError, match=r"clusters should be at most the number of rows \(12\)"):
        score_dataset(data, ["cluster"], embedding_model=str(tmp_path / "none"), clusters=13, progress=False)
    with pytest.raises(ValueError, match="not a directory"):
        score_dataset(data, ["cluster"], embedding_model=str(tmp_path / "none"), clusters=3, progress=False)


def test_cli_embedding_model_flag(st_model_dir, data, tmp_path, capsys):
    src, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    data.to_json(src)
    args = ["score", str(src), str(out), "--scorer", "cluster", "--clusters", "3", "--seed", "2", "--no-progress"]
    assert main([*args, "--embedding-model", st_model_dir]) == 0
    assert f"{out}: 12 rows with score_cluster, cluster_id" in capsys.readouterr().out
    rows = load_rows(out)
    labels, hardness = embedding_clusters(sentence_embeddings(st_model_dir, texts_of(data), batch_size=8), 3, seed=2)
    assert list(rows["cluster_id"]) == labels.tolist()
    np.testing.assert_allclose(rows["score_cluster"], hardness, atol=1e-12)


def test_missing_library_error(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # `import sentence_transformers` now fails
    with pytest.raises(ImportError, match=r'pip install "curriculum\[embeddings\]"'):
        score_dataset(data, ["cluster"], embedding_model=str(tmp_path), clusters=3, progress=False)
    src = tmp_path / "rows.jsonl"
    data.to_json(src)
    args = ["score", str(src), str(tmp_path / "out.jsonl"), "--scorer", "cluster", "--clusters", "3"]
    assert main([*args, "--embedding-model", str(tmp_path)]) == 2
    assert 'pip install "curriculum[embeddings]"' in capsys.readouterr().err
    # The TF-IDF default does not need the library.
    assert score_dataset(data, ["cluster"], clusters=3, progress=False).column_names[-1] == "cluster_id"
