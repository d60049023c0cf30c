"""How many territories the workload needs, and what each K would look like.

Workload per account is its segment's call hours plus travel: every `calls_per_trip` calls share one round trip
from the territory centre, driven at `travel_speed_kmh` (a planning estimate, not a route). Call hours alone
give the first estimate of K (total / hours per FTE); solving the alignment for a range of K shows the travel
each K adds and how balanced it can be.

Each K is solved on its own (a scenario of `terrplan.sweep`: its own process, `--time-limit` seconds from its own
start); `size_row` is one K's row of the table, `size_table` the table from the rows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.errors import InfeasibleError
from terrplan.metrics import evaluate
from terrplan.problem import build_problem
from terrplan.solve import SolveParams, solve


def needed_territories(accounts: pd.DataFrame, config: Config) -> float:
    """FTE needed for the call hours alone (travel comes on top and is tabulated per K)."""
    return float(accounts["workload_hours"].sum()) / config.sizing.hours_per_fte


def k_range(accounts: pd.DataFrame, config: Config) -> range:
    need = needed_territories(accounts, config)
    low = config.sizing.k_min or max(1, math.floor(need * 0.75))
    high = config.sizing.k_max or max(low, math.ceil(need * 1.5))
    return range(low, min(high, len(accounts)) + 1)


#: The table's columns, in order (an infeasible K's row has only k, call_hours_per_rep and status).
COLUMNS = ("k", "call_hours_per_rep", "travel_hours_per_rep", "workload_per_rep", "utilisation", "min_index",
           "max_index", "territories_in_band", "mean_distance_km", "objective", "gap", "status")  # fmt: skip


def size_row(accounts: pd.DataFrame, config: Config, k: int, budget: TimeBudget) -> dict[str, Any]:
    """One K's row: balance, travel and workload per rep, the optimizer's gap, solved within `budget`."""
    sizing = config.sizing
    calls = accounts["calls_per_year"].to_numpy()
    sized = dataclasses.replace(config, territories=dataclasses.replace(config.territories, count=k, centres="free"))
    problem = build_problem(accounts, sized)
    try:
        result = solve(problem, SolveParams.from_config(config.solver), budget)
    except InfeasibleError:  # proven: the bands cannot hold at this K (a row says so; the other K go on)
        calls_per_rep = float(accounts["workload_hours"].sum()) / k
        return {"k": k, "call_hours_per_rep": calls_per_rep, "status": "infeasible"}
    metrics = evaluate(accounts, problem, result.alignment)
    distance = metrics.assignments.set_index("account_id").loc[accounts["account_id"], "distance_km"].to_numpy()
    travel = float(np.sum(calls * 2 * distance) / sizing.travel_speed_kmh / sizing.calls_per_trip)
    work = float(accounts["workload_hours"].sum()) + travel
    return {
        "k": k,
        "call_hours_per_rep": float(accounts["workload_hours"].sum()) / k,
        "travel_hours_per_rep": travel / k,
        "workload_per_rep": work / k,
        "utilisation": work / k / sizing.hours_per_fte,
        "min_index": metrics.balance["min_index"],
        "max_index": metrics.balance["max_index"],
        "territories_in_band": metrics.balance["territories_in_band"],
        "mean_distance_km": float(distance.mean()),
        "objective": result.objective,
        "gap": result.gap,
        "status": result.status,
    }


def size_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The table: one row per K, in the order given, columns in `COLUMNS`' order."""
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS))  # every column, even when every K is infeasible
    return table.astype({"territories_in_band": "Int64"})


def recommended_k(table: pd.DataFrame) -> int | None:
    """The smallest K whose reps are not over capacity with travel included, and whose bands hold."""
    fits = table.loc[(table["utilisation"] <= 1.0) & table["status"].isin(["optimal", "feasible"])]
    return int(fits["k"].min()) if len(fits) else None
