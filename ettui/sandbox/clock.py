"""The sandbox's clock: ``ettui.clock.ScaledClock``, re-exported.

The sandbox measures every duration (queue states, file mtimes, retention) on
this clock, so ``--time-scale`` can make a demo show a file expire and tests
can jump ahead with ``advance()`` instead of sleeping.
"""

from __future__ import annotations

from ettui.clock import ScaledClock

__all__ = ["ScaledClock"]
