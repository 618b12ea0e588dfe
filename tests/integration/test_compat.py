"""The private Trainer members the curriculum uses exist in the installed versions; the core imports no framework."""

from __future__ import annotations

import importlib

import pytest

from curriculum.compat import PRIVATE_MEMBERS
from processes import PYTHON, run_process


@pytest.fixture(scope="module")
def built_trainer(tmp_path_factory, tokenizer):
    from transformers import Trainer, TrainingArguments

    from curriculum.toy import make_graded_dataset, make_tiny_model, tokenize_for_causal_lm

    dataset = tokenize_for_causal_lm(make_graded_dataset(8), tokenizer)
    args = TrainingArguments(output_dir=str(tmp_path_factory.mktemp("compat")), use_cpu=True, report_to=[])
    trainer = Trainer(model=make_tiny_model(len(tokenizer)), args=args, train_dataset=dataset)
    trainer._set_signature_columns_if_needed()  # creates `_signature_columns`
    return trainer


@pytest.mark.parametrize("owner, member", PRIVATE_MEMBERS, ids=[f"{o}.{m}" for o, m in PRIVATE_MEMBERS])
def test_private_member_exists(owner, member, built_trainer):
    module, name = owner.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    assert hasattr(cls, member) or hasattr(built_trainer, member), f"{owner}.{member} is gone in this version"


def test_no_other_private_trainer_member_is_used():
    # Outside curriculum.compat, the Trainer's private members are not touched: the only `self._x` / `trainer._x`
    # left in the integration are the mixin's own, and its overrides of the listed sampler and resume hooks.
    import inspect
    import re

    import curriculum.integration as integration

    used = set(re.findall(r"\b(?:self|trainer)\.(_[a-z]\w*)", inspect.getsource(integration)))
    own = {"_install_curriculum", "_curriculum_installed", "_curriculum_step", "_curriculum_handle",
           "_curriculum_resume", "_is_checkpoint", "_loader_batch_size"}
    assert used == own | {"_get_train_sampler"}, used
    for hook in ("_get_train_sampler", "_load_callback_state"):
        assert ("transformers.Trainer", hook) in PRIVATE_MEMBERS
    # The GRPO mixin: its own members, the listed GRPOTrainer overrides and the Trainer's listed ones.
    import curriculum.grpo as grpo

    used = set(re.findall(r"\b(?:self|trainer)\.(_[a-z]\w*)", inspect.getsource(grpo)))
    listed = {member for _, member in PRIVATE_MEMBERS}
    assert used - listed <= own | {"_curriculum_rows", "_curriculum_capture", "_replay_groups", "_splice"}, used - listed


@pytest.mark.slow
def test_core_imports_no_framework():
    code = (
        "import sys, curriculum\n"
        "from curriculum import Curriculum, CurriculumConfig\n"
        "c = Curriculum.from_arrays(CurriculumConfig(), 4, texts=list('abcd'))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'accelerate', 'datasets') if m in sys.modules))\n"
    )
    out = run_process([PYTHON, "-c", code], timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
