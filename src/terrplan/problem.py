"""Scored accounts + config -> Problem: the one place where DataFrame columns become optimizer arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Config
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
    """One unit per account, K territories, the balance metric within target x (1 +/- tolerance).

    The target is the mean territory scaled by each territory's FTE (`fte`, else from the roster); with centres at
    rep homes, each territory's centre is fixed at its rep's home.
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
    balance = metric_values(accounts, territories.balance.metric)
    anchored = territories.centres == "rep_homes"
    fte = territory_fte(reps, k) if fte is None else np.asarray(fte, dtype=float)
    target = balance.sum() * fte / fte.sum()
    tol = territories.balance.tolerance
    metrics, names = [balance], [territories.balance.metric]
    lower, upper = [target * (1 - tol)], [target * (1 + tol)]
    if territories.min_accounts is not None or territories.max_accounts is not None:
        metrics.append(metric_values(accounts, "accounts"))
        names.append("accounts")
        low = territories.min_accounts if territories.min_accounts is not None else -np.inf
        high = territories.max_accounts if territories.max_accounts is not None else np.inf
        lower.append(np.full(k, float(low)))
        upper.append(np.full(k, float(high)))
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
