"""`Curriculum.from_dataset` under torchrun (2 processes, gloo on CPU): rank 0 finds the duplicates, the others load them."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest

from processes import ROOT, check_ok, free_port, run_process

HARNESS = ROOT / "tests" / "attach_harness.py"
WORLD = 2
LAUNCH_TIMEOUT = 180  # a launch takes ~10 s on 2 CPU cores: room for a busy machine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not on PATH"),
]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict[str, np.ndarray]]:
    out = tmp_path_factory.mktemp("attach")
    launcher = ["torchrun", "--nproc_per_node", str(WORLD), "--master_port", str(free_port())]
    check_ok(run_process([*launcher, str(HARNESS), "--out", str(out)], LAUNCH_TIMEOUT, env={"OMP_NUM_THREADS": "1"}))
    loaded = []
    for r in range(WORLD):
        with np.load(out / f"rank{r}.npz") as data:
            loaded.append({k: data[k] for k in data.files})
    return loaded


def test_rank_zero_computes_and_the_others_receive_its_codes(ranks):
    first, second = ranks
    assert int(first["world_size"]) == WORLD
    assert int(first["calls"]) == 2 and int(second["calls"]) == 0  # content and prompt copies, on rank 0 only
    np.testing.assert_array_equal(first["canonical"], second["canonical"])
    np.testing.assert_array_equal(first["copies_of"], second["copies_of"])


def test_the_codes_are_those_of_one_process(ranks):
    sys.path.insert(0, str(HARNESS.parent))
    from attach_harness import dataset

    from curriculum import Curriculum, CurriculumConfig

    ds = dataset(400)
    alone = Curriculum.from_dataset(CurriculumConfig(group_column="task", share_scores="duplicates"), ds, global_batch=4)
    assert (alone.difficulty.sharing.canonical != np.arange(len(ds))).any()  # the data has copies
    for rank in ranks:
        np.testing.assert_array_equal(rank["canonical"], alone.difficulty.sharing.canonical)
        np.testing.assert_array_equal(rank["copies_of"], alone.factors["duplicates"].copies_of)


def test_an_error_on_rank_zero_stops_every_rank(ranks):
    first, second = ranks
    assert str(first["error"]).startswith("ValueError: content_column='missing' is not a column")
    assert str(second["error"]).startswith("RuntimeError: curriculum: rank 0 failed to read the dataset")
