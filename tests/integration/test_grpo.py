"""The curriculum under a real `trl.GRPOTrainer`: per-prompt pass rates from GRPO's own rewards, selection, replay."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grpo_harness import make_grpo

from curriculum import CurriculumConfig
from curriculum.grpo import ROLLOUT_KEY, check_grpo_config

G = 4


def _groups(log: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """(row, pass rate) of each group of G consecutive completions, in the order GRPO scored them."""
    out = []
    for k in range(0, len(log), G):
        rows = {row for row, _ in log[k : k + G]}
        assert len(rows) == 1, "a group's completions should all answer one prompt"
        out.append((rows.pop(), float(np.mean([r >= 0.5 for _, r in log[k : k + G]]))))
    return out


def test_pass_rates_are_those_of_the_rewards_grpo_computed(tmp_path):
    trainer, handle, reward = make_grpo(str(tmp_path), max_steps=6)
    trainer.train()
    groups = _groups(reward.log)
    expected_rate, expected_count = {}, {}
    for row, rate in groups:  # the running mean, as the score table keeps it (ema 0.5, the first visit initialises)
        expected_rate[row] = rate if row not in expected_rate else 0.5 * expected_rate[row] + 0.5 * rate
        expected_count[row] = expected_count.get(row, 0) + 1
    t = handle.scores
    rows = np.array(sorted(expected_rate))
    np.testing.assert_allclose(t.confidence[rows], [expected_rate[r] for r in rows], rtol=1e-6)
    np.testing.assert_allclose(t.loss[rows], [1 - expected_rate[r] for r in rows], rtol=1e-6, atol=1e-7)
    assert t.count[rows].tolist() == [expected_count[r] for r in rows]
    assert int(t.count.sum()) == len(groups) == 6 * 4  # 6 rounds of 16 completions, 4 prompts
    assert handle.curriculum.rollouts.completions == len(reward.log) == 6 * 16
    assert handle.curriculum.step == 6
    # The stream drawn is what GRPO rolled out, prompt by prompt.
    assert handle.sampler.drawn[: len(groups)].tolist() == [row for row, _ in groups]


def test_zero_advantage_share_and_pass_rates_are_logged_as_grpo_sees_them(tmp_path):
    trainer, handle, reward = make_grpo(str(tmp_path), max_steps=4)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "curriculum/zero_advantage_share" in entry]
    assert len(logs) == 4
    groups = _groups(reward.log)
    for k, entry in enumerate(logs):
        assert entry["curriculum/zero_advantage_share"] == pytest.approx(entry["frac_reward_zero_std"])
        rates = [rate for _, rate in groups[4 * k : 4 * k + 4]]
        assert entry["curriculum/pass_rate_mean"] == pytest.approx(np.mean(rates), abs=1e-6)
        assert entry["curriculum/completions"] == 16 * (k + 1)
        assert entry["curriculum/replay_share"] == 0.0


def test_selection_moves_to_the_prompts_whose_groups_train(tmp_path):
    trainer, handle, _ = make_grpo(str(tmp_path), max_steps=12)
    trainer.train()
    weights = handle.curriculum.weights(handle.curriculum.position(12))
    tasks = np.array(["solved", "mid", "impossible"] * 20)
    mean = {task: weights[tasks == task].mean() for task in ("solved", "mid", "impossible")}
    assert mean["mid"] > 3 * mean["solved"] and mean["mid"] > 3 * mean["impossible"], mean


def _direct_logps(model, prompt: torch.Tensor, completion: torch.Tensor) -> torch.Tensor:
    """log p(completion token | prefix) under `model`, computed here directly: the decoder's last hidden states
    times the LM head's weight (GRPO patches the model's own forward with its fused head)."""
    ids = torch.cat([prompt, completion])[None]
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state[0, prompt.numel() - 1 : -1]
        logits = hidden.float() @ model.lm_head.weight.float().T
    return torch.log_softmax(logits, dim=-1).gather(1, completion[:, None])[:, 0]


def test_replayed_rollouts_keep_the_behaviour_policy_and_the_importance_ratio_corrects(tmp_path):
    config = CurriculumConfig(signal="pass_rate", group_column="task", replay_share=0.5)
    trainer, handle, _ = make_grpo(str(tmp_path), config=config, max_steps=4, learning_rate=0.05)
    params, seen, moved = {}, [], []

    class Snapshot:  # the parameters at the start of each optimizer step (= of each generation round)
        def __getattr__(self, name):
            return lambda *a, **k: None

        def on_step_begin(self, args, state, control, **kwargs):
            params[state.global_step + 1] = copy.deepcopy(trainer.model.state_dict())

    trainer.add_callback(Snapshot())
    compute_loss, logps_fn = trainer._compute_loss, trainer._get_per_token_logps_and_entropies

    def recording_loss(model, inputs):
        seen.append({"step": trainer.state.global_step + 1, "ids": inputs[ROLLOUT_KEY].clone(),
                     "old": inputs["old_per_token_logps"].clone() if "old_per_token_logps" in inputs else None,
                     **{k: inputs[k].clone() for k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask")}})
        return compute_loss(model, inputs)

    def recording_logps(*args, **kwargs):
        out = logps_fn(*args, **kwargs)
        if torch.is_grad_enabled() and seen and "now" not in seen[-1]:
            seen[-1]["now"] = out[0].detach().clone()
        return out

    trainer._compute_loss, trainer._get_per_token_logps_and_entropies = recording_loss, recording_logps
    trainer.train()
    assert handle.curriculum.rollouts.replayed > 0
    model = copy.deepcopy(trainer.model)
    buffer = {(tuple(g["prompt"][j].tolist()), tuple(g["completion"][j].tolist())): (g["round"], g["logps"][j])
              for _, g in handle.callback.buffer.state_dict()["groups"] for j in range(G)}
    checked = 0
    for batch in seen:
        for i in range(len(batch["ids"])):
            n = int(batch["completion_mask"][i].sum())
            prompt = batch["prompt_ids"][i][batch["prompt_mask"][i].bool()]
            completion = batch["completion_ids"][i, :n]
            key = (tuple(prompt.tolist()), tuple(completion.tolist()))
            if batch["ids"][i] >= 0 and key in buffer:  # a generated row kept for replay: its behaviour policy
                round_, stored = buffer[key]
                model.load_state_dict(params[round_])
                torch.testing.assert_close(stored[:n], _direct_logps(model, prompt, completion), rtol=0, atol=5e-3)
            if batch["old"] is None or torch.isnan(batch["old"][i]).any():
                continue
            # A replayed row: GRPO's old log-probabilities are the stored behaviour ones, and its importance ratio
            # exp(now - old) is the ratio of the current policy to the one that generated the completion.
            round_, stored = buffer[key]
            assert round_ < batch["step"]
            torch.testing.assert_close(batch["old"][i, :n], stored[:n])
            model.load_state_dict(params[batch["step"]])
            now = _direct_logps(model, prompt, completion)
            model.load_state_dict(params[round_])
            then = _direct_logps(model, prompt, completion)
            ratio = torch.exp(batch["now"][i, :n] - batch["old"][i, :n])
            torch.testing.assert_close(ratio, torch.exp(now - then), rtol=1e-2, atol=0)
            moved.append(float((ratio - 1).abs().max()))
            checked += 1
    assert checked >= G
    assert max(moved) > 0.05  # the policy moved: the ratio corrects something


@pytest.mark.parametrize("replay", [0.0, 0.5])
def test_a_resumed_run_equals_the_uninterrupted_one(tmp_path, replay):
    config = CurriculumConfig(signal="pass_rate", group_column="task", replay_share=replay)
    full, full_handle, full_reward = make_grpo(str(tmp_path / "a"), config=config, max_steps=6, save_steps=3)
    full.train()
    part, part_handle, part_reward = make_grpo(str(tmp_path / "b"), config=copy.deepcopy(config), max_steps=6)
    part.train(resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-3"))
    assert part_reward.log == full_reward.log[len(full_reward.log) - len(part_reward.log) :]
    a, b = full_handle.curriculum.state_dict(), part_handle.curriculum.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(full_handle.sampler.drawn, part_handle.sampler.drawn)
    if replay:
        ga, gb = (h.callback.buffer.state_dict()["groups"] for h in (full_handle, part_handle))
        assert [k for k, _ in ga] == [k for k, _ in gb]
        for (_, x), (_, y) in zip(ga, gb):
            assert x["round"] == y["round"]
            torch.testing.assert_close(x["advantages"], y["advantages"])
            for p, q in zip(x["logps"], y["logps"]):
                torch.testing.assert_close(p, q)


def test_grpo_needs_the_pass_rate_signal(tmp_path):
    trainer, _, _ = make_grpo(str(tmp_path), attach_curriculum=False)
    from curriculum import attach

    with pytest.raises(ValueError, match=r"signal='loss' reads a supervised answer's loss.*signal='pass_rate'"):
        attach(trainer, CurriculumConfig())


def _grpo_args(**changes):
    base = dict(per_device_train_batch_size=3, steps_per_generation=2, num_generations=4, use_vllm=False,
                use_liger_kernel=False)
    return SimpleNamespace(args=SimpleNamespace(**{**base, **changes}), tools=None, environment_factories=None)


@pytest.mark.parametrize("changes, why", [
    ({}, r"each process must hold whole groups of completions: per_device_train_batch_size x steps_per_generation = 6 is not a multiple of num_generations = 4"),
    ({"per_device_train_batch_size": 4, "use_liger_kernel": True}, r"use_liger_kernel=True computes GRPO's loss"),
    ({"per_device_train_batch_size": 4, "use_vllm": True, "vllm_importance_sampling_correction": True},
     r"vLLM's importance-sampling correction"),
])
def test_rollout_replay_refuses_what_it_cannot_splice(changes, why):
    config = CurriculumConfig(signal="pass_rate", replay_share=0.25)
    with pytest.raises(ValueError, match=r"replay_share=0.25 \(rollout replay\) is not supported here: " + why):
        check_grpo_config(_grpo_args(**changes), config)
    check_grpo_config(_grpo_args(**changes), CurriculumConfig(signal="pass_rate"))  # without replay: fine


def test_supervised_trainers_refuse_the_pass_rate_signal(tmp_path, tokenizer):
    from conftest import make_trainer
    from curriculum import attach
    from curriculum.toy import make_graded_dataset

    trainer, _ = make_trainer("sft", make_graded_dataset(16), tokenizer, str(tmp_path), attach_curriculum=False)
    with pytest.raises(ValueError, match=r"signal='pass_rate' .* only TRL's GRPOTrainer computes; SFTTrainer trains"):
        attach(trainer, CurriculumConfig(signal="pass_rate"))


@pytest.mark.parametrize("extra, replay, rounds, per_round", [
    ({"num_iterations": 2}, 0.0, 3, 16),  # each generation trained on twice: 6 steps x 2 micro-steps / (2 x 2)
    ({"steps_per_generation": 4}, 0.5, 3, 32),  # one generation for two optimizer steps; GRPO keeps old log-probs
    ({"gradient_accumulation_steps": 4, "steps_per_generation": 2}, 0.0, 12, 16),  # two rounds per optimizer step
])
@pytest.mark.filterwarnings("error:curriculum. the data loader reached")  # every block drawn at its fixed position
def test_generation_rounds_follow_grpos_reuse_of_generations(tmp_path, extra, replay, rounds, per_round):
    config = CurriculumConfig(signal="pass_rate", group_column="task", replay_share=replay)
    extra = {"grad_accum": extra.pop("gradient_accumulation_steps", 2), **extra}
    trainer, handle, reward = make_grpo(str(tmp_path), config=config, max_steps=6, **extra)
    trainer.train()
    c = handle.curriculum
    assert c.step == rounds
    assert c.rollouts.completions + c.rollouts.replayed == rounds * per_round
    assert c.rollouts.completions == len(reward.log)
    assert int(c.scores.count.sum()) == len(reward.log) // G
    assert handle.sampler.drawn[: len(reward.log) // G].tolist()[: 4] == [row for row, _ in _groups(reward.log)][: 4]


def test_a_checkpoint_without_the_rollout_buffer_is_refused(tmp_path):
    config = CurriculumConfig(signal="pass_rate", group_column="task", replay_share=0.5)
    trainer, _, _ = make_grpo(str(tmp_path / "a"), config=config, max_steps=2, save_steps=2)
    trainer.train()
    checkpoint = tmp_path / "a" / "checkpoint-2"
    (checkpoint / "curriculum_rollouts_rank0.pt").unlink()
    resumed, _, _ = make_grpo(str(tmp_path / "b"), config=copy.deepcopy(config), max_steps=2)
    with pytest.raises(FileNotFoundError, match=r"curriculum_rollouts_rank0\.pt does not exist: the checkpoint was "
                                                r"saved without rollout replay, or by fewer processes"):
        resumed.train(resume_from_checkpoint=str(checkpoint))
