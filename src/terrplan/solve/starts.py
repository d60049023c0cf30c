"""Multi-start location-allocation: what one start computes, and how two solutions compare.

A start seeds centres (k-means++ from its seed, or recursive bisection on the primary metric), then alternates a
balanced assignment to the centres (min-cost flow over each unit's nearest centres, rounded, bands repaired,
improving moves) and re-centering each territory on its weighted 1-median until the objective stops improving.
It reads only the `StartPlan`, its number and the clock's cap, so a second process can run some of a solve's
starts (solve/start_process.py) and give the very solutions this one would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from terrplan.budget import TimeBudget
from terrplan.model import Alignment, Problem, bands_hold, objective
from terrplan.solve.assign import Arcs, flow_assignment, improve_moves, primary_metric, repair_bands
from terrplan.solve.centres import bisection_centres, fit_to_rules, initial_centres, recentre
from terrplan.solve.interchange import SiteOrder, fast_interchange

Solution = tuple[float, np.ndarray, np.ndarray]  # objective, territory, centres

_SWAP_CELLS = 12_000_000  # units x sites up to which vertex substitution keeps a dense cost matrix
_BISECT_FIRST = 5000  # units above which banded multi-start begins with recursive bisection
# The assignment's flow runs over each unit's this many nearest centres first (all `candidates` where it finds no
# flow): a balanced flow seldom sends a unit past them. `national`'s first location-allocation rounds, at the same
# centres: over 15 arcs 1.3-1.7 s a round against 1.7-2.4 s over 30, the same objective in 9 rounds of 10 (10 arcs:
# 1.1-1.4 s, every round different).
_FLOW_ARCS = 15
# ... unless more than one unit in this many takes its last listed centre (`national`: 0-2 of 33,120 a round; the
# heavy-tailed hospitals, 11-16 of 5,306, whose objective over 15 arcs was 0.7-1.6 % worse a round). Only on problems
# of at least _FEW_ARCS_UNITS units, whose flow is most of a round: on the hospitals (0.3-0.4 s a flow) the flows
# over 15 arcs that were then redone over 30 slowed the starts, and hospitals_k200 ended outside a band.
_LAST_ARC_UNITS, _FEW_ARCS_UNITS = 5000, 10_000


@dataclass(frozen=True)
class StartPlan:
    """What every start of one solve shares: the problem, the starts' seeds and the assignment's settings."""

    problem: Problem
    seeds: tuple[int, ...]  # start i's k-means++ seed
    candidates: int  # nearest centres considered per unit in the assignment step
    max_rounds: int  # location-allocation rounds per start

    @property
    def count(self) -> int:
        """How many starts differ: one with fixed centres, where every start would be the same."""
        return 1 if self.problem.fixed else len(self.seeds)

    def start(
        self,
        number: int,
        budget: TimeBudget,
        slowest: list[float],
        cost: np.ndarray | None,
        site_order: SiteOrder | None,
    ) -> tuple[Solution, int]:
        """Start `number`'s solution and its rounds. Banded starts alternate k-means++ and recursive bisection;
        bisection comes first on large instances, whose k-means++ seeds are far from balanced and slow to repair.
        Without bands, the seed centres are improved by vertex substitution (`site_order`) first."""
        problem = self.problem
        row = primary_metric(problem)
        bisect = problem.banded and row is not None and not problem.fixed and problem.geometry != "matrix"
        if bisect and number % 2 == (0 if problem.n_units > _BISECT_FIRST else 1):
            centres = bisection_centres(problem, number // 2, problem.metrics[row])
        else:
            centres = initial_centres(problem, self.seeds[number])
        if site_order is not None and not problem.banded:
            centres = fast_interchange(site_order, centres, budget.deadline)
        return self.allocate(fit_to_rules(problem, centres), budget, slowest, cost)

    def allocate(
        self,
        centres: np.ndarray,
        budget: TimeBudget,
        slowest: list[float] | None = None,
        cost: np.ndarray | None = None,
    ) -> tuple[Solution, int]:
        """Alternate balanced assignment and re-centering from the given centres until no improvement.

        A round starts only if the slowest round so far (`slowest[0]`, updated here) would still end within the
        budget; the first round always runs.
        """
        problem = self.problem
        slowest = slowest if slowest is not None else [0.0]
        best: Solution | None = None
        rounds = 0
        for rounds in range(1, self.max_rounds + 1):  # noqa: B007 - reported
            if best is not None and not budget.fits(slowest[0]):
                break
            began = time.perf_counter()
            territory = assign(problem, centres, self.candidates)
            slowest[0] = max(slowest[0], time.perf_counter() - began)
            found = (objective(problem, Alignment(territory, centres)), territory, centres)
            if best is not None and better(problem, best, found) is best:
                break
            best = found
            moved = recentre(problem, territory, centres, cost)
            if np.array_equal(moved, centres):
                break
            centres = moved
        assert best is not None
        return best, rounds


def dense_cost(problem: Problem) -> np.ndarray | None:
    """(n, S) weighted distances for vertex substitution in p-median mode, when they fit in memory."""
    if problem.fixed:
        return None
    if problem.n_units * problem.n_sites > _SWAP_CELLS:
        return None
    units = np.arange(problem.n_units)
    return problem.travel_matrix(units, np.arange(problem.n_sites))


def better(problem: Problem, best: Solution | None, found: Solution) -> Solution:
    """The better of two solutions: meeting the bands first, then lower objective (ties keep `best`)."""
    if best is None:
        return found
    ok_best, ok_found = bands_hold(problem, best[1]), bands_hold(problem, found[1])
    if ok_best != ok_found:
        return found if ok_found else best
    return found if found[0] < best[0] - 1e-9 * max(abs(best[0]), 1.0) else best


def assign(problem: Problem, centres: np.ndarray, candidates: int) -> np.ndarray:
    """Balanced assignment to fixed centres.

    The flow runs over each unit's nearest centres; if they cannot meet the bands, each centre also gets arcs from
    its own nearest units, and if that still fails, the bands become soft (missed at a prohibitive cost) and the
    repair step and later re-centering have to settle the rest.
    """
    count = min(candidates, problem.n_territories)
    arcs = Arcs.build(problem, centres, count)
    territory = None
    if count > _FLOW_ARCS and problem.n_units >= _FEW_ARCS_UNITS:
        # the flow first over each unit's nearest few; the repair and the moves get them all
        few = Arcs(arcs.territory[:, :_FLOW_ARCS], arcs.distance[:, :_FLOW_ARCS], arcs.cost[:, :_FLOW_ARCS])
        territory = flow_assignment(problem, few)
        # Units sent to their last listed centre would have gone farther: then the flow over every arc decides. (A
        # row with fewer allowed centres, under rules, is padded with its first: it cannot go farther.)
        last = few.territory[:, -1]
        farthest = (territory == last) & (last != few.territory[:, 0]) if territory is not None else None
        if farthest is not None and farthest.sum() > problem.n_units // _LAST_ARC_UNITS:
            territory = None
    if territory is None:
        territory = flow_assignment(problem, arcs)
    if territory is None and count < problem.n_territories:
        reverse = min(problem.n_units, 3 * problem.n_units // problem.n_territories + 10)
        arcs = Arcs.build(problem, centres, count, reverse)
        territory = flow_assignment(problem, arcs)
    if territory is None:
        territory = flow_assignment(problem, arcs, soft=True)
    territory = repair_bands(problem, territory, arcs, batch=True)
    return improve_moves(problem, territory, arcs)
