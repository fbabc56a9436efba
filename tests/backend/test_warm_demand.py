"""The warm pool's sizing policy, with a stepped clock: no waiting, no timing."""

from __future__ import annotations

from kubemcp.backend.warm_demand import WarmDemand


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _demand(minimum: int = 1, maximum: int = 4, start: float = 0.5) -> tuple[WarmDemand, Clock]:
    clock = Clock()
    return WarmDemand(minimum, maximum, window=60.0, initial_start=start, clock=clock), clock


def test_with_no_calls_the_pool_keeps_its_minimum() -> None:
    demand, _ = _demand(minimum=2)
    assert demand.target() == 2
    assert WarmDemand(0, 4).target() == 0


def test_a_call_every_one_and_a_half_seconds_needs_one_instance() -> None:
    demand, clock = _demand(minimum=0)
    for _ in range(40):
        demand.record_call()
        clock.now += 1.5
    assert demand.target() == 1


def test_a_burst_of_calls_within_one_start_grows_the_pool_up_to_its_maximum() -> None:
    demand, clock = _demand()
    for _ in range(3):  # three calls back to back: each finds one ready only if three were
        demand.record_call()
        clock.now += 0.01
    assert demand.target() == 3
    for _ in range(10):
        demand.record_call()
    assert demand.target() == 4  # capped at max


def test_a_steady_rate_needs_rate_times_start() -> None:
    demand, clock = _demand(minimum=0, maximum=20, start=2.0)
    for _ in range(240):  # 4 calls/s, evenly spread, for 60 s: 8 arrive while one instance starts
        demand.record_call()
        clock.now += 0.25
    assert demand.target() == 8


def test_an_idle_pool_shrinks_back_to_its_minimum_once_the_window_passes() -> None:
    demand, clock = _demand(minimum=1)
    for _ in range(5):
        demand.record_call()
    assert demand.target() == 4
    clock.now += 59.0
    assert demand.target() == 4  # the burst is still recent
    clock.now += 2.0
    assert demand.target() == 1


def test_observed_starts_move_the_estimate() -> None:
    demand, clock = _demand(minimum=0, maximum=20, start=0.1)
    for _ in range(120):  # 2 calls/s
        demand.record_call()
        clock.now += 0.5
    assert demand.target() == 1
    for _ in range(20):  # starts turn out to take 3 s
        demand.record_start(3.0)
    assert round(demand.start_seconds, 1) == 3.0
    assert demand.target() == 6


def test_a_scheduled_window_raises_the_minimum_while_it_lasts() -> None:
    day = 86_400.0 * 20_000  # a midnight, UTC
    wall = [day + 7 * 3600 + 59 * 60]  # 07:59
    windows = ((8 * 60, 18 * 60, 3), (22 * 60, 2 * 60, 2), (9 * 60, 10 * 60, 4))
    demand = WarmDemand(1, 6, window=60.0, schedule=windows, clock=Clock(), wall=lambda: wall[0])
    assert demand.target() == 1
    for hour, expected in ((8, 3), (9, 4), (10, 3), (18, 1), (22, 2), (24 + 1, 2), (24 + 2, 1)):
        wall[0] = day + hour * 3600
        assert demand.target() == expected, hour
    wall[0] = day + 8 * 3600
    for _ in range(40):  # demand above the window's minimum still grows the pool, up to max
        demand.record_call()
    assert demand.target() == 6
