"""Vacancy cover: when a territory's rep leaves, which neighbouring territories take which of its accounts, and
what that does to their balance.

Computed, not guessed. The neighbours are the territories that own the nearest foreign account of the vacant
territory's accounts (border contact), most contacts first. The vacant territory's accounts are then shared among
them by a small balanced assignment (a GLOP linear programme): the highest potential index and the highest workload
index among the absorbing territories are made as low as they can be, and among the assignments that do that, the
workload-weighted distance from each account to its new territory's centre is the least. The few accounts the LP
splits go whole to the territory that got the most of them. Each absorbing territory's index is then recomputed
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


def vacancy_cover(
    assignments: pd.DataFrame, territories: pd.DataFrame, territory: str, most: int = 3
) -> VacancyCover | None:
    """How `territory`'s accounts are covered when its rep leaves, by at most `most` neighbouring territories;
    None when there is no other territory (or the territory has no accounts)."""
    labels = assignments["territory"].astype(str).to_numpy()
    vacant = labels == territory
    if not vacant.any() or vacant.all():
        return None
    table = territories.assign(territory=territories["territory"].astype(str)).set_index("territory")
    absorbers = neighbours(assignments, territory, most, table)
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


def neighbours(assignments: pd.DataFrame, territory: str, most: int, table: pd.DataFrame) -> list[str]:
    """The territories `territory` borders, most contacts first (ties by name), at most `most`: a contact is an
    account of `territory` whose nearest foreign account (among its nearest few) lies in the other territory, and a
    neighbour has contacts for at least 5 % of the accounts. At least two where there are two others."""
    labels = assignments["territory"].astype(str).to_numpy()
    points = _plane(assignments["lat"].to_numpy(dtype=float), assignments["lon"].to_numpy(dtype=float))
    mine = np.flatnonzero(labels == territory)
    k = min(_CONTACT_NEIGHBOURS, len(labels))
    _, near = cKDTree(points).query(points[mine], k=k)
    near = near.reshape(len(mine), k)
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
    then each account whole to its largest share (the first territory on a tie)."""
    n, k = distance.shape
    if k == 1:
        return np.zeros(n, dtype=int)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    infinity = solver.infinity()
    x = [[solver.NumVar(0.0, 1.0, "") for _ in range(k)] for _ in range(n)]
    for i in range(n):  # each account goes somewhere, whole
        row = solver.Constraint(1.0, 1.0)
        for j in range(k):
            row.SetCoefficient(x[i][j], 1.0)
    objective = solver.Objective()
    for metric in metrics:
        values = accounts[metric].to_numpy(dtype=float)
        peak = solver.NumVar(0.0, infinity, "")
        objective.SetCoefficient(peak, 1.0)
        for j, t in enumerate(absorbers):  # index after = (before + taken) x 100 / target <= peak
            scale = 100.0 / targets[t][metric] if targets[t][metric] > 0 else 0.0
            row = solver.Constraint(-infinity, -before[t][metric] * scale)
            row.SetCoefficient(peak, -1.0)
            for i in np.flatnonzero(values):
                row.SetCoefficient(x[i][j], float(values[i]) * scale)
    # Travel counts in call hours (every account needs some, unlike potential), scaled so that all of it weighs
    # about one index point: balance comes first, compactness decides among the balanced assignments.
    hours = accounts["workload_hours"].to_numpy(dtype=float) if "workload_hours" in accounts else np.ones(n)
    weight = np.maximum(hours, max(float(hours.mean()), 1e-9) / 5)
    cost = weight[:, None] * distance
    cost = cost / (float((cost.max(axis=1) - cost.min(axis=1)).sum()) or 1.0)
    for i in range(n):
        for j in range(k):
            objective.SetCoefficient(x[i][j], float(cost[i, j]))
    objective.SetMinimization()
    if solver.Solve() != pywraplp.Solver.OPTIMAL:  # not expected: the LP is always feasible and bounded
        return np.argmin(distance, axis=1)
    share = np.array([[x[i][j].solution_value() for j in range(k)] for i in range(n)])
    return np.argmax(share, axis=1)
