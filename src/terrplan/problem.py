"""Scored accounts + config -> Problem: the one place where DataFrame columns become optimizer arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Balance, Config
from terrplan.errors import ConfigError, Finding, InfeasibleError
from terrplan.model import Problem

#: Config metric name -> column of the accounts (or units) table; a table without an `accounts` column counts 1 a row.
METRIC_COLUMNS = {"potential": "potential", "workload": "workload_hours", "accounts": "accounts"}
DEFAULT_TERRITORIES = 10


def metric_values(accounts: pd.DataFrame, metric: str) -> np.ndarray:
    column = METRIC_COLUMNS[metric]
    return accounts[column].to_numpy(dtype=float) if column in accounts else np.ones(len(accounts))


def territory_count(config: Config, reps: pd.DataFrame | None) -> int:
    """K: one per roster row when centres are rep homes (a conflicting count is an error), else the config's."""
    count = config.territories.count
    if config.territories.centres == "rep_homes":
        assert reps is not None  # the config check demands a roster
        if count is not None and count != len(reps):
            raise ConfigError(
                "territory count and roster disagree",
                [
                    Finding(
                        "config",
                        f"territories.count is {count} but the roster has {len(reps)} reps",
                        key="territories.count",
                        hint="with centres: rep_homes, drop count or make it match",
                    )
                ],
            )
        return len(reps)
    if count is None:
        return len(reps) if reps is not None else DEFAULT_TERRITORIES
    return count


def territory_fte(reps: pd.DataFrame | None, k: int) -> np.ndarray:
    """FTE each territory is sized for: the roster's, in roster order, when there is one rep row per territory
    (free territories are then matched only to reps of the same FTE); otherwise 1 each."""
    if reps is not None and len(reps) == k:
        return reps["fte"].to_numpy(dtype=float)
    return np.ones(k)


def build_problem(
    accounts: pd.DataFrame, config: Config, reps: pd.DataFrame | None = None, fte: np.ndarray | None = None
) -> Problem:
    """One unit per account, K territories, one band row per balance metric, in the config's order (the first is
    the primary metric), then an accounts row for min_accounts / max_accounts unless accounts is already balanced
    (its band then also meets those limits).

    A metric's target is the mean territory scaled by each territory's FTE (`fte`, else from the roster); its band
    is target x (1 +/- tolerance), narrowed to min_per_fte / max_per_fte x FTE when given. With centres at rep
    homes, each territory's centre is fixed at its rep's home.
    """
    territories = config.territories
    k = territory_count(config, reps)
    if k > len(accounts):
        raise InfeasibleError(
            "more territories than accounts",
            [
                Finding(
                    "territories",
                    f"{k} territories but only {len(accounts)} accounts",
                    hint=f"use at most {len(accounts)} territories (-k)",
                )
            ],
        )
    anchored = territories.centres == "rep_homes"
    fte = territory_fte(reps, k) if fte is None else np.asarray(fte, dtype=float)
    metrics, names, lower, upper = [], [], [], []
    for balance in territories.balance:
        values = metric_values(accounts, balance.metric)
        low, high = balance_band(values, fte, balance)
        metrics.append(values)
        names.append(balance.metric)
        lower.append(low)
        upper.append(high)
    if territories.min_accounts is not None or territories.max_accounts is not None:
        if "accounts" not in names:
            metrics.append(metric_values(accounts, "accounts"))
            names.append("accounts")
            lower.append(np.full(k, -np.inf))
            upper.append(np.full(k, np.inf))
        row = names.index("accounts")
        if territories.min_accounts is not None:
            lower[row] = np.maximum(lower[row], float(territories.min_accounts))
        if territories.max_accounts is not None:
            upper[row] = np.minimum(upper[row], float(territories.max_accounts))
    return Problem(
        n_territories=k,
        weights=metric_values(accounts, territories.objective_weight),
        metrics=np.array(metrics),
        metric_names=tuple(names),
        lower=np.array(lower),
        upper=np.array(upper),
        coords=accounts[["lat", "lon"]].to_numpy(dtype=float),
        geometry="haversine",
        fixed_sites=reps[["lat", "lon"]].to_numpy(dtype=float) if anchored else None,
    )


def balance_band(values: np.ndarray, fte: np.ndarray, balance: Balance) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) per territory for one balance metric: target x (1 +/- tolerance), the target being the total
    split by FTE, within min_per_fte / max_per_fte x FTE; -inf / +inf where nothing limits a side."""
    k = len(fte)
    lower, upper = np.full(k, -np.inf), np.full(k, np.inf)
    if balance.tolerance is not None:
        target = values.sum() * fte / fte.sum()
        lower, upper = target * (1 - balance.tolerance), target * (1 + balance.tolerance)
    if balance.min_per_fte is not None:
        lower = np.maximum(lower, balance.min_per_fte * fte)
    if balance.max_per_fte is not None:
        upper = np.minimum(upper, balance.max_per_fte * fte)
    return lower, upper


def balance_count(config: Config) -> int:
    """How many rows of `build_problem`'s problem are balance metrics (they come first; an accounts limits row
    may follow)."""
    return len(config.territories.balance)
