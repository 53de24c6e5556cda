"""How a download is sized to the bandwidth-delay product (no network)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ettui.drop.budget import ConnectionBudget
from ettui.drop.client import BLOCK_SIZE, MAX_IN_FLIGHT, MAX_REQUESTS, WINDOW, plan_transfer


def test_loopback_keeps_the_floor_and_the_servers_block() -> None:
    plan = plan_transfer(0.0002, 261120)
    assert plan.block == 261120  # OpenSSH's limits@openssh.com read length
    assert plan.requests == MAX_REQUESTS


def test_no_usable_server_limit_keeps_our_block() -> None:
    assert plan_transfer(0.001, None).block == BLOCK_SIZE
    assert plan_transfer(0.001, 4096).block == BLOCK_SIZE  # a silly limit is ignored; short reads are handled


def test_requests_cover_the_bandwidth_delay_product() -> None:
    plan = plan_transfer(0.050, 261120, target_rate=250e6)
    assert plan.in_flight >= 250e6 * 0.050
    assert plan.requests == -(-int(250e6 * 0.050) // 261120)
    far = plan_transfer(0.150, 261120, target_rate=250e6)
    assert far.requests > plan.requests and far.ceiling() >= 250e6


def test_in_flight_never_exceeds_the_window_or_the_cap() -> None:
    plan = plan_transfer(2.0, 261120)
    assert plan.in_flight <= min(WINDOW, MAX_IN_FLIGHT)
    small = plan_transfer(2.0, 261120, window=4 * 1024 * 1024, min_requests=4)
    assert small.in_flight <= 4 * 1024 * 1024 and small.requests >= 4


def test_ceiling_names_what_limits_a_slow_path() -> None:
    plan = plan_transfer(1.0, 261120)
    assert plan.ceiling() == pytest.approx(plan.in_flight / 1.0)


def test_the_window_covers_the_largest_plan() -> None:
    assert WINDOW >= MAX_IN_FLIGHT


def test_budget_slots_are_shared_and_freed(tmp_path: Path) -> None:
    a = ConnectionBudget("h", "u", 2, lock_dir=tmp_path)
    b = ConnectionBudget("h", "u", 2, lock_dir=tmp_path)  # another process, as far as flock is concerned
    s1, s2 = a.try_acquire(), b.try_acquire()
    assert s1 is not None and s2 is not None and {s1.index, s2.index} == {0, 1}
    assert a.try_acquire() is None
    assert ConnectionBudget("h", "other-user", 2, lock_dir=tmp_path).try_acquire() is not None  # per account
    s1.release()
    again = b.try_acquire()
    assert again is not None and again.index == s1.index


def test_a_waiting_acquire_says_so_once(tmp_path: Path) -> None:
    said: list[str] = []
    waiting = asyncio.Event()

    def on_wait(sentence: str) -> None:
        said.append(sentence)
        waiting.set()

    budget = ConnectionBudget("h", "u", 1, lock_dir=tmp_path, on_wait=on_wait, poll=0.01)
    held = budget.try_acquire()
    assert held is not None

    async def scenario() -> None:
        waiter = asyncio.ensure_future(budget.acquire())
        await asyncio.wait_for(waiting.wait(), 10)
        assert not waiter.done()
        held.release()
        slot = await asyncio.wait_for(waiter, 10)
        slot.release()

    asyncio.run(scenario())
    assert len(said) == 1 and "waiting" in said[0] and "u@h" in said[0]


def test_describe_names_the_round_trip_when_the_window_is_full() -> None:
    from ettui.drop.client import TransferPlan

    plan = TransferPlan(block=256 * 1024, requests=64, rtt=0.150)  # 16 MiB in flight: ~112 MB/s at most
    line = plan.describe(110e6)
    assert "limited by the round trip: 150 ms x 16 MiB in flight" in line
    assert line.startswith("110.0 MB/s")


def test_describe_says_the_round_trip_is_not_the_limit_below_the_ceiling() -> None:
    from ettui.drop.client import TransferPlan

    plan = TransferPlan(block=256 * 1024, requests=64, rtt=0.150)
    assert "not the round trip" in plan.describe(40e6)
    assert "any rate" in TransferPlan(block=256 * 1024, requests=32, rtt=0.0).describe(500e6)
