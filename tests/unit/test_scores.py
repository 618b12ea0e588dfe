"""`ScoreTable`: running means, repeated ids, bookkeeping, state round trip."""

from __future__ import annotations

import numpy as np
import pytest

from curriculum.scores import SIGNALS, ScoreTable

assert_equal = np.testing.assert_array_equal  # NaN == NaN, exact values, dtype-insensitive


def random_batches(num_rows: int, num_batches: int, batch: int, seed: int) -> list[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, num_rows, batch), rng.uniform(0.0, 5.0, batch), rng.uniform(0.0, 1.0, batch))
        for _ in range(num_batches)
    ]


def assert_tables_equal(a: ScoreTable, b: ScoreTable) -> None:
    for name in ("loss", "confidence", "first_loss", "confidence_var", "count"):
        assert_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype
    assert a.num_seen == b.num_seen


# ---------------------------------------------------------------------------------------------------- construction


def test_fresh_table_is_empty():
    table = ScoreTable(5)
    assert len(table) == 5
    assert np.isnan(table.loss).all() and np.isnan(table.confidence).all() and np.isnan(table.first_loss).all()
    assert_equal(table.count, [0, 0, 0, 0, 0])
    assert not hasattr(table, "last_step")  # dropped (format 5): nothing read it
    assert table.coverage == 0.0 and table.num_seen == 0


@pytest.mark.parametrize("num_rows", [0, -3, True, 2.0, "4"])
def test_bad_num_rows(num_rows):
    with pytest.raises(ValueError, match=r"num_rows should be a positive integer value, but got num_rows="):
        ScoreTable(num_rows)


@pytest.mark.parametrize("ema", [-0.1, 1.0, 2.0])
def test_bad_ema(ema):
    with pytest.raises(ValueError, match=rf"ema should be in \[0, 1\), but got ema={ema}"):
        ScoreTable(3, ema=ema)


def test_bytes_per_row_is_18():
    assert ScoreTable(7).bytes_per_row == 18  # 4 float32 arrays and a uint16 count
    table = ScoreTable(1000)
    total = sum(getattr(table, n).nbytes for n in ("loss", "confidence", "first_loss", "confidence_var", "count"))
    assert total == 18 * 1000
    assert table.count.dtype == np.uint16


def test_count_saturates_at_its_maximum():
    from curriculum.scores import MAX_COUNT

    table = ScoreTable(2)
    table.count[0] = MAX_COUNT - 1
    table.loss[0] = table.confidence[0] = table.first_loss[0] = table.confidence_var[0] = 1.0
    table.update(np.array([0, 0, 0]), np.array([1.0, 1.0, 1.0]), np.array([0.5, 0.5, 0.5]))
    assert table.count[0] == MAX_COUNT  # no wrap-around to 0 (which would read as never trained)
    assert table.first_loss[0] == 1.0 and table.loss[0] == 1.0


def test_load_refuses_another_dtype():
    table = ScoreTable(2)
    state = table.state_dict()
    state["count"] = state["count"].astype(np.int32)
    with pytest.raises(ValueError, match=r"'count' is int32, not uint16"):
        ScoreTable(2).load_state_dict(state)


# ---------------------------------------------------------------------------------------------------- EMA


@pytest.mark.parametrize("ema", [0.0, 0.5, 0.9, 0.99])
def test_first_observation_initialises_running_mean(ema):
    table = ScoreTable(3, ema=ema)
    table.update(np.array([1]), np.array([2.5]), np.array([0.25]), step=4)
    assert table.loss[1] == 2.5
    assert table.confidence[1] == 0.25
    assert table.first_loss[1] == 2.5
    assert np.isnan(table.loss[[0, 2]]).all()


def test_ema_half_exact_values():
    table = ScoreTable(2, ema=0.5)
    losses = [2.0, 1.0, 0.0, 4.0]
    confidences = [0.25, 0.5, 0.75, 0.0]
    expected_loss = [2.0, 1.5, 0.75, 2.375]  # new = 0.5 * old + 0.5 * observation
    expected_conf = [0.25, 0.375, 0.5625, 0.28125]
    for k, (lo, co) in enumerate(zip(losses, confidences)):
        table.update(np.array([0]), np.array([lo]), np.array([co]), step=10 + k)
        assert table.loss[0] == expected_loss[k]
        assert table.confidence[0] == expected_conf[k]
        assert table.first_loss[0] == 2.0
        assert table.count[0] == k + 1
    assert np.isnan(table.loss[1]) and table.count[1] == 0


def test_ema_zero_is_last_observation():
    table = ScoreTable(2, ema=0.0)
    for lo, co in [(3.0, 0.1), (1.25, 0.6), (7.5, 0.3)]:
        table.update(np.array([1]), np.array([lo]), np.array([co]))
        assert table.loss[1] == np.float32(lo)
        assert table.confidence[1] == np.float32(co)
    assert table.first_loss[1] == 3.0
    assert table.count[1] == 3


def test_batch_updates_several_rows_at_once():
    table = ScoreTable(4, ema=0.5)
    table.update(np.array([0, 2]), np.array([1.0, 3.0]), np.array([0.5, 0.25]), step=1)
    table.update(np.array([2, 3]), np.array([1.0, 0.5]), np.array([0.75, 1.0]), step=2)
    assert_equal(table.loss, [1.0, np.nan, 2.0, 0.5])
    assert_equal(table.confidence, [0.5, np.nan, 0.5, 1.0])
    assert_equal(table.first_loss, [1.0, np.nan, 3.0, 0.5])
    assert_equal(table.count, [1, 0, 2, 1])
    assert table.num_seen == 3 and table.coverage == 0.75


def test_repeated_id_in_one_batch_is_updated_twice_in_order():
    table = ScoreTable(3, ema=0.5)
    table.update(np.array([1, 1, 2, 1]), np.array([2.0, 1.0, 3.0, 0.0]), np.array([0.5, 1.0, 0.5, 0.0]), step=3)
    # row 1: 2.0 -> 0.5 * 2 + 0.5 * 1 = 1.5 -> 0.5 * 1.5 + 0.5 * 0 = 0.75 (order matters: 0 then 1 would differ)
    assert table.loss[1] == 0.75
    assert table.confidence[1] == 0.375
    assert table.first_loss[1] == 2.0
    assert table.count[1] == 3
    assert table.loss[2] == 3.0 and table.count[2] == 1
    assert table.num_seen == 2


@pytest.mark.parametrize("ema", [0.0, 0.5, 0.8])
def test_batch_update_equals_loop_of_single_updates(ema):
    batched, single = ScoreTable(10, ema=ema), ScoreTable(10, ema=ema)
    for step, (ids, loss, conf) in enumerate(random_batches(10, 6, 25, seed=3)):  # 25 ids over 10 rows: many repeats
        assert len(np.unique(ids)) < len(ids)
        batched.update(ids, loss, conf, step=step)
        for i, lo, co in zip(ids, loss, conf):
            single.update(np.array([i]), np.array([lo]), np.array([co]), step=step)
    assert_tables_equal(batched, single)
    assert batched.count.sum() == 150


@pytest.mark.parametrize("ema", [0.0, 0.5])
def test_batch_of_distinct_ids_equals_loop_of_single_updates(ema):
    batched, single = ScoreTable(1000, ema=ema), ScoreTable(1000, ema=ema)
    rng = np.random.default_rng(4)
    for step in range(5):
        ids = rng.choice(1000, 256, replace=False)  # distinct: the one-round path
        loss, conf = rng.uniform(0.0, 5.0, 256), rng.uniform(0.0, 1.0, 256)
        batched.update(ids, loss, conf, step=step)
        for i, lo, co in zip(ids, loss, conf):
            single.update(np.array([i]), np.array([lo]), np.array([co]), step=step)
    assert_tables_equal(batched, single)


def test_empty_update_is_a_no_op():
    table = ScoreTable(3)
    table.update(np.array([], dtype=np.int64), np.array([]), np.array([]), step=5)
    assert table.num_seen == 0 and table.count.sum() == 0


def test_count_first_loss_coverage():
    table = ScoreTable(8, ema=0.5)
    table.update(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0]), np.array([0.1, 0.2, 0.3]), step=0)
    assert table.coverage == 3 / 8
    table.update(np.array([2, 3]), np.array([5.0, 4.0]), np.array([0.3, 0.4]), step=1)
    assert table.coverage == 4 / 8
    table.update(np.array([3, 3, 7]), np.array([0.0, 0.0, 9.0]), np.array([0.4, 0.4, 0.9]), step=5)
    assert_equal(table.count, [1, 1, 2, 3, 0, 0, 0, 1])
    assert_equal(table.first_loss, [1.0, 2.0, 3.0, 4.0, np.nan, np.nan, np.nan, 9.0])
    assert table.num_seen == 5 and table.coverage == 5 / 8
    assert table.loss[3] == 1.0  # 4 -> 2 -> 1


# ---------------------------------------------------------------------------------------------------- ids


@pytest.mark.parametrize("ids", [[-1], [0, 4], [2, 100], [-5, 7]])
def test_out_of_range_ids_raise_and_leave_table_untouched(ids):
    table = ScoreTable(4)
    table.update(np.array([0]), np.array([1.0]), np.array([0.5]))
    before = table.state_dict()
    ids = np.array(ids)
    with pytest.raises(IndexError, match=r"row ids should be in \[0, 4\), but got ids in \["):
        table.update(ids, np.ones(ids.size), np.ones(ids.size))
    for name, array in before.items():
        assert_equal(getattr(table, name), array)
    assert table.num_seen == 1


# ---------------------------------------------------------------------------------------------------- signals


def test_signals():
    table = ScoreTable(3, ema=0.5)
    table.update(np.array([0, 1]), np.array([4.0, 2.0]), np.array([0.25, 0.5]))
    table.update(np.array([0, 1]), np.array([2.0, 3.0]), np.array([0.75, 0.5]))
    assert_equal(table.signal("loss"), [3.0, 2.5, np.nan])
    assert_equal(table.signal("confidence"), [0.5, 0.5, np.nan])  # 1 - running confidence
    learnability = table.signal("learnability")
    assert_equal(learnability, [1.0, -0.5, np.nan])  # first - current
    assert_equal(learnability, table.first_loss - table.loss)
    assert SIGNALS == ("loss", "confidence", "learnability")


def test_unknown_signal():
    with pytest.raises(ValueError, match=r"signal should be one of \['loss', 'confidence', 'learnability'\], but got signal='nll'"):
        ScoreTable(2).signal("nll")


# ---------------------------------------------------------------------------------------------------- state


def test_state_dict_is_a_copy():
    table = ScoreTable(3)
    table.update(np.array([0]), np.array([1.0]), np.array([0.5]))
    state = table.state_dict()
    assert set(state) == {"loss", "confidence", "first_loss", "confidence_var", "count"}
    state["loss"][0] = 99.0
    state["count"][0] = 99
    assert table.loss[0] == 1.0 and table.count[0] == 1


def test_load_state_dict_round_trip_into_fresh_table():
    table = ScoreTable(12, ema=0.5)
    for step, batch in enumerate(random_batches(12, 4, 5, seed=0)):
        table.update(*batch, step=step)
    fresh = ScoreTable(12, ema=0.5)
    fresh.load_state_dict(table.state_dict())
    assert_tables_equal(fresh, table)
    assert fresh.coverage == table.coverage
    assert 0 < fresh.num_seen < 12  # both seen and unseen rows are covered by the round trip


def test_resumed_updates_equal_uninterrupted():
    batches = random_batches(20, 10, 8, seed=1)
    uninterrupted = ScoreTable(20, ema=0.7)
    for step, batch in enumerate(batches):
        uninterrupted.update(*batch, step=step)

    first = ScoreTable(20, ema=0.7)
    for step, batch in enumerate(batches[:4]):
        first.update(*batch, step=step)
    resumed = ScoreTable(20, ema=0.7)
    resumed.load_state_dict(first.state_dict())
    for step, batch in enumerate(batches[4:], start=4):
        resumed.update(*batch, step=step)
    assert_tables_equal(resumed, uninterrupted)


def test_load_state_dict_wrong_length():
    state = ScoreTable(3).state_dict()
    with pytest.raises(ValueError, match=r"the saved score table has 3 rows but the training dataset has 4"):
        ScoreTable(4).load_state_dict(state)
