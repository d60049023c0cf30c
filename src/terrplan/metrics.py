"""evaluate(accounts, problem, alignment) -> Metrics: balance, compactness and per-territory figures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrplan.model import Alignment, Problem, band_violation, objective


@dataclass(frozen=True)
class Metrics:
    """What `optimize` reports for an alignment (and `evaluate` will, for any alignment)."""

    territories: pd.DataFrame  # one row per territory, in territory-label order
    assignments: pd.DataFrame  # one row per account, in account-id order
    objective: float
    all_in_band: bool
    balance: dict[str, float]


def territory_labels(problem: Problem, alignment: Alignment) -> list[str]:
    """Stable, readable names: T01.. ordered north to south by centre (west to east on ties)."""
    sites = problem.site_coords()
    centres = sites[alignment.centres]
    order = np.lexsort((centres[:, 1], -centres[:, 0]))
    width = max(2, len(str(problem.n_territories)))
    labels = [""] * problem.n_territories
    for rank, t in enumerate(order):
        labels[t] = f"T{rank + 1:0{width}d}"
    return labels


def evaluate(
    accounts: pd.DataFrame,
    problem: Problem,
    alignment: Alignment,
    labels: Sequence[str] | None = None,
    territory_columns: pd.DataFrame | None = None,
) -> Metrics:
    """Metrics of an alignment; territories are named by `labels` (index order) or T01.. north to south.

    `territory_columns` (one row per territory, index order), e.g. the rep of each, joins the territory table."""
    labels = np.array(labels if labels is not None else territory_labels(problem, alignment))
    territory = alignment.territory
    units = np.arange(problem.n_units)
    distance = problem.distance(units, alignment.centres[territory])
    assignments = pd.DataFrame(
        {
            "account_id": accounts["account_id"].to_numpy(),
            "name": accounts["name"].to_numpy(),
            "state": accounts["state"].to_numpy(),
            "zip": accounts["zip"].to_numpy(),
            "lat": accounts["lat"].to_numpy(),
            "lon": accounts["lon"].to_numpy(),
            "territory": labels[territory],
            "segment": accounts["segment"].to_numpy(),
            "type": accounts["type"].to_numpy(),
            "volume": accounts["volume"].to_numpy(),
            "potential": accounts["potential"].to_numpy(),
            "workload_hours": accounts["workload_hours"].to_numpy(),
            "distance_km": distance,
            "current_territory": accounts["territory"].to_numpy(),
        }
    ).sort_values("account_id", kind="stable", ignore_index=True)

    k = problem.n_territories
    share = target_share(problem)
    count = np.bincount(territory, minlength=k)
    potential = np.bincount(territory, weights=accounts["potential"].to_numpy(), minlength=k)
    workload = np.bincount(territory, weights=accounts["workload_hours"].to_numpy(), minlength=k)
    dist_sum = np.bincount(territory, weights=distance, minlength=k)
    dist_max = np.zeros(k)
    np.maximum.at(dist_max, territory, distance)
    centre = problem.site_coords()[alignment.centres]
    violation = band_violation(problem, territory).sum(axis=0)
    territories = pd.DataFrame(
        {
            "territory": labels,
            "accounts": count,
            "potential": potential,
            "workload_hours": workload,
            "potential_index": _index(potential, share),
            "workload_index": _index(workload, share),
            "centre_account_id": accounts["account_id"].to_numpy()[alignment.centres] if not problem.fixed else "",
            "centre_lat": centre[:, 0],
            "centre_lon": centre[:, 1],
            "mean_distance_km": np.divide(dist_sum, count, out=np.zeros(k), where=count > 0),
            "max_distance_km": dist_max,
            "in_band": violation <= 1e-9 * max(float(np.abs(problem.upper).max(initial=1.0)), 1.0),
        }
    )
    if territory_columns is not None:
        territories = pd.concat([territories, territory_columns.reset_index(drop=True)], axis=1)
    territories = territories.sort_values("territory", ignore_index=True)
    metric = problem.metric_names[0]
    index = _index(np.bincount(territory, weights=problem.metrics[0], minlength=k), share)
    target = problem.metrics[0].sum() * share
    balance = {
        "metric": metric,
        "min_index": float(index.min()),
        "max_index": float(index.max()),
        "band_low_index": float((problem.lower[0] / target).min() * 100),
        "band_high_index": float((problem.upper[0] / target).max() * 100),
        "territories_in_band": int(territories["in_band"].sum()),
    }
    return Metrics(
        territories=territories,
        assignments=assignments,
        objective=objective(problem, alignment),
        all_in_band=bool(territories["in_band"].all()),
        balance=balance,
    )


def target_share(problem: Problem) -> np.ndarray:
    """Each territory's share of the total: from the primary band's centre (FTE-scaled targets), else equal."""
    lower, upper = problem.lower[0], problem.upper[0]
    if np.isfinite(lower).all() and np.isfinite(upper).all() and (lower + upper).sum() > 0:
        return (lower + upper) / (lower + upper).sum()
    return np.full(problem.n_territories, 1.0 / problem.n_territories)


def _index(values: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Relative to the territory's target, 100 = on target (the mean territory, FTE-scaled where reps differ)."""
    target = values.sum() * share
    return np.divide(values * 100.0, target, out=np.full(len(values), 100.0), where=target > 0)
