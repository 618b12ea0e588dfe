"""GRPO with the curriculum under torchrun (2 processes, gloo on CPU; DDP and DeepSpeed ZeRO-2/3): identical tables
and streams on both ranks."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import deepspeed_available
from processes import ROOT, check_ok, free_port, run_process

HARNESS = ROOT / "tests" / "grpo_harness.py"
WORLD = 2
LAUNCH_TIMEOUT = 300  # a launch takes ~20 s on 2 CPU cores: room for a busy machine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH"),
]


@pytest.mark.parametrize("replay, deepspeed", [
    (0.5, "none"),
    pytest.param(0.0, "zero2", marks=pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed")),
    pytest.param(0.5, "zero3", marks=pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed")),
])
def test_both_ranks_hold_the_same_table_and_stream(tmp_path, replay, deepspeed):
    launcher = ["torchrun", "--nproc_per_node", str(WORLD), "--master_port", str(free_port())]
    command = [*launcher, str(HARNESS), "--out", str(tmp_path), "--replay", str(replay), "--deepspeed", deepspeed]
    check_ok(run_process(command, LAUNCH_TIMEOUT, env={"OMP_NUM_THREADS": "1"}))
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in range(WORLD)]
    for key in ("loss", "confidence", "count", "stream", "completions", "replayed"):
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)
    # Each rank rolled out its own share of every round; the table holds both ranks' groups.
    rewards = np.concatenate([ranks[0]["rewards"], ranks[1]["rewards"]])
    rows = np.unique(rewards[:, 0].astype(np.int64))
    assert int(ranks[0]["count"].sum()) == len(rewards) // 4
    assert set(np.flatnonzero(ranks[0]["count"])) == set(rows.tolist())
    assert int(ranks[0]["completions"]) == len(rewards)
    if replay:
        assert int(ranks[0]["replayed"]) > 0
