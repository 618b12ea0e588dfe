"""`curriculum report` (the data map of a checkpoint written onto the training data), `plot_data_map`, and the
`cluster_id` column of the cluster scorer."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from datasets import Dataset

from curriculum import Curriculum, CurriculumConfig
from curriculum.checkpoint import STATE_FILE, save_state
from curriculum.cli import main
from curriculum.datamap import CATEGORIES
from curriculum.plot import plot_data_map
from curriculum.scoring import load_rows, score_dataset
from curriculum.scoring.cluster import cluster_hardness, cluster_labels_and_hardness, kmeans, silhouette
from curriculum.scoring.tfidf import tfidf_vectors

FIELDS = ("category", "noise", "confidence", "variability", "loss", "visits")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
N = 24  # rows 0-19 trained on three times, 20-23 never


def observe_steps(curriculum: Curriculum) -> None:
    """Three optimizer steps over rows 0-19: stable easy and hard rows, two swinging (ambiguous) rows and three
    with a loss far above the rest (suspected noise once the mixture has 16 rows with 2+ visits)."""
    rows = np.arange(20)
    base = np.linspace(0.95, 0.05, 20)
    for step in (1, 2, 3):
        confidence = base.copy()
        confidence[[4, 5]] = (0.9, 0.1) if step % 2 else (0.1, 0.9)
        loss = -np.log(confidence)
        loss[[17, 18, 19]] = (9.0, 9.5, 10.0)
        curriculum.observe(rows, loss, confidence, step)


def write_state(path, curriculum: Curriculum) -> None:
    save_state(path, {"curriculum." + k: v for k, v in curriculum.state_dict().items()}, {"format": 3})


def write_rows(path, n: int, **extra: list) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            row = {"prompt": f"question {i}", "completion": f"answer {i}", **{k: v[i] for k, v in extra.items()}}
            f.write(json.dumps(row) + "\n")


@pytest.fixture
def run(tmp_path):
    """A finished run: its config, training data (.jsonl), checkpoint folder and the curriculum it saved."""
    curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none"), N)
    observe_steps(curriculum)
    checkpoint = tmp_path / "out" / "checkpoint-3"
    write_state(checkpoint / STATE_FILE, curriculum)
    config = tmp_path / "curriculum.yaml"
    config.write_text("curriculum:\n  share_scores: none\n", encoding="utf-8")
    data = tmp_path / "train.jsonl"
    write_rows(data, N)
    return {"config": str(config), "data": str(data), "checkpoint": str(checkpoint), "curriculum": curriculum}


def as_floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def assert_columns_match(written, data_map: dict) -> None:
    assert list(written["curriculum_category"]) == data_map["category"].tolist()
    assert list(written["curriculum_visits"]) == data_map["visits"].tolist()
    for field in ("noise", "confidence", "variability", "loss"):
        # JSON holds 15 significant digits; NaN (never trained) comes back as null.
        np.testing.assert_allclose(
            as_floats(written["curriculum_" + field]), data_map[field], rtol=1e-12, atol=0, err_msg=field
        )


# ------------------------------------------------------------------------------------ curriculum report


def test_report_writes_the_data_map_columns_and_counts(run, tmp_path, capsys):
    data_map = run["curriculum"].data_map()
    # The constructed run covers every category but duplicate (no sharing).
    assert set(data_map["category"]) == set(CATEGORIES) - {"duplicate"}
    output = tmp_path / "report" / "annotated.jsonl"
    assert main(["report", run["config"], run["data"], run["checkpoint"], str(output), "--no-plot"]) == 0
    out, err = capsys.readouterr()
    columns = ", ".join("curriculum_" + f for f in FIELDS)
    assert f"{output}: {N} rows with {columns} (jsonl)" in out
    assert f"data map at step 3 ({run['checkpoint']}/{STATE_FILE})" in out
    for name in CATEGORIES:
        count = int((data_map["category"] == name).sum())
        assert f"  {name:<16}{count:>10}  {100.0 * count / N:5.1f}%" in out
    assert "data map plot" not in out and not list(output.parent.glob("*.png"))

    written = load_rows(output)
    assert written.column_names == ["prompt", "completion"] + ["curriculum_" + f for f in FIELDS]
    assert list(written["prompt"]) == [f"question {i}" for i in range(N)]
    assert_columns_match(written, data_map)


@pytest.mark.parametrize("as_directory", [False, True])
def test_report_formats_state_file_path_and_report_of_a_report(run, tmp_path, capsys, as_directory):
    data_map = run["curriculum"].data_map()
    data, suffix, fmt = run["data"], ".parquet", "parquet"
    if as_directory:  # a `datasets` directory in, and out (OUTPUT without extension: the format of DATASET)
        data, suffix, fmt = str(tmp_path / "train_ds"), "", "datasets"
        load_rows(run["data"]).save_to_disk(data)
    state_file = f"{run['checkpoint']}/{STATE_FILE}"  # the .npz itself instead of the folder
    first = str(tmp_path / f"first{suffix}")
    assert main(["report", run["config"], data, state_file, first, "--no-plot"]) == 0
    assert f"({fmt})" in capsys.readouterr().out
    # Reporting on a report replaces its columns in place.
    second = str(tmp_path / f"second{suffix}")
    assert main(["report", run["config"], first, state_file, second, "--no-plot"]) == 0
    written = load_rows(second)
    assert written.column_names == ["prompt", "completion"] + ["curriculum_" + f for f in FIELDS]
    assert_columns_match(written, data_map)


def test_report_rebuilds_groups_and_duplicates_from_the_config(tmp_path, capsys):
    # Two tasks (the noise mixture is fitted within each) and duplicated contents (share_scores: duplicates).
    n = 40
    tasks = ["a" if i % 2 else "b" for i in range(n)]
    data = tmp_path / "train.jsonl"
    write_rows(data, n, task=tasks)
    with open(data, "a", encoding="utf-8") as f:  # rows 40-41 copy rows 0-1
        for i in range(2):
            f.write(json.dumps({"prompt": f"question {i}", "completion": f"answer {i}", "task": tasks[i]}) + "\n")
    config_path = tmp_path / "curriculum.yaml"
    config_path.write_text("group_column: task\nshare_scores: duplicates\n", encoding="utf-8")
    curriculum = Curriculum.from_dataset(CurriculumConfig.from_yaml(config_path), load_rows(data))
    rows = np.arange(n)
    rng = np.random.default_rng(0)
    for step in (1, 2):
        confidence = rng.uniform(0.05, 0.95, n)
        loss = -np.log(confidence)
        loss[[3, 8]] = 12.0
        curriculum.observe(rows, loss, confidence, step)
    data_map = curriculum.data_map()
    assert {"duplicate", "suspected_noise"} <= set(data_map["category"])
    write_state(tmp_path / "checkpoint-2" / STATE_FILE, curriculum)
    output = tmp_path / "annotated.jsonl"
    assert main(["report", str(config_path), str(data), str(tmp_path / "checkpoint-2"), str(output), "--no-plot"]) == 0
    written = load_rows(output)
    assert written.column_names[:3] == ["prompt", "completion", "task"]
    assert_columns_match(written, data_map)


def test_report_plots_the_data_map(run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output = tmp_path / "report" / "annotated.jsonl"
    assert main(["report", run["config"], run["data"], run["checkpoint"], str(output)]) == 0
    default = tmp_path / "report" / "annotated_data_map.png"  # OUTPUT's stem + _data_map.png, next to OUTPUT
    assert f"{default}: data map plot" in capsys.readouterr().out
    assert default.read_bytes().startswith(PNG_SIGNATURE)
    chosen = tmp_path / "plots" / "map.png"
    directory = tmp_path / "annotated_dir"  # a `datasets` directory: the plot sits next to it
    argv = ["report", run["config"], run["data"], run["checkpoint"], str(directory) + "/", "--plot", str(chosen)]
    assert main(argv) == 0
    assert chosen.read_bytes().startswith(PNG_SIGNATURE)
    assert not (tmp_path / "annotated_dir_data_map.png").exists()


@pytest.mark.parametrize("blocked", ["matplotlib", "matplotlib.figure"])
def test_report_without_matplotlib_says_how_to_install_it(run, tmp_path, capsys, monkeypatch, blocked):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        if name == blocked or blocked == "matplotlib":
            monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError
    output = tmp_path / "annotated.jsonl"
    assert main(["report", run["config"], run["data"], run["checkpoint"], str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("curriculum: error: the data-map plot needs matplotlib")
    assert 'pip install "curriculum[plot]"' in err and "--no-plot" in err
    assert not output.exists()  # it fails before doing the work
    with pytest.raises(ImportError, match=r'pip install "curriculum\[plot\]"'):
        plot_data_map(run["curriculum"].data_map(), tmp_path / "map.png")


def test_report_errors_name_the_path_and_the_fix(run, tmp_path, capsys):
    output = str(tmp_path / "annotated.jsonl")

    def fails(*argv: str) -> str:
        assert main(["report", *argv, "--no-plot"]) == 2
        out, err = capsys.readouterr()
        last = err.splitlines()[-1]  # after the progress bars of `datasets`, if any
        assert out == "" and last.startswith("curriculum: error: ")
        return last

    empty = tmp_path / "checkpoint-9"
    empty.mkdir()
    err = fails(run["config"], run["data"], str(empty), output)
    assert f"{empty}/{STATE_FILE} does not exist" in err and "checkpoint-N folder" in err

    err = fails(run["config"], run["data"], str(tmp_path / "nope"), output)
    assert f"checkpoint {str(tmp_path / 'nope')!r} does not exist" in err

    garbage = tmp_path / "garbage" / STATE_FILE
    garbage.parent.mkdir()
    garbage.write_bytes(b"not a zip file")
    err = fails(run["config"], run["data"], str(garbage), output)
    assert f"{garbage} is not a curriculum state file" in err

    other = tmp_path / "other.npz"
    save_state(other, {"sampler.stream": np.arange(3)}, {"format": 3})
    err = fails(run["config"], run["data"], str(other), output)
    assert f"{other} holds no curriculum state (its arrays are ['sampler.stream'])" in err

    longer = tmp_path / "longer.jsonl"
    write_rows(longer, N + 1)
    err = fails(run["config"], str(longer), run["checkpoint"], output)
    assert f"holds the curriculum state of {N} rows, but the dataset {str(longer)!r} has {N + 1} rows" in err
    assert "the same rows, in the same order" in err

    config = tmp_path / "bad.yaml"
    config.write_text("shedule: linear\n", encoding="utf-8")
    assert "(did you mean 'schedule'?)" in fails(str(config), run["data"], run["checkpoint"], output)

    replay = tmp_path / "replay.yaml"
    replay.write_text("share_scores: none\nreplay_share: 0.1\n", encoding="utf-8")
    err = fails(str(replay), run["data"], run["checkpoint"], output)
    assert f"cannot load the curriculum state with the config {str(replay)!r}" in err and "replay" in err

    assert "OUTPUT should differ from DATASET" in fails(run["config"], run["data"], run["checkpoint"], run["data"])
    assert not (tmp_path / "annotated.jsonl").exists()

    with pytest.raises(SystemExit):
        main(["report", run["config"], run["data"], run["checkpoint"], output, "--no-plot", "--plot", "x.png"])
    assert "not allowed with argument" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ plot_data_map


def test_plot_data_map_skips_nan_rows_and_subsamples_deterministically(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from curriculum import plot

    rng = np.random.default_rng(0)
    n = 300
    category = np.array([CATEGORIES[i % 4] for i in range(n)], dtype=object)
    category[-20:] = "never_trained"
    confidence, variability = rng.uniform(0, 1, n), rng.uniform(0, 0.4, n)
    confidence[-20:] = variability[-20:] = np.nan
    data_map = {"category": category, "confidence": confidence, "variability": variability, "visits": np.ones(n)}
    path = plot_data_map(data_map, tmp_path / "nested" / "map.png", title="A run")
    assert path == str(tmp_path / "nested" / "map.png")
    assert (tmp_path / "nested" / "map.png").read_bytes().startswith(PNG_SIGNATURE)
    # Only never-trained rows (all NaN): nothing to draw, still a plot with its legend.
    only = {"category": category[-20:], "confidence": confidence[-20:], "variability": variability[-20:]}
    assert open(plot_data_map(only, tmp_path / "empty.png"), "rb").read().startswith(PNG_SIGNATURE)

    monkeypatch.setattr(plot, "MAX_POINTS", 50)  # above it, the same random subset every time
    first = plot_data_map(data_map, tmp_path / "a.png")
    second = plot_data_map(data_map, tmp_path / "b.png")
    assert open(first, "rb").read() == open(second, "rb").read()


def test_plot_data_map_errors(tmp_path):
    with pytest.raises(ValueError, match=r"data_map lacks the key\(s\) \['variability'\]"):
        plot_data_map({"category": np.array(["easy"]), "confidence": np.array([0.5])}, tmp_path / "x.png")
    bad = {"category": np.array(["simple"]), "confidence": np.array([0.5]), "variability": np.array([0.1])}
    with pytest.raises(ValueError, match=r"unknown categories \['simple'\]; the categories are \['easy'"):
        plot_data_map(bad, tmp_path / "x.png")
    short = {"category": np.array(["easy", "hard"]), "confidence": np.array([0.5]), "variability": np.array([0.1])}
    with pytest.raises(ValueError, match="1-D of one length"):
        plot_data_map(short, tmp_path / "x.png")


# ------------------------------------------------------------------------------------ cluster_id

TEXTS = [
    ("red apple", "fruit"), ("green apple", "fruit"), ("ripe apple", "fruit"),
    ("blue sky", "weather"), ("grey sky", "weather"), ("clear sky", "weather"),
    ("fast car", "vehicle"), ("red car", "vehicle"),
]  # fmt: skip


def test_cluster_scorer_writes_the_cluster_id_of_the_same_clustering(tmp_path, capsys):
    ds = Dataset.from_dict({"prompt": [p for p, _ in TEXTS], "completion": [c for _, c in TEXTS]})
    texts = [p + "\n" + c for p, c in TEXTS]
    vectors = tfidf_vectors(texts)
    labels = kmeans(vectors, 3, seed=0)

    scored = score_dataset(ds, ["cluster", "length"], clusters=3, progress=False)
    assert scored.column_names == ["prompt", "completion", "score_cluster", "cluster_id", "score_length"]
    assert scored.features["cluster_id"].dtype == "int64"
    assert list(scored["cluster_id"]) == labels.tolist()
    np.testing.assert_allclose(list(scored["score_cluster"]), (1.0 - silhouette(vectors, labels)) / 2.0)
    # Similar rows share a cluster: a group column.
    ids = scored["cluster_id"]
    assert ids[0] == ids[1] == ids[2] and ids[3] == ids[4] == ids[5] and len(set(ids)) == 3
    # The building block returns the same clustering and the hardness of cluster_hardness.
    both = cluster_labels_and_hardness(texts, clusters=3, seed=0)
    assert both[0].tolist() == labels.tolist()
    np.testing.assert_array_equal(both[1], cluster_hardness(texts, clusters=3, seed=0))
    # Scoring again replaces both columns in place.
    assert score_dataset(scored, "cluster", clusters=3, progress=False).column_names == scored.column_names

    src, out = tmp_path / "rows.jsonl", tmp_path / "scored.jsonl"
    ds.to_json(src)
    assert main(["score", str(src), str(out), "--scorer", "cluster", "--clusters", "3", "--no-progress"]) == 0
    assert "8 rows with score_cluster, cluster_id (jsonl)" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["cluster_id"] for r in rows] == labels.tolist()
    assert all(isinstance(r["cluster_id"], int) for r in rows)


def test_report_refuses_another_dataset_of_the_same_length(tmp_path, capsys):
    from curriculum.resume import column_digests
    from curriculum.scoring.io import load_rows

    curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none"), N)
    observe_steps(curriculum)
    data, shuffled = tmp_path / "train.jsonl", tmp_path / "shuffled.jsonl"
    write_rows(data, N)
    lines = data.read_text(encoding="utf-8").splitlines()
    shuffled.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")
    trained = load_rows(str(data)).add_column("input_ids", [[1, 2]] * N)  # what the trainer held: more columns
    checkpoint = tmp_path / "checkpoint-3"
    save_state(checkpoint / STATE_FILE, {"curriculum." + k: v for k, v in curriculum.state_dict().items()},
               {"format": 6, "data_columns": column_digests(trained)})
    config = tmp_path / "curriculum.yaml"
    config.write_text("share_scores: none\n", encoding="utf-8")
    out = str(tmp_path / "report.jsonl")
    assert main(["report", str(config), str(shuffled), str(checkpoint), out, "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert "the dataset is not the training data of the run that saved it: its column(s) ['completion', 'prompt'] " \
           "hold other values in the same rows" in err
    edited = tmp_path / "edited.jsonl"  # one column rewritten (SFTTrainer appends the EOS to completions): accepted
    edited.write_text("\n".join(line.replace("answer", "ANSWER") for line in lines) + "\n", encoding="utf-8")
    assert main(["report", str(config), str(edited), str(checkpoint), out, "--no-plot"]) == 0
    assert main(["report", str(config), str(data), str(checkpoint), out, "--no-plot"]) == 0
