"""examples/train.py: one YAML file, a real model directory and a JSONL file, and two processes under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import deepspeed_available
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "train.py"


def _run(cmd: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


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


def test_one_yaml_file(tmp_path):
    config = yaml.safe_load((ROOT / "examples" / "train_tiny.yaml").read_text())
    config.update(output_dir=str(tmp_path / "out"), max_steps=10, save_steps=5, generated_rows=200)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    out = _ok(_run([sys.executable, str(SCRIPT), str(path)]))
    assert "train_loss=" in out and "steps=10" in out
    scores = np.load(tmp_path / "out" / "curriculum_scores.npz")
    assert scores["count"].sum() == 10 * config["per_device_train_batch_size"]
    assert (tmp_path / "out" / "checkpoint-10" / "curriculum_state.npz").exists()


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
def test_model_directory_and_jsonl_under_torchrun(tmp_path, model_dir, jsonl):
    args = [
        "--model_name_or_path", str(model_dir), "--dataset_path", str(jsonl), "--output_dir", str(tmp_path),
        "--max_steps", "4", "--per_device_train_batch_size", "4", "--learning_rate", "1e-3", "--use_cpu", "true",
        "--report_to", "none", "--save_strategy", "no", "--activation_checkpointing", "false",
        "--curriculum_config", str(ROOT / "examples" / "configs" / "quickstart.yaml"),
    ]
    out = _ok(_run(["torchrun", "--nproc_per_node", "2", str(SCRIPT), *args]))
    assert "steps=4" in out
    assert np.load(tmp_path / "curriculum_scores.npz")["count"].sum() == 4 * 4 * 2


def test_dataset_without_sft_columns_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps({"question": "1+1", "answer": "2"}) for _ in range(4)))
    result = _run([sys.executable, str(SCRIPT), "--dataset_path", str(path), "--output_dir", str(tmp_path), "--use_cpu", "true"])
    assert result.returncode != 0
    assert "has columns ['question', 'answer']; SFT needs `prompt` and `completion`" in result.stderr



@pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed (pip install -e '.[deepspeed]')")
@pytest.mark.parametrize("stage", ["zero2", "zero3"])
def test_shipped_accelerate_deepspeed_configs_launch(tmp_path, stage):
    """The README's `accelerate launch --config_file examples/accelerate/deepspeed_*.yaml` command, on CPU."""
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file",
        str(ROOT / "examples" / "accelerate" / f"deepspeed_{stage}.yaml"), "--main_process_port", "0", str(SCRIPT),
        "--output_dir", str(tmp_path), "--max_steps", "4", "--per_device_train_batch_size", "4", "--use_cpu", "true",
        "--bf16", "false", "--report_to", "none", "--save_strategy", "no", "--activation_checkpointing", "false",
        "--generated_rows", "200",
    ]
    env_dir = os.environ.get("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "curriculum_torch_extensions"))
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", env_dir)
    out = _ok(_run(cmd))
    assert "curriculum: 32 row updates" in out  # 4 steps x 4 rows x 2 processes


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import load_config_from_file

    for path in sorted((ROOT / "examples" / "accelerate").glob("*.yaml")):
        config = load_config_from_file(str(path))
        assert config.num_processes == 2, path
        ds_file = (config.deepspeed_config or {}).get("deepspeed_config_file")
        if ds_file:
            assert json.loads((ROOT / ds_file).read_text())["train_micro_batch_size_per_gpu"] == "auto"
