"""Where a download splits (``plan_segments``)."""

from __future__ import annotations

from ettui.drop.segments import MIN_BYTES, MIN_RTT, plan_segments

MIB = 1 << 20


def test_no_split_on_a_fast_path_or_a_small_remainder() -> None:
    assert plan_segments(0, 256 * MIB, MIN_RTT / 2, {}) is None
    assert plan_segments(0, MIN_BYTES - 1, 0.150, {}) is None
    assert plan_segments(200 * MIB, 256 * MIB, 0.150, {}) is None  # only 56 MiB left
    assert plan_segments(0, 256 * MIB, 0.150, {}, enabled=False) is None


def test_a_slow_large_download_gives_the_worker_a_little_less_than_half() -> None:
    plan = plan_segments(0, 256 * MIB, 0.050, {})
    assert plan is not None and plan.tail_have == 0
    assert 128 * MIB < plan.split < 160 * MIB and plan.split % MIB == 0
    resumed = plan_segments(100 * MIB, 356 * MIB, 0.050, {})
    assert resumed is not None and 100 * MIB < resumed.split < 356 * MIB


def test_a_segment_file_ahead_is_resumed_at_its_own_size_whatever_the_path() -> None:
    plan = plan_segments(10 * MIB, 256 * MIB, 0.0, {140 * MIB: 5 * MIB})
    assert plan is not None and (plan.split, plan.tail_from) == (140 * MIB, 145 * MIB)


def test_a_segment_file_behind_the_head_or_too_long_is_not_resumed() -> None:
    assert plan_segments(150 * MIB, 160 * MIB, 0.0, {140 * MIB: 5 * MIB}) is None
    assert plan_segments(0, 100 * MIB, 0.0, {90 * MIB: 20 * MIB}) is None


def test_a_farther_path_gives_the_late_worker_less_and_a_very_far_one_nothing() -> None:
    near = plan_segments(0, 256 * MIB, 0.050, {})
    far = plan_segments(0, 256 * MIB, 0.150, {})
    assert near is not None and far is not None and far.split > near.split
    assert plan_segments(0, 256 * MIB, 0.400, {}) is None
