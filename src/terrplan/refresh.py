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

from terrplan.compare import Comparison, disruption
from terrplan.config import Config
from terrplan.errors import Finding, InfeasibleError, InputError
from terrplan.geo import haversine_km, normalize_zip, zip_table
from terrplan.metrics import Metrics, evaluate
from terrplan.model import Alignment, Problem, Rules, bands_hold
from terrplan.pipeline import UNKNOWN_ACCOUNT, Loaded, alignment_centres, match_alignment
from terrplan.problem import build_problem
from terrplan.read import Table
from terrplan.solve.assign import Arcs, BandMoves, flow_assignment, improve_moves, primary_metric, repair_bands
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
    problem: Problem,
    current: np.ndarray,
    centres: np.ndarray,
    budget: Budget,
    potential: np.ndarray | None = None,
    home: np.ndarray | None = None,
) -> Refresh:
    """Repair `current` towards the bands within the budget (shares of `potential`, default the primary metric).

    `home`: the alignment in force (-1 for new and relocated units, placed in `current` but free to go anywhere:
    their moves are not counted); default `current`."""
    row = primary_metric(problem)
    amount = problem.metrics[row if row is not None else 0]
    potential = amount if potential is None else potential
    home = current if home is None else home
    total = float(potential[home >= 0].sum()) or 1.0
    arcs = Arcs.build(problem, centres, min(_ARCS, problem.n_territories))

    def rank(territory: np.ndarray) -> tuple[bool, bool, float]:
        holds = bands_hold(problem, territory)
        return (not holds, bool(budget.breaches(potential, home, territory)), _moved(potential, home, territory))

    unlimited = min((_fewest_moves(problem, home, centres, potential), repair_bands(problem, current, arcs)), key=rank)
    territory = unlimited
    if rank(territory)[1]:
        kept = _within_budget(problem, current, home, centres, arcs, potential, budget)
        territory = min((territory, kept), key=rank)
        if rank(territory)[1]:  # still over: keep the budget, leave bands unmet
            territory = kept
    placed = home >= 0
    bound = forced_move(problem, home, row) / float(amount[placed].sum() or 1.0)
    holds = not rank(territory)[0]
    moved = _moved(potential, home, territory) / total
    return Refresh(territory, moved, bound, _moved(potential, home, unlimited) / total, holds)


_LEXICOGRAPHIC = 10.0  # a move costs this many long arcs of travel per unit of potential: moves first, travel second


def _fewest_moves(problem: Problem, home: np.ndarray, centres: np.ndarray, potential: np.ndarray) -> np.ndarray:
    """The balanced assignment to the current centres that moves the least potential (travel breaks ties); units
    without a home (-1) go where travel is shortest."""
    count = min(_ARCS, problem.n_territories)
    long_arc = float(np.percentile(Arcs.build(problem, centres, count).distance[:, -1], 99))
    per_potential = problem.weights.sum() / max(float(potential.sum()), 1e-300)
    cost = _LEXICOGRAPHIC * max(long_arc, 1e-9) * per_potential * potential
    rules = dataclasses.replace(Rules.none(problem.n_units), home=home, move_cost=cost)
    priced = dataclasses.replace(problem, rules=rules)
    arcs = Arcs.build(priced, centres, count)
    territory = flow_assignment(priced, arcs)
    if territory is None:
        territory = flow_assignment(priced, arcs, soft=True)
    return improve_moves(priced, repair_bands(priced, territory, arcs, batch=True), arcs)


def _within_budget(
    problem: Problem,
    current: np.ndarray,
    home: np.ndarray,
    centres: np.ndarray,
    arcs: Arcs,
    potential: np.ndarray,
    budget: Budget,
) -> np.ndarray:
    """The repair one move at a time from `current`. A move that would break the budget (counted against `home`)
    is not made: its unit is pinned where it is and the repair looks for another move, until none is left."""
    moves = BandMoves(problem, current, arcs)
    while (position := moves.best()) is not None:
        unit, to = moves.destination(position)
        step = moves.territory.copy()
        step[unit] = to
        if not budget.breaches(potential, home, step):
            moves.move(position)
            continue
        moves.pin(centres, np.array([unit]))
    return moves.territory


def _moved(amount: np.ndarray, home: np.ndarray, after: np.ndarray) -> float:
    """What left its home territory (units without one, -1, never move)."""
    return float(amount[(home >= 0) & (home != after)].sum())


@dataclass(frozen=True)
class RefreshRun:
    """What `optimize --current` reports: the repaired alignment's metrics and the refresh figures."""

    metrics: Metrics
    figures: dict[str, float | int | None]
    failure: InfeasibleError | None  # set when the budget or the bands cannot be met
    tables: dict[str, pd.DataFrame] = dataclasses.field(default_factory=dict)  # departed.csv, relocated.csv
    change: Comparison | None = None  # the repaired alignment against the current one (the summary's disruption)


def run_refresh(loaded: Loaded, config: Config, current: Table | None) -> RefreshRun:
    """Repair the current alignment (a file, or the accounts' current territory) within the budget.

    Last year's alignment is taken as it is: accounts it names that are no longer among the accounts have departed
    (reported, not an error); accounts it does not name are new; accounts that moved farther than
    `disruption.relocated_km` are relocated. New and relocated accounts join the nearest territory first and are
    then free to go where the repair needs them: none of that counts as a move."""
    given = match_alignment(loaded.accounts, current)
    blocking = [f for f in given.findings if "not assigned" not in f.message and f.message != UNKNOWN_ACCOUNT]
    if blocking:  # twice-assigned accounts or ZIPs make the current alignment ambiguous
        raise InputError("the current alignment cannot be used", blocking)
    if not given.labels:
        raise InputError("the current alignment assigns no account to a territory")
    sized = dataclasses.replace(
        config, territories=dataclasses.replace(config.territories, count=len(given.labels), centres="free")
    )
    reps = _reps_by_label(loaded, given.labels)
    fte = None if reps is None else np.where(reps["fte"].to_numpy(float) > 0, reps["fte"].to_numpy(float), 1.0)
    problem = build_problem(loaded.accounts, sized, fte=fte)
    home = given.territory.copy()
    relocated = relocated_accounts(problem, loaded.accounts, home, current, config.disruption.relocated_km)
    labels = np.array([*given.labels, ""], dtype=object)
    relocated["from_territory"] = labels[home[relocated["row"].to_numpy(dtype=np.int64)]]
    home[relocated["row"].to_numpy(dtype=np.int64)] = -1
    # The current territory of relocated accounts is blank, as for new ones: what they do is not a move.
    accounts = loaded.accounts.assign(territory=labels[home])
    placed = home >= 0
    centres = _current_centres(problem, home, placed)
    start = home.copy()
    # New and relocated accounts (in no current territory) join the nearest territory first.
    if not placed.all():
        start[~placed] = Arcs.build(problem, centres, 1).territory[~placed, 0]
    limits = config.disruption
    budget = Budget.from_config(limits)
    result = refresh(problem, start, centres, budget, accounts["potential"].to_numpy(dtype=float), home)
    alignment = Alignment(result.territory, alignment_centres(problem, result.territory))
    metrics = evaluate(accounts, problem, alignment, given.labels, reps)
    change = disruption(metrics.assignments)
    moved = moved_figures(change)
    now = metrics.assignments.set_index("account_id")["territory"]
    relocated = relocated.assign(territory=now.reindex(relocated.index).to_numpy())
    departed = given.departed
    departed_potential = (
        round(float(pd.to_numeric(departed["potential"], errors="coerce").fillna(0.0).sum()), 6)
        if "potential" in departed
        else None
    )
    figures = {
        "budget_share": limits.budget,
        "budget_accounts": limits.budget_accounts,
        "budget_per_territory": limits.budget_per_territory,
        "moved_accounts": moved["moved_accounts"],
        "moved_share": round(moved["moved_potential_share"], 6),
        "moved_potential": round(moved["moved_potential"], 6),
        "needed_share_lower_bound": round(result.needed_share_bound, 6),
        "unlimited_repair_share": round(result.unlimited_share, 6),
        "new_accounts": int((given.territory < 0).sum()),
        "relocated_accounts": len(relocated),
        "relocated_potential": round(float(relocated["potential"].sum()), 6),
        "relocated_km": limits.relocated_km,
        "departed_accounts": len(departed),
        "departed_potential": departed_potential,  # from the alignment file's potential column, when it has one
        # Territories of the file left with no account at all: the refresh cannot keep them (they have no centre).
        "emptied_territories": sorted(set(departed["territory"].astype(str)) - set(given.labels)),
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
    tables = {
        "departed.csv": departed[[c for c in DEPARTED_COLUMNS if c in departed]].reset_index(drop=True),
        "relocated.csv": relocated.reset_index()[RELOCATED_COLUMNS],
    }
    return RefreshRun(metrics, figures, failure, tables, change)


def refresh_line(figures: dict) -> str:
    """The log's summary of a refresh: the same moved figure as summary.json and moves.csv."""
    line = (
        f"refreshed: moved {figures['moved_share']:.1%} of potential ({figures['moved_accounts']} accounts; at least "
        f"{figures['needed_share_lower_bound']:.1%} had to move); every territory inside its band"
    )
    others = [
        f"{what}: {figures[key]}"
        for key, what in (
            ("new_accounts", "new accounts placed"),
            ("relocated_accounts", "relocated accounts placed afresh (relocated.csv)"),
            ("departed_accounts", "departed accounts left out (departed.csv)"),
        )
        if figures[key]
    ]
    return line + ("; " + ", ".join(others) if others else "")


DEPARTED_COLUMNS = ("account_id", "territory", "potential")
RELOCATED_COLUMNS = ["account_id", "from_territory", "territory", "distance_km", "rule", "potential"]


def moved_figures(change: Comparison | None) -> dict[str, float | int]:
    """The one 'moved' figure: accounts (and their potential) whose territory changed against the current one, from
    the comparison summary.json's disruption and moves.csv come from. New and relocated accounts have no current
    territory."""
    if change is None:
        return {"moved_accounts": 0, "moved_potential": 0.0, "moved_potential_share": 0.0}
    return {key: change.figures[key] for key in ("moved_accounts", "moved_potential", "moved_potential_share")}


_RELOCATED_QUANTILE = 95  # a territory's reach: this percentile of its accounts' distances to its centre


def relocated_accounts(
    problem: Problem, accounts: pd.DataFrame, home: np.ndarray, table: Table | None, limit_km: float | None
) -> pd.DataFrame:
    """Accounts of a current territory (`home` >= 0) that have moved away from it, indexed by account_id, with
    row (position in `accounts`), distance_km, rule and potential, in account-id order; none when `limit_km` is
    None.

    * the alignment file has the account's location then (lat and lon columns, else a zip column): relocated when
      the account now lies farther than `limit_km` from it (rule 'location');
    * otherwise (no location in the file or on that row), rule 'reach', relocated when all three hold: it lies
      farther than `limit_km` beyond its territory's reach (the 95th percentile of its accounts' distances to the
      territory's 1-median); no other account of its territory is within `limit_km` of it; another territory's
      centre is at least `limit_km` nearer than its own. The percentile and the 1-median are robust to a few far
      accounts; the neighbour test keeps a remote pocket of several accounts in place; the last test keeps an
      outlier that no other territory is much closer to (an island served from the mainland).
    A territory never loses all its accounts this way."""
    columns = ["row", "distance_km", "rule", "potential"]
    none = pd.DataFrame(columns=columns, index=pd.Index([], name="account_id"))
    if limit_km is None:
        return none
    lat, lon = accounts["lat"].to_numpy(float), accounts["lon"].to_numpy(float)
    then = _locations_then(accounts, table)
    known = ~np.isnan(then[:, 0])
    distance = np.full(len(accounts), np.nan)
    distance[known] = haversine_km(then[known, 0], then[known, 1], lat[known], lon[known])
    by_location = known & (distance > limit_km)
    placed = home >= 0
    centres = _current_centres(problem, home, placed)
    to_centre = np.full(len(accounts), np.nan)
    to_centre[placed] = problem.distance(np.flatnonzero(placed), centres[home[placed]])
    beyond = np.full(len(accounts), np.nan)
    by_reach = np.zeros(len(accounts), dtype=bool)
    for t in range(problem.n_territories):
        members = np.flatnonzero(home == t)
        reach = float(np.percentile(to_centre[members], _RELOCATED_QUANTILE))
        beyond[members] = to_centre[members] - reach
        far = members[(to_centre[members] > reach + limit_km) & ~known[members]]
        if len(far) == 0:
            continue
        gap = haversine_km(lat[far, None], lon[far, None], lat[None, members], lon[None, members])
        gap[far[:, None] == members[None, :]] = np.inf  # itself
        far = far[gap.min(axis=1) > limit_km]
        if len(far) == 0:
            continue
        nearest = np.min([problem.distance(far, np.full(len(far), c)) for c in np.delete(centres, t)], axis=0)
        by_reach[far[nearest < to_centre[far] - limit_km]] = True
    chosen = placed & (by_location | by_reach)
    for t in range(problem.n_territories):  # a territory keeps at least its closest account
        members = np.flatnonzero(home == t)
        if len(members) and chosen[members].all():
            chosen[members[np.argmin(to_centre[members])]] = False
    rows = np.flatnonzero(chosen)
    if len(rows) == 0:
        return none
    return pd.DataFrame(
        {
            "row": rows,
            "distance_km": np.round(np.where(by_location[rows], distance[rows], beyond[rows]), 1),
            "rule": np.where(by_location[rows], "location", "reach"),
            "potential": accounts["potential"].to_numpy(float)[rows],
        },
        index=pd.Index(accounts["account_id"].to_numpy()[rows], name="account_id"),
    ).sort_index(kind="stable")


def _locations_then(accounts: pd.DataFrame, table: Table | None) -> np.ndarray:
    """(n, 2) lat/lon of each account as the alignment file gives it (NaN where it gives none): its lat and lon
    columns when valid, else its zip column's centroid."""
    out = np.full((len(accounts), 2), np.nan)
    if table is None or "account_id" not in table.frame:
        return out
    frame = table.frame.drop_duplicates("account_id", keep="first").set_index("account_id")
    rows = frame.reindex(accounts["account_id"].to_numpy())
    if "zip" in rows:
        zips = rows["zip"].fillna("").map(lambda z: normalize_zip(z) or "")
        out = np.array(zip_table().reindex(zips.to_numpy())[["lat", "lon"]].to_numpy(dtype=float))  # writable
    if "lat" in rows and "lon" in rows:
        lat = pd.to_numeric(rows["lat"], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(rows["lon"], errors="coerce").to_numpy(dtype=float)
        good = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        out[good] = np.column_stack([lat[good], lon[good]])
    return out


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
