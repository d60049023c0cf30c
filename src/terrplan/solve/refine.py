"""Account-level refinement after a solve on ZIP units: each account may leave its ZIP's territory for a nearer
centre while every band holds.

Large universes are solved on ZIP units (pipeline.unit_spec), which keeps the solver's memory and time to those of
about 33,000 units whatever the number of accounts; the alignment and its objective are still per account. With the
centres fixed, the accounts whose nearest centre is not their territory's (those near a territory's border) are
re-split by the balanced flow over their few nearest centres, every other account staying where it is; bands are
then repaired and single moves improve the rest (solve.assign). The refined alignment is kept only when it is at
least as good: inside every band where the unit alignment was, and no higher objective.
"""

from __future__ import annotations

import numpy as np

from terrplan.model import Alignment, Problem, bands_hold, objective
from terrplan.solve.assign import Arcs, flow_assignment, improve_moves, repair_bands

_ARCS = 5  # nearest centres each account may move to: a border account's alternatives are its territory's neighbours


def refine(problem: Problem, territory: np.ndarray) -> np.ndarray:
    """A better alignment of `problem` (fixed centres, one unit per account) from `territory`, or `territory`."""
    if not problem.fixed:
        raise ValueError("refine needs fixed centres (one site per territory)")
    centres = np.arange(problem.n_territories)
    arcs = Arcs.build(problem, centres, min(_ARCS, problem.n_territories))
    border = arcs.territory[:, 0] != territory
    trial = territory
    if border.any():
        flowed = flow_assignment(problem, arcs, fixed=np.where(border, -1, territory))
        if flowed is not None:
            trial = repair_bands(problem, flowed, arcs, batch=True)
    trial = improve_moves(problem, trial, arcs)
    return trial if _no_worse(problem, trial, territory) else improve_moves(problem, territory, arcs)


def _no_worse(problem: Problem, trial: np.ndarray, given: np.ndarray) -> bool:
    """In band wherever `given` is (all of it, when it holds every band), and an objective no higher."""
    if bands_hold(problem, given) and not bands_hold(problem, trial):
        return False
    centres = np.arange(problem.n_territories)
    return objective(problem, Alignment(trial, centres)) <= objective(problem, Alignment(given, centres))
