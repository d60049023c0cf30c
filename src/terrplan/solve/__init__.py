"""The optimizer: `solve(problem, params) -> Result`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SolveParams:
    """Knobs of the optimizer. Same problem + same params (seed included) -> same result."""

    time_limit_s: float = 60.0
    seed: int = 0
    candidates: int = 30  # nearest centres considered per unit in the assignment step
    max_rounds: int = 50  # location-allocation rounds
    lower_bound: bool = True  # compute a lower bound (and so a gap) for the result


def solve(problem, params: SolveParams = SolveParams()):
    raise NotImplementedError("optimizer under construction")
