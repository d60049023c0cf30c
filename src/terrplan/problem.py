"""Scored accounts + config -> Problem: the one place where DataFrame columns become optimizer arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd

from terrplan.config import Config
from terrplan.errors import Finding, InfeasibleError
from terrplan.model import Problem

#: Config metric name -> scored-accounts column.
METRIC_COLUMNS = {"potential": "potential", "workload": "workload_hours", "accounts": None}


def metric_values(accounts: pd.DataFrame, metric: str) -> np.ndarray:
    column = METRIC_COLUMNS[metric]
    return np.ones(len(accounts)) if column is None else accounts[column].to_numpy(dtype=float)


def build_problem(accounts: pd.DataFrame, config: Config) -> Problem:
    """One unit per account; K territories; the balance metric within mean x (1 +/- tolerance)."""
    territories = config.territories
    k = territories.count
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
    mean = balance.sum() / k
    tol = territories.balance.tolerance
    return Problem(
        n_territories=k,
        weights=metric_values(accounts, territories.objective_weight),
        metrics=balance[None, :],
        metric_names=(territories.balance.metric,),
        lower=np.full((1, k), mean * (1 - tol)),
        upper=np.full((1, k), mean * (1 + tol)),
        coords=accounts[["lat", "lon"]].to_numpy(dtype=float),
        geometry="haversine",
    )
