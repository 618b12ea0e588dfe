"""What a demanding user breaks (issue 22's probes): each test fails on the code before its fix."""

from __future__ import annotations

import json

from conftest import make_trainer
from curriculum import CurriculumConfig
from curriculum.factors.task_shares import MAX_LOGGED_TASKS
from curriculum.toy import make_graded_dataset, tokenize_for_causal_lm


def test_a_group_column_with_thousands_of_values_keeps_the_logs_small(tmp_path, tokenizer):
    dataset = tokenize_for_causal_lm(make_graded_dataset(2000), tokenizer)
    dataset = dataset.add_column("source", [f"https://example.com/{i}" for i in range(len(dataset))])
    config = CurriculumConfig(group_column="source", refresh_every_steps=2)
    trainer, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=6,
                              save_steps=6)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "curriculum/progress" in entry]
    assert len(logs) == 6
    for entry in logs:
        shares = [key for key in entry if key.startswith("curriculum/task_share/")]
        assert len(shares) == MAX_LOGGED_TASKS // 2
        assert entry["curriculum/task_shares/count"] == 2000
        assert 0 < entry["curriculum/task_shares/min"] <= entry["curriculum/task_shares/max"] < 1
        assert 0.9 < entry["curriculum/task_shares/entropy"] <= 1.0 + 1e-6
    state = tmp_path / "checkpoint-6" / "trainer_state.json"
    assert state.stat().st_size < 20_000, state.stat().st_size  # 6.1 MB after 20 lines with a key per task
    json.loads(state.read_text())


def test_validate_reads_the_curriculum_section_of_a_training_file(capsys):
    from curriculum.cli import main
    from processes import ROOT

    path = ROOT / "examples" / "train_tiny.yaml"
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "its `curriculum:` section is valid (not checked here: the training keys output_dir, max_steps" in out
    assert CurriculumConfig.from_yaml(path).group_column == "task"


def test_a_closed_pipe_ends_the_cli_quietly(monkeypatch):
    import os
    import sys

    from curriculum.cli import main

    read, write = os.pipe()
    os.close(read)  # `curriculum schema | head`: the reader is gone
    stream = os.fdopen(write, "w", buffering=1)
    monkeypatch.setattr(sys, "stdout", stream)
    assert main(["schema"]) == 141
    stream.close()


def test_list_valued_group_labels_are_a_clear_error():
    import pytest
    from datasets import Dataset

    from curriculum import Curriculum

    dataset = Dataset.from_list([{"text": str(i), "tags": ["a", "b"] if i % 2 else ["c"]} for i in range(6)])
    with pytest.raises(ValueError, match=r"group_column='tags': a group label must be one value .* row 0 holds a list "
                                         r"\(\['c'\]\)\. Group by one of its values, or join them"):
        Curriculum.from_dataset(CurriculumConfig(group_column="tags"), dataset)


def test_list_valued_group_labels_from_arrays_name_the_row():
    import pytest

    from curriculum import Curriculum

    with pytest.raises(ValueError, match=r"a group label must be one value .* row 1 holds a list \(\[1, 2\]\)"):
        Curriculum.from_arrays(CurriculumConfig(), 3, groups=["a", [1, 2], "b"])


def test_report_refuses_a_shuffled_copy_of_the_training_data(tmp_path, tokenizer, capsys):
    from curriculum.cli import main

    raw = make_graded_dataset(64)
    trainer, _ = make_trainer("sft", raw, tokenizer, str(tmp_path / "out"), max_steps=2, save_steps=2)
    trainer.train()
    raw.to_json(str(tmp_path / "train.jsonl"))
    raw.shuffle(seed=1).to_json(str(tmp_path / "shuffled.jsonl"))
    config = tmp_path / "curriculum.yaml"
    config.write_text("share_scores: none\n", encoding="utf-8")
    checkpoint = str(tmp_path / "out" / "checkpoint-2")
    argv = ["report", str(config), str(tmp_path / "shuffled.jsonl"), checkpoint, str(tmp_path / "r.jsonl"), "--no-plot"]
    assert main(argv) == 2
    assert "is not the training data of the run that saved it" in capsys.readouterr().err
    argv[2] = str(tmp_path / "train.jsonl")
    assert main(argv) == 0


def test_a_selection_cut_through_ties_is_said():
    import warnings

    import pytest
    from datasets import Dataset

    from curriculum.scoring import select_top

    ds = Dataset.from_dict({"text": list("abcdef"), "length": [3, 5, 5, 5, 1, 5]})
    with pytest.warns(UserWarning, match=r"4 rows have length=5\.0 and the budget keeps 2 of them, the earliest"):
        assert list(select_top(ds, "length", 2)["text"]) == ["b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(select_top(ds, "length", 4)["text"]) == ["b", "c", "d", "f"]  # every tied row: no warning


def test_a_test_run_keeps_its_files_in_its_own_folders():
    import os
    from pathlib import Path

    import datasets

    from processes import ROOT

    cache = os.environ["HF_DATASETS_CACHE"]
    assert "curriculum-tests-datasets-" in cache and str(datasets.config.HF_DATASETS_CACHE) == cache
    leaking = [str(p) for root in ("curriculum", "callbacks", "samplers") for p in (ROOT / root).rglob("*.py")
               if "mkdtemp(" in Path(p).read_text(encoding="utf-8")]  # a doctest's folder nobody removes
    assert leaking == []


def test_resume_with_a_loader_that_reads_further_ahead_is_refused(tmp_path, tokenizer):
    import pytest

    dataset = tokenize_for_causal_lm(make_graded_dataset(64), tokenizer)
    config = CurriculumConfig(group_column="task", refresh_every_steps=1)
    first, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path), config=config, max_steps=4, save_steps=2)
    first.train()
    again, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path / "b"), config=config, max_steps=4, workers=2)
    with pytest.raises(ValueError, match=r"the saved run drew 2 block\(s\) of the stream ahead of training, but this "
                                         r"set-up's data loader reads 4 ahead \(more dataloader_num_workers"):
        again.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    # Fewer workers than saved: the saved run's blocks, continued exactly (the resume tests compare streams).
    fewer, _ = make_trainer("trainer", dataset, tokenizer, str(tmp_path / "c"), config=config, max_steps=4)
    fewer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))


def test_the_data_loader_never_reads_a_block_before_its_table(tmp_path, tokenizer):
    import warnings

    dataset = tokenize_for_causal_lm(make_graded_dataset(96), tokenizer)
    config = CurriculumConfig(group_column="task", refresh_every_steps=1)
    for workers, accumulation in ((0, 1), (0, 4), (2, 2)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            trainer, handle = make_trainer("trainer", dataset, tokenizer, str(tmp_path / f"{workers}-{accumulation}"),
                                           config=config, max_steps=5, workers=workers, grad_accum=accumulation)
            trainer.train()  # a block read before its table raises
        assert handle.curriculum.step == 5


def test_hashing_large_data_shows_a_progress_bar(monkeypatch, capsys):
    import pyarrow as pa

    from curriculum import text

    monkeypatch.setattr(text, "PROGRESS_ROWS", 10)
    digests = text.arrow_duplicate_digests(pa.array([f"row {i % 7}" for i in range(50)]))
    assert len(digests) == 50
    assert "curriculum: hashing rows" in capsys.readouterr().err
