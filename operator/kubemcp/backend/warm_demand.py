"""How many warm instances a server needs now, from its recent calls: a deterministic policy.

Each call takes one ready instance and a replacement starts at once, taking `start` seconds. The
pool runs dry when more calls arrive within one start than it holds, so the target is the larger of

- the steady need, `ceil(rate * start)`: calls arriving while one replacement starts, at the
  recent rate (calls in the last `window` seconds), and
- the recent burst: the most calls seen within any `start`-long span of the window,

kept between the pool's minimum and maximum. With no call in the window the target is the minimum:
an idle pool shrinks back. `start` is a moving average of the starts observed (`initial_start`
until one is). A schedule raises the minimum during daily windows (minutes of the UTC day, a window
may run past midnight; overlapping ones: the largest minimum). The clocks are injected, so tests step
them instead of waiting.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

DEFAULT_WINDOW_SECONDS = 60.0
INITIAL_START_SECONDS = 1.0
START_SMOOTHING = 0.3  # weight of the newest observed start in the moving average
MAX_REMEMBERED_CALLS = 4096
MINUTES_PER_DAY = 24 * 60


class WarmDemand:
    def __init__(
        self,
        minimum: int,
        maximum: int,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        initial_start: float = INITIAL_START_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        schedule: tuple[tuple[int, int, int], ...] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.schedule = schedule
        self.wall = wall
        self.window = window
        self.start_seconds = initial_start
        self.clock = clock
        self.calls: deque[float] = deque(maxlen=MAX_REMEMBERED_CALLS)

    def record_call(self) -> None:
        self.calls.append(self.clock())

    def record_start(self, seconds: float) -> None:
        """An instance took `seconds` from asking for it to ready."""
        self.start_seconds += START_SMOOTHING * (max(0.0, seconds) - self.start_seconds)

    def floor(self) -> int:
        """The minimum now: the pool's own, or a larger one of a scheduled window this minute is in."""
        minute = int(self.wall() // 60 % MINUTES_PER_DAY)
        scheduled = [low for start, end, low in self.schedule if _within(minute, start, end)]
        return max([self.minimum, *scheduled])

    def target(self) -> int:
        now = self.clock()
        while self.calls and self.calls[0] < now - self.window:
            self.calls.popleft()
        floor = self.floor()
        if not self.calls:
            return floor
        # Once more calls arrived than are remembered, the rate is over the span they cover.
        span = self.window if len(self.calls) < MAX_REMEMBERED_CALLS else max(now - self.calls[0], 1e-3)
        steady = math.ceil(len(self.calls) / span * self.start_seconds)
        return max(floor, min(self.maximum, max(steady, self._burst())))

    def _burst(self) -> int:
        """The most calls within less than `start_seconds` of each other, among those remembered."""
        calls = list(self.calls)
        best, first = 0, 0
        for last, at in enumerate(calls):
            while at - calls[first] >= self.start_seconds:
                first += 1
            best = max(best, last - first + 1)
        return best


def _within(minute: int, start: int, end: int) -> bool:
    """Whether a minute of the day is in the window [start, end) (one past midnight when end < start)."""
    return start <= minute < end if start < end else minute >= start or minute < end
