"""Real multi-process runs (torchrun, 2 processes, gloo on CPU): exact curriculum under DDP and DeepSpeed ZeRO-2/3."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import deepspeed_available
from processes import PYTHON, ROOT, check_ok, free_port, run_process

HARNESS = ROOT / "tests" / "dist_harness.py"
WORLD, BATCH, ACCUM, STEPS = 2, 4, 2, 6
# A launch of the harness takes ~10 s on 2 CPU cores (DeepSpeed ZeRO-3 the longest): room for a busy machine.
LAUNCH_TIMEOUT = 300

needs_torchrun = pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH")
pytestmark = pytest.mark.slow

ENV = {"OMP_NUM_THREADS": "1"}


def launch(out: Path, *args: str, expect_ok: bool = True, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    launcher = launcher or ["torchrun", "--nproc_per_node", str(WORLD), "--master_port", str(free_port())]
    result = run_process([*launcher, str(HARNESS), "--out", str(out), *args], LAUNCH_TIMEOUT, env=ENV)
    if expect_ok:
        check_ok(result)
    return result


def load_ranks(out: Path) -> list[dict[str, np.ndarray]]:
    ranks = []
    for r in range(WORLD):
        with np.load(out / f"rank{r}.npz") as data:
            ranks.append({k: data[k] for k in data.files})
    return ranks


def check_exact(ranks: list[dict[str, np.ndarray]], steps: int = STEPS) -> None:
    """Identical tables on every rank; the rows trained on (all ranks) are exactly the sampler's stream prefix."""
    first = ranks[0]
    assert int(first["world_size"]) == WORLD
    for other in ranks[1:]:
        for key in first:
            if key.startswith("scores_") or key == "stream":
                np.testing.assert_array_equal(first[key], other[key], err_msg=key)
    consumed = steps * BATCH * ACCUM * WORLD
    assert first["scores_count"].sum() == consumed
    trained = np.concatenate([r["local_rows"] for r in ranks])
    assert trained.size == consumed
    np.testing.assert_array_equal(np.sort(trained), np.sort(first["stream"][:consumed]))
    np.testing.assert_array_equal(np.bincount(trained, minlength=first["scores_count"].size), first["scores_count"])


@needs_torchrun
@pytest.mark.parametrize("kind", ["trainer", "sft"])
def test_ddp_is_exact(tmp_path, kind):
    launch(tmp_path, "--kind", kind, "--samples-per-epoch", "128")
    check_exact(load_ranks(tmp_path))


@needs_torchrun
@pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed (pip install -e '.[deepspeed]')")
@pytest.mark.parametrize("kind", ["trainer", "sft"])
def test_deepspeed_zero2_zero3_are_exact_and_match_ddp(tmp_path, kind):
    # Rows scored one by one, as the comparison was set up: which rows are drawn decides how much float drift
    # (rtol 1e-3 below) a row's running loss accumulates, and sharing draws others.
    common = ["--kind", kind, "--samples-per-epoch", "128", "--share-scores", "none"]
    launch(tmp_path / "ddp", *common)
    ddp = load_ranks(tmp_path / "ddp")
    for stage in ("zero2", "zero3"):
        launch(tmp_path / stage, *common, "--deepspeed", stage)
        ranks = load_ranks(tmp_path / stage)
        check_exact(ranks)
        # Same rows in the same order as DDP, and the same losses up to float reduction order (TRL's chunked
        # LM head and DeepSpeed's bucketed all-reduce sum in another order than DDP: ~2e-4 relative).
        # The first block is drawn before any observation: identical. Later blocks are drawn from tables that differ
        # by that float drift, and a weighted draw without replacement (the budget ends within the pass here) can
        # swap two rows whose keys are that close: nearly all positions agree.
        trained = STEPS * BATCH * ACCUM * WORLD
        first_block = BATCH * ACCUM * WORLD
        np.testing.assert_array_equal(ranks[0]["stream"][:first_block], ddp[0]["stream"][:first_block], err_msg=stage)
        same = ranks[0]["stream"][:trained] == ddp[0]["stream"][:trained]
        assert same.mean() >= 0.9, (stage, same.mean())
        # The losses of the steps that trained the same rows, and the scores of the rows only those steps trained.
        steps = same.reshape(STEPS, -1).all(axis=1)
        np.testing.assert_allclose(ranks[0]["losses"][steps], ddp[0]["losses"][steps], rtol=1e-3, err_msg=stage)
        differing = np.concatenate([w for w, ok in zip(np.split(ranks[0]["stream"][:trained], STEPS), steps) if not ok]
                                   + [w for w, ok in zip(np.split(ddp[0]["stream"][:trained], STEPS), steps) if not ok]
                                   + [np.zeros(0, dtype=np.int64)])
        rows = ranks[0]["scores_count"] == ddp[0]["scores_count"]
        rows[differing.astype(np.int64)] = False  # scored in a step whose padding and batch differed
        # A row's running loss sums that drift over its visits: 2e-3.
        np.testing.assert_allclose(ranks[0]["scores_loss"][rows], ddp[0]["scores_loss"][rows], rtol=2e-3, err_msg=stage)


@needs_torchrun
@pytest.mark.parametrize("kind, workers", [("trainer", 0), ("sft", 2)])
def test_resume_with_two_processes_matches_uninterrupted(tmp_path, kind, workers):
    # 64 rows, global batch 16: an epoch is 4 steps; the checkpoint at step 3 is mid-epoch, the resumed run
    # crosses into the second epoch.
    common = ["--kind", kind, "--max-steps", "8", "--save-steps", "3", "--workers", str(workers)]
    launch(tmp_path / "full", *common)
    launch(tmp_path / "cut", *common, "--stop-at", "4")
    checkpoint = tmp_path / "cut" / "checkpoint-3"
    assert (checkpoint / "curriculum_state.npz").exists()
    launch(tmp_path / "cut", *common, "--resume", str(checkpoint))
    full, resumed = load_ranks(tmp_path / "full"), load_ranks(tmp_path / "cut")
    for r in range(WORLD):
        for key in full[r]:
            if key.startswith("scores_") or key == "stream":
                np.testing.assert_array_equal(resumed[r][key], full[r][key], err_msg=f"rank {r}: {key}")
        # The resumed run trained on exactly the rows the uninterrupted one trained on after step 3.
        per_step = BATCH * ACCUM
        np.testing.assert_array_equal(resumed[r]["local_rows"], full[r]["local_rows"][3 * per_step :])
        np.testing.assert_allclose(resumed[r]["losses"][-1], full[r]["losses"][-1], rtol=1e-6)


@needs_torchrun
def test_diverging_streams_are_detected(tmp_path):
    result = launch(tmp_path, "--diverge", expect_ok=False)
    assert result.returncode != 0
    assert "the processes sampled different rows" in result.stderr, result.stderr[-3000:]


@needs_torchrun
@pytest.mark.skipif(not deepspeed_available(), reason="deepspeed is not installed")
def test_deepspeed_without_use_cpu_is_a_clear_error(tmp_path):
    result = launch(tmp_path, "--deepspeed", "zero2", "--no-use-cpu", expect_ok=False)
    assert result.returncode != 0
    assert "accelerate sees 1 process(es) but torch.distributed has 2" in result.stderr, result.stderr[-3000:]


@needs_torchrun
def test_accelerate_launch_multi_process_on_cpu(tmp_path):
    launcher = [
        PYTHON, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(WORLD),
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
        str(free_port()),
    ]
    launch(tmp_path, "--samples-per-epoch", "128", launcher=launcher)
    check_exact(load_ranks(tmp_path))


def _check_resumed(full: list[dict[str, np.ndarray]], resumed: list[dict[str, np.ndarray]], step: int) -> None:
    """The resumed ranks end with the uninterrupted run's tables and stream, having trained on its rows after `step`."""
    per_step = BATCH * ACCUM
    for r in range(WORLD):
        for key in full[r]:
            if key.startswith("scores_") or key == "stream":
                np.testing.assert_array_equal(resumed[r][key], full[r][key], err_msg=f"rank {r}: {key}")
        np.testing.assert_array_equal(resumed[r]["local_rows"], full[r]["local_rows"][step * per_step :])


@needs_torchrun
def test_a_rank_killed_mid_step_stops_both_and_the_resume_is_exact(tmp_path):
    common = ["--max-steps", "8", "--save-steps", "3"]
    launch(tmp_path / "full", *common)
    # Rank 1 dies in the middle of step 5, while rank 0 waits for it in a collective: torchrun must end both.
    killed = launch(tmp_path / "cut", *common, "--kill-rank", "1", "--kill-step", "5", expect_ok=False)
    assert killed.returncode != 0
    assert not list((tmp_path / "cut").glob("rank*.npz"))  # neither process got to the end
    launch(tmp_path / "cut", *common, "--resume", "true")
    _check_resumed(load_ranks(tmp_path / "full"), load_ranks(tmp_path / "cut"), step=3)


def _launch_two_nodes(outs: list[Path], *args: str) -> None:
    """`torchrun --nnodes 2` twice on this machine, one process per node, each node with its own output folder."""
    import threading

    port = str(free_port())
    results: dict[int, subprocess.CompletedProcess] = {}

    def node(rank: int) -> None:
        # The c10d rendezvous of multi-node jobs (static rendezvous can leave node 0's agent waiting at exit).
        launcher = ["torchrun", "--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
                    "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", f"two-nodes-{port}"]
        cmd = [*launcher, str(HARNESS), "--out", str(outs[rank]), "--save-on-each-node", *args]
        results[rank] = run_process(cmd, LAUNCH_TIMEOUT, env=ENV)

    threads = [threading.Thread(target=node, args=(rank,)) for rank in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = [node for node in range(2) if results[node].returncode != 0]
    assert not failed, "\n\n".join(f"node {r} exited with {results[r].returncode}:\n{results[r].stderr[-6000:]}" for r in failed)


@needs_torchrun
def test_two_nodes_without_a_shared_filesystem_resume_exactly(tmp_path):
    common = ["--max-steps", "8", "--save-steps", "3"]
    launch(tmp_path / "full", *common)
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    _launch_two_nodes(nodes, *common, "--stop-at", "4")
    for folder in nodes:  # every node wrote its own complete checkpoint
        assert (folder / "checkpoint-3" / "curriculum_state.npz").exists(), folder
        assert (folder / "checkpoint-3" / "trainer_state.json").exists(), folder
    # transformers 5 writes the model's weights on global rank 0 only, even with save_on_each_node (its
    # `should_save_on_this_rank`), and each node its own ranks' RNG states; the c10d rendezvous may give a node
    # another rank next time. Each node gets the files it lacks as a user would (shared model storage, or a copy).
    for source, target in ((nodes[0], nodes[1]), (nodes[1], nodes[0])):
        for path in (source / "checkpoint-3").iterdir():
            if not (target / "checkpoint-3" / path.name).exists():
                shutil.copy(path, target / "checkpoint-3" / path.name)
    for stale in [*nodes[0].glob("rank*.npz"), *nodes[1].glob("rank*.npz")]:
        stale.unlink()  # the stopped run's results: the rendezvous may give each node the other rank this time
    _launch_two_nodes(nodes, *common, "--resume", "true")
    resumed = [np.load(next(folder / f"rank{r}.npz" for folder in nodes if (folder / f"rank{r}.npz").exists()))
               for r in range(WORLD)]
    _check_resumed(load_ranks(tmp_path / "full"), [{k: d[k] for k in d.files} for d in resumed], step=3)


def _union(ranks: list[dict[str, np.ndarray]]) -> np.ndarray:
    return np.sort(np.concatenate([r["local_rows"] for r in ranks]))


@needs_torchrun
@pytest.mark.parametrize("before, after", [(2, 1), (1, 2)], ids=["2-to-1", "1-to-2"])
def test_elastic_resume_with_another_global_batch_continues_the_stream(tmp_path, before, after):
    # 64 rows; per-device batch 4 x accumulation 2: a global batch of 16 with two processes, 8 with one. The block
    # is 32 samples either way (refresh 2 or 4 steps), and the learning rate 0 keeps every row's loss the same
    # whatever the batching, so the resumed run must draw and score exactly what the uninterrupted one did.
    def args(world, *extra):
        refresh, steps = ("2", "8") if world == 2 else ("4", "16")
        return ["--refresh", refresh, "--max-steps", steps, "--lr", "0", *extra]

    def torchrun(world):
        return ["torchrun", "--nproc_per_node", str(world), "--master_port", str(free_port())]

    launch(tmp_path / "full", *args(before), launcher=torchrun(before))
    saved_step = 3 if before == 2 else 6  # stream position 48 either way
    launch(tmp_path / "cut", *args(before, "--save-steps", str(saved_step), "--stop-at", str(saved_step + 1)),
           launcher=torchrun(before))
    checkpoint = tmp_path / "cut" / f"checkpoint-{saved_step}"
    for f in (tmp_path / "cut").glob("rank*.npz"):
        f.unlink()
    # The resumed run keeps the saved config (refresh_every_steps is part of the fingerprint) with its own batch.
    resumed_args = args(after)
    resumed_args[1], resumed_args[3] = args(before)[1], args(after)[3]
    launch(tmp_path / "cut", *resumed_args, "--resume", str(checkpoint), launcher=torchrun(after))
    full = [dict(np.load(tmp_path / "full" / f"rank{r}.npz")) for r in range(before)]
    resumed = [dict(np.load(tmp_path / "cut" / f"rank{r}.npz")) for r in range(after)]
    np.testing.assert_array_equal(resumed[0]["stream"], full[0]["stream"])
    np.testing.assert_array_equal(resumed[0]["scores_count"], full[0]["scores_count"])
    np.testing.assert_allclose(resumed[0]["scores_loss"], full[0]["scores_loss"], rtol=1e-5)
    # It trained on the rows the uninterrupted run trained on after stream position 48, no more and no fewer.
    assert int(resumed[0]["global_step"]) * 8 * after == 128
    after_48 = np.sort(np.concatenate([r["local_rows"][48 // before :] for r in full]))
    np.testing.assert_array_equal(_union(resumed), after_48)
