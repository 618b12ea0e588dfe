"""The signals that separate noise from hard: confidence variability, the loss mixture, learning progress, the data map."""

import numpy as np
import pytest

from curriculum import ConfigError, Curriculum, CurriculumConfig, ScoreTable
from curriculum.datamap import CATEGORIES
from curriculum.noise import noise_probability, two_component_mixture
from curriculum.progress import TaskProgress


def test_variability_matches_a_hand_computed_weighted_variance():
    table = ScoreTable(2, ema=0.25)
    confidences = [0.2, 0.9, 0.4, 0.8]
    for step, c in enumerate(confidences, 1):
        table.update(np.array([0]), np.array([1.0]), np.array([c]), step=step)
    mean, var = confidences[0], 0.0
    for x in confidences[1:]:
        d = x - mean
        mean = mean + 0.75 * d
        var = 0.25 * (var + 0.75 * d * d)
    assert table.confidence[0] == pytest.approx(mean, abs=1e-6)
    assert table.variability[0] == pytest.approx(np.sqrt(var), abs=1e-6)
    assert np.isnan(table.variability[1])


def test_variability_is_zero_after_one_visit_and_for_a_constant_confidence():
    table = ScoreTable(2)
    table.update(np.array([0, 1]), np.array([1.0, 1.0]), np.array([0.3, 0.6]))
    table.update(np.array([1]), np.array([1.0]), np.array([0.6]))
    assert table.variability.tolist() == [0.0, 0.0]


def test_mixture_recovers_a_bimodal_loss():
    rng = np.random.default_rng(1)
    clean, noisy = rng.normal(0.3, 0.1, 800), rng.normal(2.5, 0.4, 200)
    posterior, fit = two_component_mixture(np.r_[clean, noisy])
    assert fit["low"] == pytest.approx(0.3, abs=0.02) and fit["high"] == pytest.approx(2.5, abs=0.06)
    assert fit["high_weight"] == pytest.approx(0.2, abs=0.01)
    assert fit["low_std"] == pytest.approx(0.1, abs=0.01) and fit["high_std"] == pytest.approx(0.4, abs=0.04)
    assert (posterior[:800] < 0.5).mean() > 0.995 and (posterior[800:] > 0.5).mean() > 0.995
    # The posterior is Bayes' rule with the fitted parameters.
    x = 1.2
    def density(m, s, w):
        return w * np.exp(-0.5 * ((x - m) / s) ** 2) / s
    high = density(fit["high"], fit["high_std"], fit["high_weight"])
    low = density(fit["low"], fit["low_std"], 1 - fit["high_weight"])
    posterior_x, _ = two_component_mixture(np.r_[clean, noisy, x])
    assert posterior_x[-1] == pytest.approx(high / (high + low), rel=0.02)


def test_mixture_is_deterministic_and_safe_on_constant_values():
    values = np.random.default_rng(0).gamma(2.0, size=300)
    np.testing.assert_array_equal(two_component_mixture(values)[0], two_component_mixture(values.copy())[0])
    posterior, fit = two_component_mixture(np.full(10, 3.0))
    assert posterior.tolist() == [0.0] * 10 and fit["high_weight"] == 0.0


def test_noise_probability_is_fitted_within_groups_and_only_on_revisited_rows():
    rng = np.random.default_rng(2)
    n = 400
    groups = np.repeat([0, 1], n // 2)
    loss = np.r_[rng.normal(0.2, 0.05, 160), rng.normal(2.0, 0.2, 40), rng.normal(1.0, 0.3, 200)]
    count = np.full(n, 3)
    count[:5] = 1  # too few visits: never suspected
    p = noise_probability(loss, count, groups, min_visits=2)
    assert p[:5].tolist() == [0.0] * 5
    assert (p[5:160] < 0.5).all() and (p[160:200] > 0.5).all()
    # Group 1 is one mode: a mixture fit splits it in two halves of similar weight, which is no minority mode.
    assert (p[200:] == 0).all()
    # Across groups instead of within them, the high mode of group 0 hides among group 1's rows.
    pooled = noise_probability(loss, count, None, min_visits=2)
    assert not np.array_equal(pooled > 0.5, p > 0.5)


def test_task_progress_by_hand():
    progress = TaskProgress(np.array([1.0, 1.0, 2.0]), period=2)
    groups = np.array([0, 0, 1, 2])
    progress.observe(groups, np.array([True, True, True, False]), np.array([2.0, 4.0, 1.0, 9.0]), step=1)
    assert not progress.known.any()  # the period's first visits are folded in at its end
    progress.observe(groups, np.array([True, False, False, False]), np.array([3.0, 0.0, 0.0, 0.0]), step=2)
    # Task 0: first visits 2, 4, 3 -> mean 3; task 1: 1; task 2: no first visit (revisits are not progress).
    np.testing.assert_allclose(progress.fast, [3.0, 1.0, np.nan])
    np.testing.assert_allclose(progress.slow, [3.0, 1.0, np.nan])
    assert progress.known.tolist() == [True, True, False]
    progress.observe(groups, np.array([True, False, True, False]), np.array([1.0, 5.0, 1.0, 5.0]), step=4)
    fast0, slow0 = 0.5 * 3.0 + 0.5 * 1.0, 0.9 * 3.0 + 0.1 * 1.0
    np.testing.assert_allclose(progress.fast, [fast0, 1.0, np.nan])
    np.testing.assert_allclose(progress.slow, [slow0, 1.0, np.nan])
    np.testing.assert_allclose(progress.progress[:2], [(slow0 - fast0) / slow0, 0.0])
    # Target: progress relative to the mean over known tasks (weighted by natural share), clipped to [0.5, 2]; the
    # unknown task keeps ratio 1; then half natural, half tilted.
    natural = np.array([0.25, 0.25, 0.5])
    ratio = np.array([2.0, 0.5, 1.0])  # task 0's progress is twice the mean over tasks 0-1; task 1's is 0
    tilted = natural * ratio / (natural * ratio).sum()
    target = 0.5 * natural + 0.5 * tilted
    np.testing.assert_allclose(progress.target(), target)
    # The shares moved from natural toward the target by at most a factor 1.25 per task, then renormalised.
    moved = np.clip(target, natural / 1.25, natural * 1.25)
    np.testing.assert_allclose(progress.shares(), moved / moved.sum())


def test_tasks_without_an_estimate_or_progress_keep_their_natural_shares():
    progress = TaskProgress(np.array([1.0, 3.0]), period=1)
    np.testing.assert_allclose(progress.shares(), [0.25, 0.75])
    progress.observe(np.array([0]), np.array([True]), np.array([2.0]), step=1)  # task 1 unknown, no progress
    np.testing.assert_allclose(progress.shares(), [0.25, 0.75])
    for step in range(2, 10):  # both flat: no progress anywhere
        progress.observe(np.array([0, 1]), np.array([True, True]), np.array([2.0, 0.5]), step=step)
    np.testing.assert_allclose(progress.shares(), [0.25, 0.75])
    assert TaskProgress(np.ones(4), period=1).shares().tolist() == [0.25] * 4


def test_task_shares_can_neither_starve_nor_thrash():
    # Task 0 (rare, natural share 5%) stalls while task 1 improves and task 2's first-visit losses swing wildly: no
    # share falls under half its natural one, none exceeds 2.5 times it, and none moves by 2x between refreshes.
    natural = np.array([1.0, 9.0, 10.0])
    progress = TaskProgress(natural, period=1)
    rng = np.random.default_rng(0)
    previous = progress.shares()
    for step in range(1, 200):
        loss = np.array([3.0, 3.0 * 0.97**step, rng.uniform(0.1, 5.0)])
        progress.observe(np.arange(3), np.ones(3, dtype=bool), loss, step=step)
        shares = progress.shares()
        assert (shares >= 0.5 * natural / natural.sum() - 1e-12).all()
        assert (shares <= 2.5 * natural / natural.sum() + 1e-12).all()
        assert (np.maximum(shares / previous, previous / shares) < 2.0).all()
        previous = shares
    assert shares[1] > natural[1] / natural.sum()  # the improving task gained


def test_task_shares_apply_min_share():
    progress = TaskProgress(np.array([1.0, 9.0]), period=1, min_share=0.2)
    np.testing.assert_allclose(progress.shares(), 0.2 + 0.6 * np.array([0.1, 0.9]))


def _curriculum(**overrides):
    config = CurriculumConfig(group_column="task", refresh_every_steps=1, share_scores="duplicates", **overrides)
    texts = [f"row {i}" for i in range(8)] + ["row 0"]  # row 8 is a copy of row 0
    return Curriculum.from_arrays(config, 9, groups=["a"] * 9, texts=texts, global_batch=4, max_steps=10)


def test_data_map_categories_from_constructed_trajectories():
    curriculum = _curriculum(noise_min_visits=2)
    # Rows 0-1 easy, 2 ambiguous (confidence swings), 3 hard (low and stable), 4 a lone high loss among low ones
    # (noise), 5-6 easy too, 7 never trained, 8 a copy of row 0.
    trajectories = {
        0: [(0.1, 0.9)] * 3, 1: [(0.1, 0.9)] * 3, 5: [(0.12, 0.9)] * 3, 6: [(0.11, 0.92)] * 3,
        2: [(0.5, 0.1), (0.4, 0.9), (0.5, 0.1)], 3: [(0.3, 0.3)] * 3, 4: [(3.0, 0.8)] * 3,
    }
    for step in range(3):
        rows = np.array(sorted(trajectories))
        loss = np.array([trajectories[r][step][0] for r in rows])
        confidence = np.array([trajectories[r][step][1] for r in rows])
        curriculum.observe(rows, loss, confidence, step=step + 1)
    # A group needs 16 rows for a mixture fit: this one has 7, so no row is suspected...
    categories = curriculum.data_map()["category"].tolist()
    assert categories == ["easy", "easy", "ambiguous", "hard", "easy", "easy", "easy", "never_trained", "duplicate"]
    # ...while a larger group of low losses with a minority high mode flags exactly that mode.
    big = Curriculum.from_arrays(
        CurriculumConfig(share_scores="none", noise_filter="mixture"), 40, global_batch=4, max_steps=10
    )
    loss = np.r_[np.linspace(0.1, 0.3, 34), np.full(6, 2.5)]
    for step in (1, 2):
        big.observe(np.arange(40), loss, np.full(40, 0.9), step=step)
    data_map = big.data_map()
    assert (data_map["category"][34:] == "suspected_noise").all() and (data_map["category"][:34] == "easy").all()
    assert data_map["visits"].tolist() == [2] * 40
    weights = big.weights(0)
    # The filter multiplies a suspected row's weight by its posterior of the clean component (here about 0): what
    # is left is the uniform share.
    assert weights[34:].max() == pytest.approx(0.1 / 40, rel=1e-6)
    metrics = big.metrics()
    assert metrics["curriculum/map/suspected_noise"] == 6 and metrics["curriculum/map/easy"] == 34
    assert set(CATEGORIES) == {k.split("/")[-1] for k in metrics if k.startswith("curriculum/map/")}


def test_progress_shares_move_budget_to_the_task_that_learns():
    config = CurriculumConfig(group_column="task", refresh_every_steps=1, task_balance=True, task_signal="progress",
                              share_scores="none", uniform_mix=0.0)
    groups = ["learning"] * 40 + ["stuck"] * 40  # equal natural masses
    curriculum = Curriculum.from_arrays(config, 80, groups=groups, global_batch=8, max_steps=10)
    for step in range(1, 11):  # four first visits per task and step
        rows = np.r_[np.arange(4) + 4 * (step - 1), 40 + np.arange(4) + 4 * (step - 1)]
        loss = np.r_[np.full(4, 3.0 * 0.8**step), np.full(4, 2.0)]
        curriculum.observe(rows, loss, np.full(8, 0.5), step=step)
    weights = curriculum.weights(0)
    shares = curriculum.last_refresh["shares"]
    assert weights[:40].sum() == pytest.approx(shares[0], rel=1e-9)
    # The learning task gains, by at most a factor of 1.25 a refresh; the stuck one keeps at least half its share.
    assert 0.5 < shares[0] <= 0.75 and shares[1] >= 0.25
    assert shares[0] == pytest.approx(curriculum.factors["tasks"].progress.target()[0], rel=1e-9)  # reached within 10 refreshes


def test_resume_of_the_new_state_is_exact():
    def run(stop=None, state=None):
        curriculum = _curriculum(task_balance=True, task_signal="progress", noise_filter="mixture")
        if state is not None:
            curriculum.load_state_dict(state)
        rng = np.random.default_rng(0)
        out = []
        for step in range(1, 9):
            rows = rng.integers(0, 9, 4)
            loss, confidence = rng.random(4) * 3, rng.random(4)
            if state is not None and step <= curriculum.step:
                continue
            curriculum.observe(rows, loss, confidence, step=step)
            out.append(curriculum.weights(curriculum.position(step)))
            if step == stop:
                return curriculum.state_dict(), out
        return curriculum, out

    full, full_weights = run()
    state, _ = run(stop=4)
    resumed, resumed_weights = run(state=state)
    np.testing.assert_array_equal(np.array(resumed_weights), np.array(full_weights[4:]))
    for key, value in full.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value, err_msg=key)


def test_prompt_key_weighs_a_wrong_answer_to_a_repeated_prompt_like_a_copy():
    # Rows 0-3: one prompt, three right copies and one wrong answer; rows 4-5: prompts of their own.
    prompts = ["1+1="] * 4 + ["2+2=", "3+3="]
    completions = ["2", "2", "2", "3", "4", "6"]
    texts = [p + c for p, c in zip(prompts, completions)]
    by_content = Curriculum.from_arrays(CurriculumConfig(duplicate_key="content", share_scores="duplicates"), 6, texts=texts, prompts=prompts)
    by_prompt = Curriculum.from_arrays(CurriculumConfig(duplicate_key="prompt", share_scores="duplicates"), 6, texts=texts, prompts=prompts)
    assert by_content.factors["duplicates"].weights.tolist() == [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0, 1.0]
    assert by_prompt.factors["duplicates"].weights.tolist() == [0.25, 0.25, 0.25, 0.25, 1.0, 1.0]
    half = Curriculum.from_arrays(CurriculumConfig(duplicate_key="prompt", duplicate_alpha=0.5, share_scores="duplicates"), 6, texts=texts,
                                  prompts=prompts)
    np.testing.assert_allclose(half.factors["duplicates"].weights, [0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    # Scores are still shared by content: the wrong answer keeps a score of its own.
    assert by_prompt.factors["duplicates"].duplicate.tolist() == [False, True, True, False, False, False]
    # Without prompts, copies are counted by content.
    no_prompts = Curriculum.from_arrays(CurriculumConfig(duplicate_key="prompt", share_scores="duplicates"), 6, texts=texts)
    assert no_prompts.factors["duplicates"].weights.tolist() == by_content.factors["duplicates"].weights.tolist()


def test_prompt_key_reads_the_prompt_column():
    from datasets import Dataset

    from curriculum.config import ConfigError

    data = Dataset.from_dict({"prompt": ["a", "a", "b"], "completion": ["x", "y", "z"]})
    curriculum = Curriculum.from_dataset(CurriculumConfig(duplicate_key="prompt", share_scores="duplicates"), data)
    assert curriculum.factors["duplicates"].weights.tolist() == [0.5, 0.5, 1.0]
    messages = [[{"role": "user", "content": "a"}, {"role": "assistant", "content": c}] for c in "xyz"]
    chat = Curriculum.from_dataset(CurriculumConfig(share_scores="duplicates"), Dataset.from_dict({"messages": messages}))
    assert chat.factors["duplicates"].weights.tolist() == [1 / 3] * 3  # one prompt, three answers
    text = Curriculum.from_dataset(CurriculumConfig(share_scores="duplicates"), Dataset.from_dict({"text": ["a", "b", "a"]}))
    assert text.factors["duplicates"].weights.tolist() == [0.5, 1.0, 0.5]  # no prompt column: copies by content


def test_task_shares_are_on_by_default_with_a_group_column():
    assert CurriculumConfig(group_column="task").balances_tasks
    assert not CurriculumConfig().balances_tasks
    assert not CurriculumConfig(group_column="task", task_balance=False).balances_tasks
    curriculum = Curriculum.from_arrays(CurriculumConfig(group_column="task"), 4, groups=list("aabb"),
                                        texts=list("abcd"))
    assert curriculum.factors["tasks"].progress is not None


def test_freshness_by_hand_counts_visits_per_group_of_copies():
    # Rows 0-1 are copies (one unit), rows 2 and 3 are units of their own: 3 units, 3 visits, mean 1.
    config = CurriculumConfig(revisit_penalty=2.0, share_scores="duplicates")
    curriculum = Curriculum.from_arrays(config, 4, texts=["a", "a", "b", "c"])
    curriculum.observe(np.array([0, 2, 2]), np.ones(3), np.full(3, 0.5), step=1)
    np.testing.assert_allclose(curriculum.factors["revisit"].row_factor(curriculum.scores), np.exp([-2.0, -2.0, -4.0, 0.0]))
    # Past one pass the penalty is relative to the mean: 12 visits over 3 units, mean 4.
    curriculum.observe(np.array([0] * 4 + [2] * 3 + [3] * 2), np.ones(9), np.full(9, 0.5), step=2)
    np.testing.assert_allclose(curriculum.factors["revisit"].row_factor(curriculum.scores), np.exp(-2.0 * np.array([5, 5, 5, 2]) / 4))
    # Without score sharing every row is its own unit.
    alone = Curriculum.from_arrays(CurriculumConfig(revisit_penalty=1.0, share_scores="none"), 3)
    alone.observe(np.array([0, 0, 1]), np.ones(3), np.full(3, 0.5), step=1)
    np.testing.assert_allclose(alone.factors["revisit"].row_factor(alone.scores), np.exp([-2.0, -1.0, 0.0]))


def test_revisit_penalty_multiplies_the_kernel_weight():
    texts = ["a", "b", "c", "d"]
    plain = Curriculum.from_arrays(CurriculumConfig(uniform_mix=0.0), 4, texts=texts)
    fresh = Curriculum.from_arrays(CurriculumConfig(uniform_mix=0.0, revisit_penalty=1.5), 4, texts=texts)
    for c in (plain, fresh):
        c.observe(np.array([0, 1, 1]), np.array([1.0, 2.0, 2.0]), np.full(3, 0.5), step=1)
    expected = plain.weights(0) * fresh.factors["revisit"].row_factor(fresh.scores)
    np.testing.assert_allclose(fresh.weights(0), expected / expected.sum())


@pytest.mark.parametrize("penalty, least, most", [(0.0, 0.60, 0.75), (4.0, 0.90, 1.0)])
def test_revisit_penalty_covers_the_data_in_one_pass(penalty, least, most):
    rows, batch = 2000, 20
    config = CurriculumConfig(revisit_penalty=penalty, share_scores="none", refresh_every_steps=1)
    curriculum = Curriculum.from_arrays(config, rows, global_batch=batch)
    rng = np.random.default_rng(0)
    for step in range(1, rows // batch + 1):
        drawn, _ = curriculum.draw(curriculum.position(step - 1), batch, rng)
        curriculum.observe(drawn, rng.random(batch), np.full(batch, 0.5), step=step)
    assert least <= curriculum.scores.coverage <= most


def test_noise_signal_first_loss_flags_rows_by_their_first_visit():
    # 40 rows of one group: 34 learnt at once (low first loss), 6 wrong (high first loss), all later at a low
    # running loss (memorised). The running-loss mixture no longer sees them; the first-visit one does.
    rows = np.arange(40)
    first = np.r_[np.full(34, 0.2), np.full(6, 3.0)] + np.linspace(0, 0.01, 40)
    later = np.full(40, 0.1)
    suspects = {}
    for signal in ("loss", "first_loss"):
        curriculum = Curriculum.from_arrays(
            CurriculumConfig(share_scores="none", noise_filter="mixture", noise_signal=signal, ema=0.0), 40
        )
        curriculum.observe(rows, first, np.full(40, 0.5), step=1)
        for step in (2, 3):
            curriculum.observe(rows, later, np.full(40, 0.9), step=step)
        suspects[signal] = np.flatnonzero(curriculum.noise_probability() > 0.5).tolist()
    assert suspects == {"loss": [], "first_loss": list(range(34, 40))}


def test_noise_signal_gap_separates_contradicted_rows_from_hard_rows():
    # 40 rows of one group after one visit, all with the same loss 1.2. 34 are hard (every target token at p = 0.3:
    # -log of the mean probability is the loss, gap 0); 6 are contradicted (two tokens: one at p = 0.99, one at
    # p = 0.09; mean probability 0.54, gap 1.2 + log 0.54 = 0.58). The loss cannot tell them apart; the gap can.
    rows = np.arange(40)
    loss = 1.2 + 0.01 * np.random.default_rng(0).standard_normal(40)
    confidence = np.r_[np.exp(-loss[:34]), np.full(6, 0.54)]
    suspects = {}
    for signal in ("first_loss", "gap"):
        curriculum = Curriculum.from_arrays(CurriculumConfig(share_scores="none", noise_signal=signal), 40)
        curriculum.observe(rows, loss, confidence, step=1)
        suspects[signal] = np.flatnonzero(curriculum.noise_probability() > 0.5).tolist()
    assert suspects == {"first_loss": [], "gap": list(range(34, 40))}


def test_noise_signal_rejects_an_unknown_name():
    from curriculum.noise import noise_signal

    with pytest.raises(ValueError, match="noise_signal should be one of"):
        noise_signal(ScoreTable(4), "margin", 2)
    with pytest.raises(ConfigError, match="noise_signal"):
        CurriculumConfig(noise_signal="margin")
