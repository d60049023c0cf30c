"""Redesign: the config's problem solved (rules and disruption cost included), made contiguous when asked, and
measured account by account, with each territory's name and rep.

With a move cost and a disruption budget, the budget is kept by pricing: if the design moves more potential than
the budget allows, the move cost is raised (x4, at most three times) and the design solved again.

Time: every solve draws from the run's one time budget. A priced design may solve up to four times. Its first design
is the one written unless it breaks the disruption budget, so the first solve gets most of the time
(`_FIRST_SHARE`) and the re-solves share what is left alike (a third of it each, ...); an unpriced design's one solve
gets it all. Iteration caps normally end each solve first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Balance, Config
from terrplan.contiguity import contiguous_result, solve_share, unit_neighbours
from terrplan.errors import Finding, InfeasibleError
from terrplan.metrics import Metrics, evaluate, percent
from terrplan.model import Result, disruption_cost, home_term
from terrplan.pipeline import Loaded, Prepared, account_level, prepare, refines
from terrplan.problem import balance_count, territory_fte
from terrplan.progress import Reporter
from terrplan.reps import home_figures, kept_potential, territory_reps
from terrplan.rules import AccountRules, rule_figures
from terrplan.solve import SolveParams, solve
from terrplan.solve.assign import primary_metric
from terrplan.solve.bound import checked_bound, non_negative_costs
from terrplan.solve.centres import travel_centres
from terrplan.solve.disruption import Budget, forced_move
from terrplan.solve.refine import refine_seconds

_PRICE_STEPS = 3  # times the move cost is raised (x4 each) to fit a disruption budget
_PRICE_FACTOR = 4.0
# Of the time, what a priced design's first solve may spend; the re-solves share the rest and whatever it left. An
# equal quarter made a solve's own phase shares (new starts stop at a quarter of a solve's budget) cut the sample's
# starts at about 11 s of its 180-s limit, where its 12 starts take 10 s idle and more under load: summary.json's
# solver_rounds then changed from run to run (40, 52) although the run ended at 23 s. Three quarters keep the priced
# sample's starts 3 times clear of that cap (the unpriced design 4 times), and a re-solve on a run the clock does
# cut still gets a twelfth of the time rather than nothing.
_FIRST_SHARE = 0.75


@dataclass(frozen=True)
class Design:
    prepared: Prepared
    result: Result
    metrics: Metrics  # account level, without hierarchy columns
    fields: dict[str, Any]  # solver figures for summary.json


def run_design(
    loaded: Loaded, config: Config, current: str | None, report: Reporter, time_budget: TimeBudget | None = None
) -> Design:
    """Solve the config; with a current alignment and a move cost, keep within the disruption budget by price.
    Every solve draws from `time_budget` (default: solver.time_limit from now)."""
    time_budget = time_budget if time_budget is not None else TimeBudget.of(config.solver.time_limit)
    limits = config.disruption
    budget = Budget.from_config(limits)
    prepared = prepare(loaded, config, current, time_budget)  # remote regions' sub-solves draw from it too
    priced = prepared.rules is not None and bool((prepared.rules.move_cost > 0).any())
    if priced and budget.share is not None:
        _check_budget(prepared, budget.share)
    potential = loaded.accounts["potential"].to_numpy(dtype=float)
    steps = _PRICE_STEPS if priced and budget.set else 0
    design = _solve_once(prepared, loaded, config, report, time_budget.share(_FIRST_SHARE if steps else 1.0))
    cost = limits.move_cost_km
    for step in range(steps):
        breaches = _breaches(design, budget, potential)
        if not breaches:
            break
        cost *= _PRICE_FACTOR
        report.info(
            "repricing",
            f"over the disruption budget ({breaches[0]}): move cost raised to {cost:g} km",
            move_cost_km=cost,
        )
        share = time_budget.share(1 / (steps - step))  # the solves still possible share what is left alike
        design = _solve_once(_repriced(prepared, cost / limits.move_cost_km), loaded, config, report, share)
    if priced:
        moved = moved_share(design, potential)
        design.fields["pricing"] = {"move_cost_km": cost, "moved_share": round(moved, 6)}
        breaches = _breaches(design, budget, potential)
        if breaches:
            raise InfeasibleError(
                "the redesign cannot keep inside the disruption budget",
                [
                    Finding(
                        "disruption",
                        f"at move cost {cost:g} km: {breach}",
                        hint="raise the budget, or refresh instead (--move-cost 0) to move only what the bands need",
                    )
                    for breach in breaches
                ],
            )
    if loaded.reps is not None:
        _rep_homes(design, config, report, len(loaded.reps))
    return design


def _rep_homes(design: Design, config: Config, report: Reporter, roster_rows: int) -> None:
    """summary.json's `reps` (home to territory, the home term) and a warning past territories.rep_home_warn_km."""
    problem = design.prepared.problem
    weight = config.territories.rep_home_weight if problem.homes is not None else 0.0
    term = home_term(problem, design.result.alignment.centres)
    # the weight brings reps closer where it ties territories to reps: free centres, a roster row per territory
    tied = config.territories.centres == "free" and roster_rows == problem.n_territories
    hint = "raise territories.rep_home_weight to keep reps closer" if tied else None
    limit = config.territories.rep_home_warn_km
    figures, warning, note = home_figures(design.metrics.territories, limit, weight, term, hint)
    design.fields["reps"] = figures
    if warning is not None:
        report.warn("rep_homes", warning, **figures)
    elif note is not None:
        report.info("rep_homes", note, **figures)


def _breaches(design: Design, budget: Budget, potential: np.ndarray) -> list[str]:
    rules = design.prepared.rules
    assert rules is not None
    territory = design.result.alignment.territory[design.prepared.units.of_account]
    return budget.breaches(potential, rules.home, territory, rules.names)


def _check_budget(prepared: Prepared, budget: float) -> None:
    """Stop before solving when the bands alone force more potential to move than the budget allows."""
    problem, rules = prepared.problem, prepared.rules
    row = primary_metric(problem)
    if rules is None or row is None or problem.metric_names[row] != "potential" or problem.rules is None:
        return
    total = float(problem.metrics[row][problem.rules.home >= 0].sum())
    forced = forced_move(problem, problem.rules.home, row) / total if total > 0 else 0.0
    if forced > budget + 1e-12:
        raise InfeasibleError(
            "no alignment inside the bands keeps within the disruption budget",
            [
                Finding(
                    "disruption",
                    f"the current territories hold {forced:.1%} of potential beyond their bands; at least that "
                    f"much must move, over the budget of {budget:.1%}",
                    key="disruption.budget",
                    hint=f"raise the budget to at least {np.ceil(forced * 1000) / 1000:.1%}, or widen the tolerance",
                )
            ],
        )


def _repriced(prepared: Prepared, factor: float) -> Prepared:
    """The same preparation with every move cost multiplied by `factor`."""
    rules, problem = prepared.rules, prepared.problem
    assert rules is not None and problem.rules is not None
    unit_rules = dataclasses.replace(problem.rules, move_cost=problem.rules.move_cost * factor)
    return dataclasses.replace(
        prepared,
        problem=dataclasses.replace(problem, rules=unit_rules),
        rules=dataclasses.replace(rules, move_cost=rules.move_cost * factor),
    )


def moved_share(design: Design, potential: np.ndarray) -> float:
    """Share of potential (of accounts with a current territory) placed outside that territory; `potential`
    per account, in the accounts' order."""
    rules = design.prepared.rules
    if rules is None:
        return 0.0
    territory = design.result.alignment.territory[design.prepared.units.of_account]
    has = rules.home >= 0
    total = float(potential[has].sum())
    return float(potential[has & (territory != rules.home)].sum()) / total if total > 0 else 0.0


def _solve_once(
    prepared: Prepared, loaded: Loaded, config: Config, report: Reporter, time_budget: TimeBudget
) -> Design:
    units, problem = prepared.units, prepared.problem
    if prepared.split_groups:
        report.warn(
            "split",
            f"{len(prepared.split_groups)} keep-together group(s) too big for any territory, split: "
            + ", ".join(prepared.split_groups),
            groups=list(prepared.split_groups),
        )
    what = "accounts" if units.trivial else f"units ({len(loaded.accounts)} accounts)"
    report.info(
        "solving",
        f"solving: {problem.n_units} {what} into {problem.n_territories} territories, "
        + ", ".join(_band_text(balance) for balance in config.territories.balance),
        accounts=problem.n_units,
        territories=problem.n_territories,
    )
    report.stage("solve")
    with report.status("optimizing territories…"):
        solving = time_budget.share(solve_share(problem)) if prepared.graph is not None else time_budget
        if refines(problem):  # the account-level refinement after it draws from the same budget: keep its time
            solving = solving.less(min(refine_seconds(len(loaded.accounts)), 0.5 * solving.remaining()))
        params = dataclasses.replace(SolveParams.from_config(config.solver), on_progress=report.solver_progress)
        result = solve(problem, params, solving)
    if result.message and result.status != "infeasible":  # a bound dropped or computed short (not a proof)
        report.warn("bound", result.message)
    fields = _result_fields(result)
    if prepared.split_groups:
        fields["split_groups"] = list(prepared.split_groups)
    if prepared.graph is not None:
        neighbours = unit_neighbours(units.areas, prepared.graph)
        result, fields["contiguity"] = contiguous_result(problem, result, neighbours, time_budget, config.solver.seed)
        fields["status"] = result.status
    if problem.homes is not None:  # the home term shaped the territories; each is measured from its own 1-median
        centres = travel_centres(problem, result.alignment.territory, result.alignment.centres)
        result = dataclasses.replace(result, alignment=dataclasses.replace(result.alignment, centres=centres))
    labels, rep_columns = _names_and_reps(config, loaded, prepared, result)
    by_account = account_level(
        units, problem, result.alignment, loaded.accounts, config, loaded.reps, prepared.rules, time_budget
    )
    metrics = evaluate(loaded.accounts, *by_account, labels, rep_columns, balanced=balance_count(config))
    if prepared.remote_regions:
        fields["remote_regions"] = _remote_regions(prepared, loaded, metrics, report)
    # One objective everywhere: the gap is taken against the objective summary.json and the log report (the
    # accounts' own, after contiguity moved units), never against the solver's before contiguity.
    # The bound is checked against that objective before anything is written: outside [0, objective] it is dropped.
    lower_bound, doubt = checked_bound(result.lower_bound, metrics.objective, non_negative_costs(by_account[0]))
    if doubt:
        report.warn("bound", doubt, lower_bound=result.lower_bound)
    result = dataclasses.replace(result, objective=metrics.objective, lower_bound=lower_bound)
    if doubt and result.status == "optimal":
        result = dataclasses.replace(result, status="feasible")
    fields.update(_result_fields(result))
    if prepared.rules is not None:
        account_problem, alignment = by_account
        distance = account_problem.distance(np.arange(account_problem.n_units), alignment.centres[alignment.territory])
        fields["rules"] = rule_figures(prepared.rules, alignment.territory, distance)
        metrics = _with_locks(metrics, prepared.rules, loaded.accounts["account_id"].to_numpy())
        if account_problem.rules is not None and (account_problem.rules.move_cost > 0).any():
            moving = disruption_cost(account_problem, alignment.territory)
            fields["objective_parts"] = {"travel": round(metrics.objective - moving, 6), "disruption": round(moving, 6)}
    if not units.trivial:
        fields["units"] = len(units.frame)
    return Design(prepared, result, metrics, fields)


def _band_text(balance: Balance) -> str:
    """'potential within ±5%', 'workload at most 1,600 per FTE', or both for one metric."""
    parts = [f"within ±{percent(balance.tolerance)}"] if balance.tolerance is not None else []
    if balance.min_per_fte is not None:
        parts.append(f"at least {balance.min_per_fte:,g} per FTE")
    if balance.max_per_fte is not None:
        parts.append(f"at most {balance.max_per_fte:,g} per FTE")
    return f"{balance.metric} {' and '.join(parts)}"


def _remote_regions(prepared: Prepared, loaded: Loaded, metrics: Metrics, report: Reporter) -> list[dict[str, Any]]:
    """summary.json's remote_regions, each region also logged: what it got and the territories its accounts are in."""
    problem, of_account = prepared.problem, prepared.units.of_account
    row = primary_metric(problem)
    metric = problem.metric_names[row] if row is not None else "weight"
    by_id = metrics.assignments.set_index("account_id")["territory"]  # assignments are sorted by account_id
    territory = by_id.reindex(loaded.accounts["account_id"]).to_numpy()
    out = []
    for plan in prepared.remote_regions:
        names = sorted({str(name) for name in territory[np.isin(of_account, plan.members)]})
        report.info("remote_region", f"remote region {plan.describe(metric)}: {', '.join(names)}", region=plan.name)
        out.append(plan.fields(metric, names))
    return out


def _with_locks(metrics: Metrics, rules: AccountRules, account_ids: np.ndarray) -> Metrics:
    """assignments.csv gains `locked_to`: the territory a rule locks the account to (blank when free)."""
    names = np.array([*rules.names, ""], dtype=object)
    locked = pd.Series(names[rules.locked], index=account_ids)
    assignments = metrics.assignments.assign(locked_to=metrics.assignments["account_id"].map(locked).fillna(""))
    return dataclasses.replace(metrics, assignments=assignments)


def _result_fields(result: Result) -> dict[str, Any]:
    return {
        "status": result.status,
        "lower_bound": None if result.lower_bound is None else round(result.lower_bound, 6),
        "gap": None if result.gap is None else round(result.gap, 8),
        "solver_rounds": result.iterations,
    }


def _names_and_reps(
    config: Config, loaded: Loaded, prepared: Prepared, result: Result
) -> tuple[list[str] | None, pd.DataFrame | None]:
    """Territory names and rep columns. Rules fix the names (a lock says 'T03'); anchored territories keep the
    roster's, and so do free territories tied to reps by the home term (territory t is roster row t's); otherwise
    names come later, north to south. Reps follow the names when the roster gives them."""
    problem = prepared.problem
    names = list(prepared.rules.names) if prepared.rules is not None else None
    reps = loaded.reps
    anchored = config.territories.centres == "rep_homes" or problem.homes is not None
    if reps is not None and anchored and names is None:
        roster = reps["territory"]
        names = list(roster) if (roster != "").all() and roster.is_unique else None
    if reps is None:
        return names, None
    centres = problem.site_coords()[result.alignment.centres]
    by_name = names is not None and len(reps) == len(names) and list(reps["territory"]) == names
    fte = territory_fte(reps, problem.n_territories)
    territory = result.alignment.territory[prepared.units.of_account]
    potential = loaded.accounts["potential"].to_numpy(dtype=float)
    kept = kept_potential(reps, loaded.accounts["territory"].to_numpy(), territory, potential, problem.n_territories)
    points = loaded.accounts[["lat", "lon"]].to_numpy(dtype=float)
    return names, territory_reps(reps, centres, anchored or by_name, fte, points, territory, kept)
