"""evaluate(accounts, problem, alignment) -> Metrics: balance, compactness and per-territory figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terrplan.factors.territory import factor_columns, territory_factors
from terrplan.model import Alignment, Problem, objective, outside_band, territory_totals


@dataclass(frozen=True)
class Metrics:
    """What `optimize` reports for an alignment (and `evaluate` will, for any alignment)."""

    territories: pd.DataFrame  # one row per territory, in territory-label order
    assignments: pd.DataFrame  # one row per account, in account-id order
    objective: float
    all_in_band: bool
    balance: dict[str, float]  # the primary metric's figures (balances[0])
    band_misses: tuple[BandMiss, ...] = ()  # every (territory, metric) outside its band, in table order
    balances: tuple[dict[str, float], ...] = ()  # the same figures for every balance metric, in config order


@dataclass(frozen=True)
class BandMiss:
    """One territory outside one band: a balance metric as an index (100 = target; `primary` for the first), other
    rows (an accounts minimum or maximum) in their own units; an infinite bound is no limit."""

    territory: str
    metric: str
    primary: bool
    value: float
    low: float
    high: float
    indexed: bool = True  # a balance metric, shown as an index


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
    balanced: int | None = None,
) -> Metrics:
    """Metrics of an alignment; territories are named by `labels` (index order) or T01.. north to south.

    `territory_columns` (one row per territory, index order), e.g. the rep of each, joins the territory table.
    `balanced`: how many leading rows of the problem are balance metrics (`problem.balance_count`); default every
    row but a last one named accounts (the min_accounts / max_accounts row `build_problem` appends)."""
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
            **{column: accounts[column].to_numpy() for column in factor_columns(accounts)},  # when a config has them
        }
    ).sort_values("account_id", kind="stable", ignore_index=True)

    k = problem.n_territories
    if balanced is None:
        names = problem.metric_names
        balanced = len(names) - (1 if len(names) > 1 and names[-1] == "accounts" else 0)
    share = target_share(problem, balanced)
    count = np.bincount(territory, minlength=k)
    potential = np.bincount(territory, weights=accounts["potential"].to_numpy(), minlength=k)
    workload = np.bincount(territory, weights=accounts["workload_hours"].to_numpy(), minlength=k)
    dist_sum = np.bincount(territory, weights=distance, minlength=k)
    dist_max = np.zeros(k)
    np.maximum.at(dist_max, territory, distance)
    centre = problem.site_coords()[alignment.centres]
    totals = territory_totals(problem, territory)
    outside = outside_band(problem, totals)  # the one band test, on raw totals
    territories = pd.DataFrame(
        {
            "territory": labels,
            "accounts": count,
            "potential": potential,
            "workload_hours": workload,
            "potential_index": _index(potential, share),
            "workload_index": _index(workload, share),
            **{
                f"{name}_index": _index(totals[row], share)
                for row, name in enumerate(problem.metric_names[:balanced])
                if name not in ("potential", "workload")
            },
            "centre_account_id": accounts["account_id"].to_numpy()[alignment.centres] if not problem.fixed else "",
            "centre_lat": centre[:, 0],
            "centre_lon": centre[:, 1],
            "mean_distance_km": np.divide(dist_sum, count, out=np.zeros(k), where=count > 0),
            "max_distance_km": dist_max,
            "in_band": ~outside.any(axis=0),
        }
    )
    if territory_columns is not None:
        territories = pd.concat([territories, territory_columns.reset_index(drop=True)], axis=1)
    factors = territory_factors(accounts, territory, k)  # growth, competition, market size: when accounts have them
    if factors is not None:
        territories = pd.concat([territories, factors], axis=1)
    territories = territories.sort_values("territory", ignore_index=True)
    # Balance rows as indices (per territory: targets follow FTE), the other rows in their own units.
    target = totals.sum(axis=1, keepdims=True) * share[None, :]

    def shown(values: np.ndarray) -> np.ndarray:
        return np.vstack([_index_of(values[row], target[row]) for row in range(balanced)] + [values[balanced:]])

    index, low, high = shown(totals), shown(problem.lower), shown(problem.upper)
    misses = tuple(
        BandMiss(
            str(labels[t]), problem.metric_names[row], row == 0, *(float(a[row, t]) for a in (index, low, high)),
            indexed=row < balanced,
        )
        for t in sorted(np.flatnonzero(outside.any(axis=0)), key=lambda t: labels[t])
        for row in np.flatnonzero(outside[:, t]).tolist()
    )  # fmt: skip
    balances = tuple(
        {
            "metric": problem.metric_names[row],
            "min_index": float(index[row].min()),
            "max_index": float(index[row].max()),
            "band_low_index": float(low[row].min()),
            "band_high_index": float(high[row].max()),
            "territories_in_band": int((~outside[row]).sum()),
        }
        for row in range(balanced)
    )
    # The primary's figures as before: territories_in_band counts territories inside every band.
    balance = {**balances[0], "territories_in_band": int(territories["in_band"].sum())}
    return Metrics(
        territories=territories,
        assignments=assignments,
        objective=objective(problem, alignment),
        all_in_band=bool(territories["in_band"].all()),
        balance=balance,
        band_misses=misses,
        balances=balances,
    )


def target_share(problem: Problem, balanced: int = 1) -> np.ndarray:
    """Each territory's share of the total: from the centre of the first of the `balanced` rows whose band is finite
    (FTE-scaled targets), else of the first one's upper limits (limits per FTE), else equal."""
    for row in range(balanced):
        lower, upper = problem.lower[row], problem.upper[row]
        if np.isfinite(lower).all() and np.isfinite(upper).all() and (lower + upper).sum() > 0:
            return (lower + upper) / (lower + upper).sum()
    for row in range(balanced):
        upper = problem.upper[row]
        if np.isfinite(upper).all() and upper.sum() > 0:
            return upper / upper.sum()
    return np.full(problem.n_territories, 1.0 / problem.n_territories)


def _index_of(values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """values x 100 / target (100 where the target is 0); infinite bounds stay infinite."""
    return np.divide(values * 100.0, target, out=np.full(len(values), 100.0), where=target > 0)


def _index(values: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Relative to the territory's target, 100 = on target (the mean territory, FTE-scaled where reps differ)."""
    target = values.sum() * share
    return np.divide(values * 100.0, target, out=np.full(len(values), 100.0), where=target > 0)


# -- figures with the precision their band needs ---------------------------------------------------------------
# A ±5 % band prints as indices with one decimal (95.0-105.0); a ±0.5 % band needs two (99.50-100.50), so that a
# territory at 100.52 does not print as 100.5 beside a bound of 100.5. Whether a territory is in its band is decided
# on the raw numbers (`terrplan.model.in_band`), never on printed ones: these functions only choose the digits.

MAX_DECIMALS = 6


def band_decimals(low: float, high: float, *values: float, minimum: int = 1) -> int:
    """Decimals for figures compared with the band [low, high]: two significant digits of the band's width (at
    least `minimum`), and more while a value outside the band would print equal to the bound it crosses."""
    decimals = minimum
    width = high - low
    if math.isfinite(width) and width > 0:
        decimals = max(minimum, 2 - math.floor(math.log10(width) + 1e-9))  # 1e-9: a width of 0.1 is 0.0999…
    decimals = min(decimals, MAX_DECIMALS)
    while decimals < MAX_DECIMALS and any(_looks_inside(v, low, high, decimals) for v in values):
        decimals += 1
    return decimals


def _looks_inside(value: float, low: float, high: float, decimals: int) -> bool:
    """A value outside [low, high] that prints equal to the bound it crosses."""
    if not math.isfinite(value):
        return False
    noise = 1e-9 * max(abs(value), 1.0)  # beyond a bound by rounding noise only is inside (as `in_band` says)
    if value > high + noise and math.isfinite(high):
        return f"{value:.{decimals}f}" == f"{high:.{decimals}f}"
    if value < low - noise and math.isfinite(low):
        return f"{value:.{decimals}f}" == f"{low:.{decimals}f}"
    return False


def band_range(low: float, high: float, *values: float) -> str:
    """'95.0-105.0': a band's bounds with the decimals `band_decimals` picks (given the values shown beside it)."""
    decimals = band_decimals(low, high, *values)
    return f"{low:.{decimals}f}-{high:.{decimals}f}"


def index_decimals(balance: dict) -> int:
    """Decimals for a run's index figures (summary.json's `balance`): what its band and extreme indices need."""
    low, high = balance.get("band_low_index"), balance.get("band_high_index")
    if low is None or high is None:
        return 1
    return band_decimals(float(low), float(high), *(float(balance.get(k, 100.0)) for k in ("min_index", "max_index")))


def index_ranges(balances: Sequence[dict], band: bool = False) -> str:
    """'potential index 95.0-105.0, workload index 86.2-114.9': each balance metric's index range (summary.json's
    `balances`) with the decimals its band needs; with `band`, each followed by its band, '(band 85.0-115.0)' or
    '(band: at most 120.0)' for a limit on one side."""
    parts = []
    for balance in balances:
        digits = index_decimals(balance)
        text = f"{balance['metric']} index {balance['min_index']:.{digits}f}-{balance['max_index']:.{digits}f}"
        if band:
            low, high = (balance.get(key) for key in ("band_low_index", "band_high_index"))
            low = -math.inf if low is None else float(low)
            high = math.inf if high is None else float(high)
            if math.isfinite(low) and math.isfinite(high):
                text += f" (band {low:.{digits}f}-{high:.{digits}f})"
            elif math.isfinite(high):
                text += f" (band: at most {high:.{digits}f})"
            elif math.isfinite(low):
                text += f" (band: at least {low:.{digits}f})"
        parts.append(text)
    return ", ".join(parts)


def percent(share: float, most: int = 4) -> str:
    """A share as a percentage with the fewest decimals that show it exactly (up to `most`): 0.05 -> '5%',
    0.005 -> '0.5%', 0.0125 -> '1.25%'."""
    value = share * 100
    for decimals in range(most + 1):
        if abs(round(value, decimals) - value) <= 1e-9 * max(abs(value), 1.0):
            return f"{value:.{decimals}f}%"
    return f"{value:.{most}f}%"
