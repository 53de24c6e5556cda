"""Download progress: throttled callbacks with a smoothed rate (and so a steady ETA)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ettui.model import Progress

ProgressCallback = Callable[[Progress], None]


class ProgressMeter:
    """Turns byte counts into throttled ``Progress`` callbacks with a smoothed rate.

    At most one callback per ``interval`` seconds (plus a final one), so a fast
    transfer cannot flood a UI. The rate is an exponential moving average over
    those intervals, which keeps the ETA from jumping with every burst.
    """

    def __init__(
        self,
        total: int,
        start: int,
        callback: ProgressCallback | None,
        *,
        interval: float = 0.1,
        smoothing: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self._callback = callback
        self._interval = interval
        self._alpha = smoothing
        self._clock = clock
        self._last_time = clock()
        self._last_done = start
        self.rate = 0.0

    def update(self, done: int) -> None:
        """Record progress; calls back only when ``interval`` has passed."""
        if self._callback is None:
            return
        now = self._clock()
        elapsed = now - self._last_time
        if elapsed < self._interval:
            return
        self._sample(done, now, elapsed)
        self._callback(Progress(done, self.total, self.rate))

    def finish(self, done: int) -> None:
        """The final callback, always sent."""
        if self._callback is None:
            return
        now = self._clock()
        elapsed = now - self._last_time
        if elapsed > 0 and done > self._last_done:
            self._sample(done, now, elapsed)
        self._callback(Progress(done, self.total, self.rate))

    def _sample(self, done: int, now: float, elapsed: float) -> None:
        instant = (done - self._last_done) / elapsed if elapsed > 0 else 0.0
        self.rate = instant if self.rate == 0 else self._alpha * instant + (1 - self._alpha) * self.rate
        self._last_time, self._last_done = now, done
