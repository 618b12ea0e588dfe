"""examples/train.py: one YAML file, a real model directory and a JSONL file, and two processes under torchrun."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import deepspeed_available
from processes import PYTHON, ROOT, check_ok, run_process

SCRIPT = ROOT / "examples" / "train.py"
TIMEOUT = 300  # a run takes 5-10 s on 2 CPU cores: room for a busy machine
ENV = {"OMP_NUM_THREADS": "1"}


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return run_process(cmd, TIMEOUT, env=ENV)


@pytest.fixture(scope="module")
def train():
    """examples/train.py as a module, for its `parse`."""
    spec = importlib.util.spec_from_file_location("examples_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny Llama and its tokenizer saved like a downloaded checkpoint."""
    from curriculum.toy import make_tiny_model, make_tokenizer

    path = tmp_path_factory.mktemp("model")
    tokenizer = make_tokenizer()
    make_tiny_model(len(tokenizer), seed=3).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory) -> Path:
    from curriculum.toy import make_graded_dataset

    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    make_graded_dataset(128, seed=4).to_json(str(path))
    return path


def test_docstring_names_existing_paths(train):
    paths = set(re.findall(r"examples/[\w/.-]+", train.__doc__))
    assert "examples/train_tiny.yaml" in paths
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


def test_yaml_file_holds_training_script_and_curriculum_settings(train, tmp_path):
    path = ROOT / "examples" / "train_tiny.yaml"
    settings = yaml.safe_load(path.read_text())
    script, training, curriculum = train.parse([str(path), "--output_dir", str(tmp_path), "--max_steps", "7"])
    assert training.max_steps == 7 and training.output_dir == str(tmp_path)  # flags override the file
    assert training.learning_rate == 3e-3  # "3e-3" in PyYAML: converted like a flag
    assert (training.per_device_train_batch_size, training.max_length) == (16, 64)
    assert script.generated_rows == 2000
    assert curriculum == train.CurriculumConfig.from_dict(settings["curriculum"])
    assert curriculum.group_column == "task" and curriculum.width == 0.1
    # `--config FILE` is the same as the file as first argument.
    again = train.parse(["--config", str(path), "--output_dir", str(tmp_path), "--max_steps", "7"])
    assert again[1].to_dict() == training.to_dict() and again[2] == curriculum


def test_flags_alone_and_curriculum_file(train, tmp_path):
    quickstart = ROOT / "examples" / "configs" / "quickstart.yaml"
    flags = ["--output_dir", str(tmp_path), "--use_cpu", "true", "--report_to", "none"]
    flags += ["--activation_checkpointing", "false"]
    script, training, curriculum = train.parse([*flags, "--curriculum_config", str(quickstart)])
    assert script.curriculum is None and training.use_cpu
    assert curriculum == train.CurriculumConfig.from_yaml(quickstart)
    assert train.parse(flags)[2] == train.CurriculumConfig()
    assert train.parse([*flags, "--no_curriculum", "true"])[2] is None


def test_curriculum_given_twice_or_unknown_key_is_an_error(train, tmp_path):
    tiny = str(ROOT / "examples" / "train_tiny.yaml")
    quickstart = str(ROOT / "examples" / "configs" / "quickstart.yaml")
    with pytest.raises(ValueError, match="either as a `curriculum:` mapping or as `curriculum_config`, not both"):
        train.parse([tiny, "--curriculum_config", quickstart])
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"output_dir: {tmp_path}\nuse_cpu: true\nactivation_checkpointing: false\nmax_stepz: 3\n")
    with pytest.raises(ValueError, match=r"Unknown arguments from config file: \['--max_stepz', '3'\]"):
        train.parse([str(bad)])


@pytest.mark.slow
def test_one_yaml_file(tmp_path):
    config = yaml.safe_load((ROOT / "examples" / "train_tiny.yaml").read_text())
    config.update(output_dir=str(tmp_path / "out"), max_steps=10, save_steps=5, generated_rows=200)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    out = check_ok(_run([PYTHON, str(SCRIPT), str(path)]))
    assert "train_loss=" in out and "steps=10" in out
    scores = np.load(tmp_path / "out" / "curriculum_scores.npz")
    assert scores["count"].sum() == 10 * config["per_device_train_batch_size"]
    assert (tmp_path / "out" / "checkpoint-10" / "curriculum_state.npz").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_model_directory_and_jsonl_under_torchrun(tmp_path, model_dir, jsonl):
    args = [
        "--model_name_or_path", str(model_dir), "--dataset_path", str(jsonl), "--output_dir", str(tmp_path),
        "--max_steps", "4", "--per_device_train_batch_size", "4", "--learning_rate", "1e-3", "--use_cpu", "true",
        "--report_to", "none", "--save_strategy", "no", "--activation_checkpointing", "false",
        "--curriculum_config", str(ROOT / "examples" / "configs" / "quickstart.yaml"),
    ]
    out = check_ok(_run(["torchrun", "--nproc_per_node", "2", str(SCRIPT), *args]))
    assert "steps=4" in out
    assert np.load(tmp_path / "curriculum_scores.npz")["count"].sum() == 4 * 4 * 2


@pytest.mark.slow
def test_dataset_without_sft_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps({"question": "1+1", "answer": "2"}) for _ in range(4)))
    result = _run([PYTHON, str(SCRIPT), "--dataset_path", str(path), "--output_dir", str(tmp_path), "--use_cpu", "true"])
    assert result.returncode == 2
    assert "train.py: error: dataset_path=" in result.stderr
    assert "has columns ['question', 'answer']; SFT needs `prompt` and `completion`" in result.stderr
    assert "Traceback" not in result.stderr
    missing = str(tmp_path / "missing.jsonl")
    result = _run([PYTHON, str(SCRIPT), "--dataset_path", missing, "--output_dir", str(tmp_path), "--use_cpu", "true"])
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"train.py: error: dataset_path={missing!r} does not exist" in result.stderr


TEARDOWN_ABORT = "terminate called without an active exception"


@pytest.mark.slow
@pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed (pip install -e '.[deepspeed]')")
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_shipped_accelerate_deepspeed_configs_launch(tmp_path, stage):
    """The README's `accelerate launch --config_file examples/accelerate/deepspeed_*.yaml` command, on CPU."""
    cmd = [
        PYTHON, "-m", "accelerate.commands.launch", "--config_file",
        str(ROOT / "examples" / "accelerate" / f"deepspeed_{stage}.yaml"), "--main_process_port", "0", str(SCRIPT),
        "--output_dir", str(tmp_path), "--max_steps", "4", "--per_device_train_batch_size", "4", "--use_cpu", "true",
        "--bf16", "false", "--report_to", "none", "--save_strategy", "no", "--activation_checkpointing", "false",
        "--generated_rows", "200",
    ]
    result = _run(cmd)
    if result.returncode and "curriculum: 32 row updates" in result.stdout and TEARDOWN_ABORT in result.stderr:
        # Training completed, then a rank aborted in interpreter teardown: a known DeepSpeed-on-CPU exit race
        # (about 1 launch in 20 here). Launch once more; any other failure, or the same one twice, fails the test.
        result = _run(cmd)
    out = check_ok(result)
    assert "curriculum: 32 row updates" in out  # 4 steps x 4 rows x 2 processes


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import load_config_from_file

    for path in sorted((ROOT / "examples" / "accelerate").glob("*.yaml")):
        config = load_config_from_file(str(path))
        assert config.num_processes == 2, path
        ds_file = (config.deepspeed_config or {}).get("deepspeed_config_file")
        if ds_file:
            assert json.loads((ROOT / ds_file).read_text())["train_micro_batch_size_per_gpu"] == "auto"
