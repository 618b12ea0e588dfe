"""Per-prompt rollout statistics, predicted pass rates, balanced filtering, the rollout buffer and GRPO's stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curriculum import Curriculum, CurriculumConfig, ScoreTable
from curriculum.config import ConfigError
from curriculum.factors import RowData
from curriculum.factors.balanced import FLOOR, BalancedFiltering
from curriculum.pass_rate import PRIOR_COMPLETIONS, balanced_weight, predicted_pass_rate
from curriculum.rollout_buffer import RolloutBuffer
from curriculum.rollouts import RolloutStats, group_statistics
from curriculum.samplers import CurriculumSampler, RepeatCurriculumSampler
from curriculum.sharing import ScoreSharing

NAN = float("nan")


def test_group_statistics_by_hand():
    rewards = np.array([1.0, 0.0, 1.0, 1.0,  # 3 of 4 pass
                        0.2, 0.2, 0.2, 0.2,  # all equal: zero advantage, none passes
                        NAN, 1.0, NAN, 0.0,  # two completions without a reward
                        NAN, NAN, NAN, NAN])  # nothing to score
    s = group_statistics(rewards, 4, pass_threshold=0.5)
    np.testing.assert_allclose(s.pass_rate[:3], [0.75, 0.0, 0.5])
    assert np.isnan(s.pass_rate[3])
    np.testing.assert_allclose(s.mean[:3], [0.75, 0.2, 0.5])
    np.testing.assert_allclose(s.std[:3], [np.std([1, 0, 1, 1], ddof=1), 0.0, np.std([1, 0], ddof=1)])
    assert s.zero_advantage.tolist() == [False, True, False, True]
    assert s.completions.tolist() == [4, 4, 2, 0]
    scaled = group_statistics(np.array([2.0, 4.0, 6.0, 10.0]), 2, pass_rate_from="scaled_reward",
                              reward_range=(2.0, 6.0))
    np.testing.assert_allclose(scaled.pass_rate, [0.25, 1.0])  # (3 - 2) / 4; 8 clipped to 1
    with pytest.raises(ValueError, match="whole groups of num_generations=4"):
        group_statistics(np.zeros(6), 4)


def test_predicted_pass_rate_shrinks_to_the_task_mean_and_lends_to_unseen_rows():
    table = ScoreTable(6)
    table.update(np.array([0, 0, 1, 3]), np.zeros(4), np.array([1.0, 1.0, 0.5, 0.0]))  # row 0 twice: 1 then 1
    groups = np.array([0, 0, 0, 1, 1, 1])
    p = predicted_pass_rate(table, 4, groups)
    overall = (1.0 + 0.5 + 0.0 + 0.5) / 4  # rolled-out prompts' rates, and one more at 1/2
    task0 = (1.0 + 0.5 + overall) / 3  # its two rolled-out prompts, and one more at the overall mean
    task1 = (0.0 + overall) / 2
    k = PRIOR_COMPLETIONS
    np.testing.assert_allclose(p, [(8 * 1.0 + k * task0) / (8 + k), (4 * 0.5 + k * task0) / (4 + k), task0,
                                   (4 * 0.0 + k * task1) / (4 + k), task1, task1])
    assert (p > 0).all() and (p < 1).all()
    # Row 5 is a copy of row 3: unseen, it borrows row 3's pass rate as one group's worth.
    sharing = ScoreSharing(np.array([0, 1, 2, 3, 4, 3]))
    lent = predicted_pass_rate(table, 4, groups, sharing)
    assert lent[5] == pytest.approx((4 * 0.0 + k * task1) / (4 + k))
    assert lent[4] == pytest.approx(task1)


def test_balanced_weight_is_the_chance_of_a_non_zero_advantage():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(balanced_weight(p, 8), 1 - p**8 - (1 - p) ** 8)
    assert balanced_weight(p, 8).argmax() == 2


def test_balanced_filtering_on_constructed_pass_rates():
    table = ScoreTable(6)
    rates = np.array([1.0, 0.0, 0.5, 1.0, 1.0, 1.0])
    for _ in range(20):  # many rollouts: the predicted pass rates are near the observed ones
        table.update(np.arange(6), 1 - rates, rates)
    groups = np.array([0, 0, 0, 1, 1, 1])
    rows = RowData(6, groups, 2, num_generations=8)
    factor = BalancedFiltering.build(CurriculumConfig(signal="pass_rate"), rows, {})
    weights = factor.row_factor(table)
    expected = np.maximum(balanced_weight(predicted_pass_rate(table, 8, groups), 8), FLOOR)
    np.testing.assert_allclose(weights, expected)
    assert weights[2] > 0.99 and weights[[0, 1, 3, 4, 5]].max() < 0.06
    # Task 1 is solved everywhere: its share factor is its rows' mean factor, far below task 0's.
    np.testing.assert_allclose(factor.share_factor(table), [weights[:3].mean(), weights[3:].mean()])
    assert BalancedFiltering.build(CurriculumConfig(signal="pass_rate", balanced_filtering=False), rows, {}) is None
    assert BalancedFiltering.build(CurriculumConfig(), rows, {}) is None


def test_pass_rate_weights_target_one_half_and_move_share_to_the_task_that_trains():
    c = Curriculum.from_arrays(CurriculumConfig(signal="pass_rate", group_column="task"), 6,
                               groups=list("aaabbb"), global_batch=3, num_generations=8)
    rates = np.array([0.5, 0.9, 0.1, 1.0, 1.0, 1.0])
    for step in range(1, 6):
        rewards = np.concatenate([np.r_[np.ones(round(8 * r)), np.zeros(8 - round(8 * r))] for r in rates])
        c.observe_rollouts(np.arange(6), rewards, step=step)
    w = c.weights(c.position(5))
    assert w[0] > w[1] and w[0] > w[2] and w[:3].sum() > 0.8
    assert c.last_refresh["target"] == 0.5
    np.testing.assert_allclose(1 - c.difficulty(c.scores), predicted_pass_rate(c.scores, 8, c.groups))


def test_pass_rate_config_defaults_and_refusals():
    c = CurriculumConfig(signal="pass_rate")
    assert (c.schedule, c.start, c.end) == ("constant", 0.5, 0.5)
    assert CurriculumConfig(signal="pass_rate", schedule="linear", start=0.2).start == 0.2  # set: kept
    with pytest.raises(ConfigError, match=r"reward_range should be \[lowest, highest\]"):
        CurriculumConfig(signal="pass_rate", reward_range=[1.0, 1.0])
    with pytest.raises(ConfigError, match=r"noise_filter='mixture' finds wrong answers .* use noise_filter='none'"):
        CurriculumConfig(signal="pass_rate", noise_filter="mixture")
    with pytest.raises(ConfigError, match="rollout replay keeps every recent group"):
        CurriculumConfig(signal="pass_rate", replay_value="near_target")
    with pytest.raises(ValueError, match="observe_rollouts needs signal='pass_rate'"):
        Curriculum.from_arrays(CurriculumConfig(), 4).observe_rollouts(np.arange(2), np.zeros(2), step=1)


def test_rollout_stats_metrics_and_state():
    stats = RolloutStats(4)
    stats.observe(np.array([0, 1]), group_statistics(np.array([1.0, 0.0, 1.0, 1.0]), 2), replayed=2)
    stats.observe(np.array([0, 3]), group_statistics(np.array([1.0, 1.0, 0.0, 0.0]), 2))
    assert stats.reward_mean[0] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert stats.zero_advantage.tolist() == [1, 1, 0, 1]
    m = stats.metrics()
    assert m["curriculum/zero_advantage_share"] == 0.75
    assert m["curriculum/replay_share"] == pytest.approx(2 / 10)
    assert (m["curriculum/completions"], m["curriculum/replayed_completions"]) == (8, 2)
    assert m["curriculum/pass_rate_mean"] == pytest.approx(np.mean([0.5, 1.0, 1.0, 0.0]))
    assert "curriculum/zero_advantage_share" not in stats.metrics()  # a window: nothing since the last call
    restored = RolloutStats(4)
    restored.load_state_dict(stats.state_dict())
    for key, value in stats.state_dict().items():
        np.testing.assert_array_equal(restored.state_dict()[key], value)


def _batch(advantages, lengths=(2, 2, 2, 2)):
    n = len(advantages)
    completion_mask = torch.zeros(n, 3, dtype=torch.long)
    for i, length in enumerate(lengths[:n]):
        completion_mask[i, :length] = 1
    return {"prompt_ids": torch.tensor([[0, 5 + i] for i in range(n)]), "prompt_mask": torch.tensor([[0, 1]] * n),
            "completion_ids": torch.arange(n * 3).reshape(n, 3) + 10, "completion_mask": completion_mask,
            "advantages": torch.tensor(advantages, dtype=torch.float32)}


def test_rollout_buffer_keeps_informative_groups_until_they_age_out():
    buffer = RolloutBuffer(capacity=2, max_age=2, group_size=2)
    ids = buffer.admit(1, _batch([0.0, 0.0, 0.5, -0.5]))  # the first group has zero advantage
    assert ids.tolist() == [-1, -1, 0, 1] and len(buffer) == 1
    assert buffer.ready(2) == []  # behaviour log-probabilities not known yet
    buffer.record_logps(torch.tensor([1, 0]), torch.tensor([[-1.0, -2.0, 0.0], [-3.0, -4.0, 0.0]]))
    buffer.record_logps(torch.tensor([0]), torch.tensor([[9.0, 9.0, 9.0]]))  # kept once
    assert buffer.ready(1) == [] and buffer.ready(2) == [0] and buffer.ready(3) == [0] and buffer.ready(4) == []
    replay = buffer.take(1, 2, seed=0)
    assert replay["old_per_token_logps"].tolist() == [[-3.0, -4.0], [-1.0, -2.0]]
    assert replay["prompt_ids"].tolist() == [[7], [8]] and replay["advantages"].tolist() == [0.5, -0.5]
    assert buffer.replayed == 2
    with pytest.raises(ValueError, match="2 groups asked of the rollout buffer, but 1 are replayable"):
        buffer.take(2, 2, seed=0)
    buffer.admit(2, _batch([1.0, -1.0]))
    buffer.admit(3, _batch([1.0, -1.0]))  # capacity 2: the oldest goes
    assert len(buffer) == 2 and 0 not in dict(buffer.state_dict()["groups"])
    buffer.admit(6, _batch([0.0, 0.0]))  # rounds 2 and 3 are more than 2 rounds old
    assert len(buffer) == 0


def test_rollout_buffer_state_round_trip_and_deterministic_choice():
    buffer = RolloutBuffer(capacity=8, max_age=4, group_size=2)
    for round_ in (1, 2, 3):
        ids = buffer.admit(round_, _batch([1.0, -1.0, 0.5, -0.5], lengths=(1, 2, 3, 2)))
        buffer.record_logps(ids, torch.randn(4, 3))
    restored = RolloutBuffer(capacity=8, max_age=4, group_size=2)
    restored.load_state_dict(buffer.state_dict())
    a, b = buffer.take(3, 4, seed=[7, 4, 0]), restored.take(3, 4, seed=[7, 4, 0])
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert sorted(a["completion_mask"].sum(dim=1).tolist()) == [1, 1, 2, 2, 2, 3]
    with pytest.raises(ValueError, match="groups of 2 completions but num_generations is 4"):
        RolloutBuffer(8, 4, 4).load_state_dict(buffer.state_dict())


def _sampler(rows=12, prompts=3, seed=0):
    curriculum = Curriculum.from_arrays(CurriculumConfig(signal="pass_rate"), rows, global_batch=prompts,
                                        num_generations=2)
    return RepeatCurriculumSampler(CurriculumSampler(curriculum, seed=seed), 2, prompts, repeat_count=3)


def test_repeat_sampler_lays_out_grpo_rounds():
    sampler = _sampler()
    stream, prompts = list(sampler), sampler.sampler.drawn.tolist()
    assert len(stream) == len(sampler) == 12 * 2 * 3
    expected = []
    for k in range(0, 12, 3):
        expected += [row for row in prompts[k : k + 3] for _ in range(2)] * 3
    assert stream == expected
    assert sorted(prompts) == list(range(12))  # one pass: every prompt once
    with pytest.raises(ValueError, match="built for 3 prompts per generation round but the trainer generates for 4"):
        RepeatCurriculumSampler(sampler.sampler, 2, 4)


def test_repeat_sampler_resumes_its_stream():
    sampler = _sampler()
    first = list(sampler)
    resumed = _sampler(seed=0)
    resumed.load_state_dict(sampler.state_dict())
    assert list(resumed) == first
    resumed.set_epoch(1)
    assert list(resumed) != first and len(list(resumed)) == len(first)
