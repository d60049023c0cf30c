"""One time budget for a whole run: a stopping criterion passed down, never hidden shares.

A run makes one `TimeBudget` from `solver.time_limit` when it starts (the command line's start, so reading the
inputs counts) and hands it down; each step takes what it may spend as a sub-budget (`share`, `until`, `less`),
whose deadline is never later than its parent's, so no step can spend past the run's deadline. Iteration caps
still end a run normally, so results repeat exactly whenever the clock does not cut: the clock is only a cap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


def now() -> float:
    """The budget's clock: monotonic seconds (`time.perf_counter`)."""
    return time.perf_counter()


@dataclass(frozen=True)
class TimeBudget:
    """A deadline on `now()`'s clock. Frozen: a step that needs less makes a sub-budget, it never extends one."""

    deadline: float

    @classmethod
    def of(cls, seconds: float, start: float | None = None) -> TimeBudget:
        """`seconds` from `start` (default: now). A limit of 0 or less is already spent."""
        if math.isnan(seconds):
            raise ValueError("a time budget needs a number of seconds, not NaN")
        return cls((now() if start is None else start) + seconds)

    def remaining(self) -> float:
        """Seconds left (0 when spent)."""
        return max(self.deadline - now(), 0.0)

    def expired(self) -> bool:
        return now() >= self.deadline

    def fits(self, seconds: float) -> bool:
        """Whether a step expected to take `seconds` would still end by the deadline."""
        return now() + seconds <= self.deadline

    def until(self, deadline: float) -> TimeBudget:
        """A sub-budget ending at `deadline`, or at this budget's deadline if that comes first."""
        return TimeBudget(min(deadline, self.deadline))

    def share(self, fraction: float) -> TimeBudget:
        """A sub-budget of `fraction` (0..1) of the time left now."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"a share is a fraction between 0 and 1, got {fraction}")
        return self.until(now() + fraction * self.remaining())

    def keep(self, seconds: float, spent: float = 0.0) -> TimeBudget:
        """A sub-budget that keeps `seconds` back for the steps after it: at most half of what is left, or, when the
        run has already `spent` more than that (large inputs, or a loaded machine, made its reading slow), at most
        what it spent, up to 80 % of what is left. Steps over as many rows slow down alike: measuring and writing a
        million accounts takes about as long as reading them did (docs/benchmarks.md, scale)."""
        left = self.remaining()
        return self.less(min(seconds, max(0.5 * left, min(spent, 0.8 * left))))

    def less(self, seconds: float) -> TimeBudget:
        """A sub-budget that ends `seconds` before this one (kept back for the steps after it)."""
        return TimeBudget(self.deadline - max(seconds, 0.0))
