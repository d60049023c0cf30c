"""Quarterly refresh: repair a drifted alignment with the fewest, smallest moves, inside a disruption budget.

Start from the current alignment with each territory centred on its weighted 1-median. Two repairs compete:

* least potential moved: a balanced min-cost flow in which leaving one's current territory costs far more than
  any travel (ten times a long arc per unit of potential), so it moves the least potential the bands allow and
  travel only breaks ties; rounding is repaired the same way;
* greedy: one account at a time out of or into a territory outside its band, cheapest extra travel per unit of
  band violation removed first.

The one that meets the bands and the budget with less potential moved wins. Under an account or per-territory
budget, moves that would break it are skipped (the greedy repair pins them). The same inputs give the same moves.

A lower bound on what any repair must move: the potential above the upper bands, or below the lower bands,
whichever is larger; the refresh reports it beside what it moved.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrplan.config import Config
from terrplan.errors import Finding, InfeasibleError, InputError
from terrplan.metrics import Metrics, evaluate
from terrplan.model import Alignment, Problem, Rules, bands_hold
from terrplan.pipeline import Loaded, alignment_centres, match_alignment
from terrplan.problem import build_problem
from terrplan.read import Table
from terrplan.solve.assign import Arcs, flow_assignment, improve_moves, primary_metric, repair_bands
from terrplan.solve.disruption import Budget, forced_move

_ARCS = 30


@dataclass(frozen=True)
class Refresh:
    territory: np.ndarray  # repaired alignment (territory index per unit)
    moved_share: float  # share of the primary metric moved
    needed_share_bound: float  # no repair can move less than this share
    unlimited_share: float  # what the repair moves without a budget
    bands_hold: bool


def refresh(
    problem: Problem, current: np.ndarray, centres: np.ndarray, budget: Budget, potential: np.ndarray | None = None
) -> Refresh:
    """Repair `current` towards the bands within the budget (shares of `potential`, default the primary metric)."""
    row = primary_metric(problem)
    amount = problem.metrics[row if row is not None else 0]
    potential = amount if potential is None else potential
    total = float(potential.sum()) or 1.0
    arcs = Arcs.build(problem, centres, min(_ARCS, problem.n_territories))

    def rank(territory: np.ndarray) -> tuple[bool, bool, float]:
        holds = bands_hold(problem, territory)
        return (not holds, bool(budget.breaches(potential, current, territory)), _moved(potential, current, territory))

    unlimited = min(
        (_fewest_moves(problem, current, centres, potential), repair_bands(problem, current, arcs)), key=rank
    )
    territory = unlimited
    if rank(territory)[1]:
        territory = min((territory, _within_budget(problem, current, centres, potential, budget)), key=rank)
        if rank(territory)[1]:  # still over: keep the budget, leave bands unmet
            territory = _within_budget(problem, current, centres, potential, budget)
    bound = forced_move(problem, current, row) / float(amount.sum() or 1.0)
    holds = not rank(territory)[0]
    moved = _moved(potential, current, territory) / total
    return Refresh(territory, moved, bound, _moved(potential, current, unlimited) / total, holds)


_LEXICOGRAPHIC = 10.0  # a move costs this many long arcs of travel per unit of potential: moves first, travel second


def _fewest_moves(problem: Problem, current: np.ndarray, centres: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """The balanced assignment to the current centres that moves the least potential (travel breaks ties)."""
    count = min(_ARCS, problem.n_territories)
    long_arc = float(np.percentile(Arcs.build(problem, centres, count).distance[:, -1], 99))
    per_potential = problem.weights.sum() / max(float(potential.sum()), 1e-300)
    cost = _LEXICOGRAPHIC * max(long_arc, 1e-9) * per_potential * potential
    rules = dataclasses.replace(Rules.none(problem.n_units), home=current, move_cost=cost)
    priced = dataclasses.replace(problem, rules=rules)
    arcs = Arcs.build(priced, centres, count)
    territory = flow_assignment(priced, arcs)
    if territory is None:
        territory = flow_assignment(priced, arcs, soft=True)
    return improve_moves(priced, repair_bands(priced, territory, arcs, batch=True), arcs)


def _within_budget(
    problem: Problem, current: np.ndarray, centres: np.ndarray, potential: np.ndarray, budget: Budget
) -> np.ndarray:
    """The repair one move at a time. A move that would break the budget is not made: its unit is pinned where it
    is and the repair looks for another move, until none is left."""
    territory = current.copy()
    pinned = np.full(problem.n_units, -1, dtype=np.int64)
    count = min(_ARCS, problem.n_territories)
    arcs = Arcs.build(problem, centres, count)
    while True:
        step = repair_bands(problem, territory, arcs, max_moves=1)
        if np.array_equal(step, territory):
            return territory
        if not budget.breaches(potential, current, step):
            territory = step
            continue
        moved = np.flatnonzero(step != territory)
        pinned[moved] = territory[moved]
        rules = dataclasses.replace(Rules.none(problem.n_units), locked=pinned)
        arcs = Arcs.build(dataclasses.replace(problem, rules=rules), centres, count)


def _moved(amount: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    return float(amount[before != after].sum())


@dataclass(frozen=True)
class RefreshRun:
    """What `optimize --current` reports: the repaired alignment's metrics and the refresh figures."""

    metrics: Metrics
    figures: dict[str, float | int | None]
    failure: InfeasibleError | None  # set when the budget or the bands cannot be met


def run_refresh(loaded: Loaded, config: Config, current: Table | None) -> RefreshRun:
    """Repair the current alignment (a file, or the accounts' current territory) within the budget."""
    given = match_alignment(loaded.accounts, current)
    blocking = [f for f in given.findings if "not assigned" not in f.message]
    if blocking:  # twice-assigned or unknown accounts make the current alignment ambiguous
        raise InputError("the current alignment cannot be used", blocking)
    if not given.labels:
        raise InputError("the current alignment assigns no account to a territory")
    accounts = loaded.accounts.assign(territory=[given.labels[t] if t >= 0 else "" for t in given.territory])
    sized = dataclasses.replace(
        config, territories=dataclasses.replace(config.territories, count=len(given.labels), centres="free")
    )
    reps = _reps_by_label(loaded, given.labels)
    fte = None if reps is None else np.where(reps["fte"].to_numpy(float) > 0, reps["fte"].to_numpy(float), 1.0)
    problem = build_problem(accounts, sized, fte=fte)
    start = given.territory.copy()
    placed = start >= 0
    centres = _current_centres(problem, start, placed)
    # New accounts (in no current territory) join the nearest territory first; that is not a move.
    if not placed.all():
        start[~placed] = Arcs.build(problem, centres, 1).territory[~placed, 0]
    limits = config.disruption
    budget = Budget.from_config(limits)
    result = refresh(problem, start, centres, budget, accounts["potential"].to_numpy(dtype=float))
    alignment = Alignment(result.territory, alignment_centres(problem, result.territory))
    metrics = evaluate(accounts, problem, alignment, given.labels, reps)
    figures = {
        "budget_share": limits.budget,
        "budget_accounts": limits.budget_accounts,
        "budget_per_territory": limits.budget_per_territory,
        "moved_accounts": int((result.territory != start).sum()),
        "moved_share": round(result.moved_share, 6),
        "needed_share_lower_bound": round(result.needed_share_bound, 6),
        "unlimited_repair_share": round(result.unlimited_share, 6),
        "new_accounts": int((~placed).sum()),
    }
    failure = None
    more_limits = limits.budget_accounts is not None or limits.budget_per_territory is not None
    if not result.bands_hold:
        outside = metrics.territories.loc[~metrics.territories["in_band"], "territory"].tolist()
        failure = InfeasibleError(
            f"the refresh cannot bring every territory inside its band within the budget ({len(outside)} outside)",
            [
                Finding("refresh", f"still outside the band: {', '.join(outside)}"),
                Finding(
                    "refresh",
                    f"any repair must move at least {result.needed_share_bound:.1%} of {problem.metric_names[0]} "
                    f"(what lies beyond the bands); without a budget the refresh moves {result.unlimited_share:.1%}",
                    hint=f"raise the budget to at least {result.unlimited_share:.1%} (--budget "
                    f"{np.ceil(result.unlimited_share * 1000) / 1000:g})"
                    + (", relax budget_accounts / budget_per_territory" if more_limits else "")
                    + ", widen the tolerance, or run a full optimize without --current",
                ),
            ],
        )
    return RefreshRun(metrics, figures, failure)


def _current_centres(problem: Problem, territory: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """1-median of each current territory over its placed accounts (unit ids)."""
    members = np.flatnonzero(placed)
    sub = dataclasses.replace(
        problem, weights=problem.weights[members], metrics=problem.metrics[:, members], coords=problem.coords[members]
    )
    return members[alignment_centres(sub, territory[members])]


def _reps_by_label(loaded: Loaded, labels: tuple[str, ...]):
    """Rep columns for territories whose name the roster's territory column gives."""
    if loaded.reps is None:
        return None
    reps = loaded.reps.set_index("territory")
    rows = [reps.loc[label] if label in reps.index else None for label in labels]
    return pd.DataFrame(
        {
            "rep_id": [r["rep_id"] if r is not None else "" for r in rows],
            "rep_name": [r["name"] if r is not None else "VACANT" for r in rows],
            "fte": [r["fte"] if r is not None else 0.0 for r in rows],
        }
    )
