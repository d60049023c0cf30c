"""Account-level refinement after a solve on ZIP units: each account may leave its ZIP's territory for a nearer
centre while every band holds.

Large universes are solved on ZIP units (pipeline.unit_spec), which keeps the solver's memory and time to those of
about 33,000 units whatever the number of accounts; the alignment and its objective are still per account. With the
centres fixed, the accounts whose nearest centre is not their territory's (those near a territory's border) are
re-split by the balanced flow over their few nearest centres, every other account staying where it is; bands are
then repaired and single moves improve the rest (solve.assign). The refined alignment is kept only when it is at
least as good: inside every band where the unit alignment was, and no higher objective.

Time: each step runs only when the run's budget still fits it (per-account costs measured at 1M accounts, K = 500,
on a loaded 2-core machine); a step that does not fit is left out, and with no time at all the unit alignment is
returned as it is (every account in its unit's territory: the same bands, a valid alignment).
"""

from __future__ import annotations

import numpy as np

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, bands_hold, objective
from terrplan.solve.assign import Arcs, flow_assignment, improve_moves, repair_bands

_ARCS = 5  # nearest centres each account may move to: a border account's alternatives are its territory's neighbours

# Seconds per account of each step (1M accounts, K = 500: arcs 2.3 s, flow 0.8 s, moves 3.6 s, the comparison 0.3 s
# under load), rounded up.
_ARCS_S, _FLOW_S, _MOVES_S, _COMPARE_S = 2.5e-6, 1.0e-6, 4.0e-6, 0.5e-6


def refine_seconds(accounts: int) -> float:
    """What a refinement of `accounts` accounts is expected to take: what a solve before it leaves for it."""
    return accounts * (_ARCS_S + _FLOW_S + _MOVES_S + _COMPARE_S)


def refine(problem: Problem, territory: np.ndarray, budget: TimeBudget | None = None) -> np.ndarray:
    """A better alignment of `problem` (fixed centres, one unit per account) from `territory`, or `territory`;
    within `budget` (None: no clock)."""
    if not problem.fixed:
        raise ValueError("refine needs fixed centres (one site per territory)")
    n = problem.n_units

    def fits(seconds_per_account: float) -> bool:
        return budget is None or budget.fits(n * seconds_per_account)

    if not fits(_ARCS_S + _MOVES_S + _COMPARE_S):
        return territory
    centres = np.arange(problem.n_territories)
    arcs = Arcs.build(problem, centres, min(_ARCS, problem.n_territories))
    border = arcs.territory[:, 0] != territory
    trial = territory
    if border.any() and fits(_FLOW_S + _MOVES_S + _COMPARE_S):
        flowed = flow_assignment(problem, arcs, fixed=np.where(border, -1, territory))
        if flowed is not None:
            trial = repair_bands(problem, flowed, arcs, batch=True)
    moved = improve_moves(problem, trial, arcs)
    if trial is territory:  # no flow: the moves from the given alignment, which the fallback below would repeat
        return moved
    if _no_worse(problem, moved, territory):
        return moved
    return improve_moves(problem, territory, arcs) if fits(_MOVES_S) else territory


def _no_worse(problem: Problem, trial: np.ndarray, given: np.ndarray) -> bool:
    """In band wherever `given` is (all of it, when it holds every band), and an objective no higher."""
    if bands_hold(problem, given) and not bands_hold(problem, trial):
        return False
    centres = np.arange(problem.n_territories)
    return objective(problem, Alignment(trial, centres)) <= objective(problem, Alignment(given, centres))
