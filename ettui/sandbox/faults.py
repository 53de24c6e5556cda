"""Fault injection knobs, changeable while the sandbox runs.

One mutable ``Faults`` object is shared by the HTTP server, the queue and the
SFTP server; tests flip its fields between requests. Shares are probabilities
in [0, 1]: 0 never, 1 always, anything between is drawn from a generator
seeded by the sandbox seed, so a run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Faults:
    """What the sandbox should get wrong on purpose."""

    latency_seconds: float = 0.0
    """Real seconds added before every HTTP reply."""
    http_500_share: float = 0.0
    """Share of HTTP requests answered with a bare HTTP 500 (throttling, per the vendor)."""
    malformed_share: float = 0.0
    """Share of XML API replies that are cut off mid-document (HTTP 200, not parseable)."""
    error_share: float = 0.0
    """Share of newly submitted jobs that will end in ``Error`` instead of ``Complete``."""
    sftp_drop_after_bytes: int | None = None
    """Abort an SFTP connection once it has served this many file bytes; None: never."""
    sftp_drop_once: bool = False
    """When True, the drop fault fires once and then switches itself off."""
    seed: int = 1
    """Seeds the draws for the HTTP shares."""
    _rng: random.Random = field(default_factory=random.Random, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng.seed(f"faults:{self.seed}")

    def reseed(self, seed: int) -> None:
        """Restart the draws from ``seed`` (the sandbox calls this with its own seed)."""
        self.seed = seed
        self._rng.seed(f"faults:{seed}")

    def draw(self, share: float) -> bool:
        """True with probability ``share``; exact at 0 and 1 so tests need no luck."""
        if share <= 0.0:
            return False
        if share >= 1.0:
            return True
        return self._rng.random() < share
