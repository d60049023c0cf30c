"""Vacancy cover: when a territory's rep leaves, which neighbouring territories take which of its accounts, and
what that does to their balance.

Computed, not guessed. The neighbours are the territories that own the nearest foreign account of the vacant
territory's accounts (border contact), most contacts first. The vacant territory's accounts are then shared among
them by a small balanced assignment (a GLOP linear programme): the highest potential index and the highest workload
index among the absorbing territories are made as low as they can be, and among the assignments that do that, the
workload-weighted distance from each account to its new territory's centre is the least; an account may only go to
an absorber whose centre is not much farther than its nearest absorber's. The few accounts the LP splits go whole to
the territory that got the most of them, and a descent of single moves and swaps of whole accounts evens out what
that rounding left. Each absorbing territory's index is then recomputed
against its own target (the same target territories.csv's index uses), so the reported indices are exactly what
the accounts add up to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from ortools.linear_solver import pywraplp
from scipy.spatial import cKDTree

from terrplan.geo import haversine_km

#: Per metric: (the account column, the territory column, the territory table's index column).
METRICS = (("potential", "potential", "potential_index"), ("workload_hours", "workload_hours", "workload_index"))

#: An account of the vacant territory touches the territory of its nearest foreign account among this many.
_CONTACT_NEIGHBOURS = 16

#: An account may join an absorbing territory whose centre is at most this much farther than the nearest one's.
REACH_KM = 100.0

#: Steps of the descent after rounding the LP (each the best move or swap of accounts between absorbers).
IMPROVE_STEPS = 50

#: The model's rows per metric: the accounts' values, and per absorber the index before and index points per unit.
Rows = list[tuple[np.ndarray, np.ndarray, np.ndarray]]

#: A territory is a neighbour when at least this share of the vacant territory's accounts touch it.
_MIN_CONTACT_SHARE = 0.05


@dataclass(frozen=True)
class Absorber:
    """One territory taking part of a vacant territory's accounts."""

    territory: str
    accounts: int
    potential: float  # taken over
    workload_hours: float  # taken over
    index_before: dict[str, float]  # metric (potential, workload_hours) -> index before
    index_after: dict[str, float]  # ... and with the accounts it takes over
    mean_km: float  # mean distance of the accounts taken over to this territory's centre


@dataclass(frozen=True)
class VacancyCover:
    territory: str  # the vacant one
    absorbers: tuple[Absorber, ...]  # most potential taken first
    moves: pd.DataFrame  # account_id, to_territory, potential, workload_hours, distance_km; by account_id


def vacancy_covers(assignments: pd.DataFrame, territories: pd.DataFrame, most: int = 3) -> dict[str, VacancyCover]:
    """Every territory's vacancy cover (`vacancy_cover`), the nearest accounts found once for all of them."""
    near = nearest_accounts(assignments)
    covers = {str(t): vacancy_cover(assignments, territories, str(t), most, near) for t in territories["territory"]}
    return {t: cover for t, cover in covers.items() if cover is not None}


def vacancy_cover(
    assignments: pd.DataFrame,
    territories: pd.DataFrame,
    territory: str,
    most: int = 3,
    near: np.ndarray | None = None,
) -> VacancyCover | None:
    """How `territory`'s accounts are covered when its rep leaves, by at most `most` neighbouring territories;
    None when there is no other territory (or the territory has no accounts). `near`: `nearest_accounts`."""
    labels = assignments["territory"].astype(str).to_numpy()
    vacant = labels == territory
    if not vacant.any() or vacant.all():
        return None
    table = territories.assign(territory=territories["territory"].astype(str)).set_index("territory")
    near = nearest_accounts(assignments) if near is None else near
    absorbers = neighbours(labels, near, territory, most, table)
    mine = assignments.loc[vacant]
    metrics = [m for m in METRICS if m[0] in assignments and m[1] in table]
    before = {t: {m[0]: float(table.at[t, m[1]]) for m in metrics} for t in absorbers}
    targets = {t: {m[0]: _target(table, t, m, assignments) for m in metrics} for t in absorbers}
    distance = np.column_stack(
        [
            haversine_km(mine["lat"], mine["lon"], float(table.at[t, "centre_lat"]), float(table.at[t, "centre_lon"]))
            for t in absorbers
        ]
    )
    choice = _balanced_assignment(mine, distance, before, targets, absorbers, [m[0] for m in metrics])
    to = np.asarray(absorbers, dtype=object)[choice]
    km = distance[np.arange(len(mine)), choice]
    moves = pd.DataFrame(
        {
            "account_id": mine["account_id"].astype(str).to_numpy(),
            "to_territory": to,
            "potential": mine["potential"].to_numpy(dtype=float),
            "workload_hours": mine["workload_hours"].to_numpy(dtype=float)
            if "workload_hours" in mine
            else np.zeros(len(mine)),
            "distance_km": km,
        }
    ).sort_values("account_id", kind="stable", ignore_index=True)
    out = []
    for t in absorbers:
        taken = moves.loc[moves["to_territory"] == t]
        if taken.empty:
            continue
        after = {m: before[t][m] + float(taken[m].sum()) for m in before[t]}
        out.append(
            Absorber(
                territory=t,
                accounts=len(taken),
                potential=float(taken["potential"].sum()),
                workload_hours=float(taken["workload_hours"].sum()),
                index_before={m: _index(before[t][m], targets[t][m]) for m in before[t]},
                index_after={m: _index(after[m], targets[t][m]) for m in after},
                mean_km=float(taken["distance_km"].mean()),
            )
        )
    out.sort(key=lambda a: (-a.potential, a.territory))
    return VacancyCover(territory=territory, absorbers=tuple(out), moves=moves)


def nearest_accounts(assignments: pd.DataFrame) -> np.ndarray:
    """Each account's nearest accounts (row positions, itself first), a few of them."""
    points = _plane(assignments["lat"].to_numpy(dtype=float), assignments["lon"].to_numpy(dtype=float))
    k = min(_CONTACT_NEIGHBOURS, len(points))
    _, near = cKDTree(points).query(points, k=k)
    return np.asarray(near).reshape(len(points), k)


def neighbours(labels: np.ndarray, near: np.ndarray, territory: str, most: int, table: pd.DataFrame) -> list[str]:
    """The territories `territory` borders, most contacts first (ties by name), at most `most`: a contact is an
    account of `territory` whose nearest foreign account (among its nearest few, `near`) lies in the other
    territory, and a neighbour has contacts for at least 5 % of the accounts. At least two where there are two
    others."""
    mine = np.flatnonzero(labels == territory)
    near = near[mine]
    foreign = labels[near] != territory
    first = foreign.argmax(axis=1)
    touching = labels[near[np.arange(len(mine)), first]][foreign.any(axis=1)]
    counts = pd.Series(touching).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    floor = max(1.0, _MIN_CONTACT_SHARE * len(mine))
    chosen = [t for t, n in ranked if n >= floor][:most]
    # One absorber alone would double its territory: take two wherever there are two others, the next by contact,
    # then by the nearest centre (an island touches no one).
    want = min(max(1, min(2, most)), len(table) - 1)
    chosen += [t for t, _ in ranked if t not in chosen][: max(0, want - len(chosen))]
    if len(chosen) < want:
        others = table.drop(index=[territory, *chosen])
        centre = table.loc[territory]
        km = haversine_km(centre["centre_lat"], centre["centre_lon"], others["centre_lat"], others["centre_lon"])
        chosen += [str(t) for t in others.index[np.argsort(km, kind="stable")[: want - len(chosen)]]]
    return chosen


def _plane(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Degrees on a local plane (longitude shrunk by the cosine of latitude): enough to find nearest accounts."""
    return np.column_stack([lat, lon * np.cos(np.radians(lat))])


def _target(table: pd.DataFrame, territory: str, metric: tuple[str, str, str], assignments: pd.DataFrame) -> float:
    """The territory's target for a metric, the one its index in territories.csv is relative to (value x 100 /
    index); the mean territory's when the table has no index or the territory holds none of the metric."""
    _, column, index_column = metric
    value = float(table.at[territory, column])
    index = float(table.at[territory, index_column]) if index_column in table else 0.0
    if value > 0 and index > 0:
        return value * 100.0 / index
    return float(assignments[metric[0]].sum()) / len(table)


def _index(value: float, target: float) -> float:
    return value * 100.0 / target if target > 0 else 100.0


def _balanced_assignment(
    accounts: pd.DataFrame,
    distance: np.ndarray,
    before: dict[str, dict[str, float]],
    targets: dict[str, dict[str, float]],
    absorbers: list[str],
    metrics: list[str],
) -> np.ndarray:
    """Index (into `absorbers`) of the territory each account goes to: the LP described in the module docstring,
    each account whole to its largest share (the first territory on a tie), then `_improve`."""
    n, k = distance.shape
    if k == 1:
        return np.zeros(n, dtype=int)
    # Candidate arcs only: an account may go to a territory whose centre is at most REACH_KM (or half as far
    # again) beyond its nearest absorber's, so balance never sends it across the map.
    nearest = distance.min(axis=1, keepdims=True)
    allowed = distance <= nearest + np.maximum(REACH_KM, nearest / 2)
    # Travel counts in call hours (every account needs some, unlike potential), scaled so that all of it weighs
    # about one index point: balance comes first, compactness decides among the balanced assignments.
    hours = accounts["workload_hours"].to_numpy(dtype=float) if "workload_hours" in accounts else np.ones(n)
    weight = np.maximum(hours, max(float(hours.mean()), 1e-9) / 5)
    cost = weight[:, None] * distance
    cost = cost / (float((cost.max(axis=1) - cost.min(axis=1)).sum()) or 1.0)
    rows: Rows = []
    for metric in metrics:
        scales = [100.0 / targets[t][metric] if targets[t][metric] > 0 else 0.0 for t in absorbers]
        offsets = [before[t][metric] * scale for t, scale in zip(absorbers, scales, strict=True)]
        rows.append((accounts[metric].to_numpy(dtype=float), np.array(offsets), np.array(scales)))

    share = _solve(pywraplp.Solver.CreateSolver("GLOP"), allowed, cost, rows)
    if share is None:  # not expected: the LP is always feasible and bounded
        return np.argmin(distance, axis=1)
    return _improve(np.argmax(share, axis=1), allowed, cost, rows)


def _improve(choice: np.ndarray, allowed: np.ndarray, cost: np.ndarray, rows: Rows) -> np.ndarray:
    """Descent from the rounded LP: the best single move or swap of two accounts between absorbers (on allowed
    arcs) that lowers the model's objective (the sum of the peaks plus the travel), until none does or IMPROVE_STEPS
    steps. Rounding the few split accounts can leave one absorber a split account above the others; a swap of a
    large account for a smaller one evens them."""
    n, k = cost.shape
    choice = choice.copy()
    values = np.array([v for v, _, _ in rows])  # metric x account
    offsets = np.array([o for _, o, _ in rows])  # metric x absorber
    scales = np.array([c for _, _, c in rows])
    for _step in range(IMPROVE_STEPS):
        held = np.array([np.bincount(choice, weights=v, minlength=k) for v in values])
        index = offsets + scales * held  # metric x absorber
        now = index.max(axis=1).sum() + cost[np.arange(n), choice].sum()
        best, step = now - 1e-9, None
        for p in range(k):
            mine = np.flatnonzero(choice == p)
            for q in range(k):
                if q == p or not len(mine):
                    continue
                # account i of p moves to q; with a partner i2 of q moving to p, or none (a single move)
                partners = np.concatenate([[-1], np.flatnonzero(choice == q)])
                gain = values[:, mine][:, :, None] - np.where(partners >= 0, values[:, partners], 0.0)[:, None, :]
                after = np.broadcast_to(index[:, :, None, None], (*index.shape, *gain.shape[1:])).copy()
                after[:, p] -= scales[:, p, None, None] * gain
                after[:, q] += scales[:, q, None, None] * gain
                travel = cost[mine, q][:, None] - cost[mine, p][:, None]
                travel = travel + np.where(partners >= 0, cost[partners, p] - cost[partners, q], 0.0)[None, :]
                total = after.max(axis=1).sum(axis=0) + cost[np.arange(n), choice].sum() + travel
                ok = allowed[mine, q][:, None] & np.where(partners >= 0, allowed[partners, p], True)[None, :]
                total = np.where(ok, total, np.inf)
                flat = int(np.argmin(total))
                if total.flat[flat] < best:
                    i, partner = divmod(flat, len(partners))
                    best, step = float(total.flat[flat]), (p, q, mine[i], partners[partner])
        if step is None:
            break
        p, q, i, partner = step
        choice[i] = q
        if partner >= 0:
            choice[partner] = p
    return choice


def _solve(solver: pywraplp.Solver, allowed: np.ndarray, cost: np.ndarray, rows: Rows) -> np.ndarray | None:
    """The balanced assignment's model on `solver`: x[i, j] the share of account i going to absorber j (on the
    allowed arcs), one peak per metric at least every absorber's index after, minimising the peaks plus the
    travel. The shares, or None when the solver found nothing."""
    n, k = cost.shape
    infinity = solver.infinity()
    x = [[solver.NumVar(0.0, 1.0 if allowed[i, j] else 0.0, "") for j in range(k)] for i in range(n)]
    for i in range(n):  # each account goes somewhere, whole
        row = solver.Constraint(1.0, 1.0)
        for j in range(k):
            row.SetCoefficient(x[i][j], 1.0)
    objective = solver.Objective()
    for values, offsets, scales in rows:
        peak = solver.NumVar(0.0, infinity, "")
        objective.SetCoefficient(peak, 1.0)
        for j in range(k):  # index after = (before + taken) x 100 / target <= peak
            row = solver.Constraint(-infinity, -float(offsets[j]))
            row.SetCoefficient(peak, -1.0)
            for i in np.flatnonzero(values):
                row.SetCoefficient(x[i][j], float(values[i] * scales[j]))
    for i in range(n):
        for j in range(k):
            objective.SetCoefficient(x[i][j], float(cost[i, j]))
    objective.SetMinimization()
    if solver.Solve() not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    return np.array([[x[i][j].solution_value() for j in range(k)] for i in range(n)])
