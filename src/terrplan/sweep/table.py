"""The results table (one row per scenario, in grid order) and its Pareto frontier.

A scenario is Pareto-optimal when no other finished scenario (exit 0) is at least as good on every one of K, travel,
moved potential share and potential spread, and better on one: fewer reps, less driving, less disruption, tighter
balance. Disruption counts only when some scenario has a current alignment to measure it against.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from terrplan.sweep.grid import Axis, Scenario, band_text

#: Figures per scenario, after the grid's columns; runtime_s is the one figure a rerun on other hardware changes.
FIGURES = {
    "k": "Int64",
    "bands": "string",
    "objective": "float64",
    "lower_bound": "float64",
    "gap": "float64",
    "travel": "float64",
    "disruption_cost": "float64",
    "moved_potential_share": "float64",
    "moved_accounts": "Int64",
    "potential_spread": "float64",
    "workload_spread": "float64",
    "status": "string",
    "exit_code": "Int64",
    "message": "string",
    "runtime_s": "float64",
    "pareto": "bool",
    "folder": "string",
}

#: What the frontier is made of: all minimised.
PARETO_AXES = ("k", "travel", "moved_potential_share", "potential_spread")

#: The frontier CSV's columns after the grid's (no runtime: the same sweep anywhere gives the same bytes).
FRONTIER_COLUMNS = ("scenario", "k", "bands", "travel", "moved_potential_share", "moved_accounts", "potential_spread",
                    "workload_spread", "objective", "gap", "status", "report")  # fmt: skip

_STATUS_BY_EXIT = {1: "error", 3: "invalid", 4: "infeasible", 5: "check failed"}


def results_table(axes: list[Axis], scenarios: list[Scenario], rows: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per scenario with a row (in grid order), its Pareto flag set."""
    records = []
    for scenario in scenarios:
        row = rows.get(scenario.id)
        if row is None:
            continue
        config = scenario.config
        record: dict[str, Any] = {"scenario": scenario.id}
        record.update({axis.key: value for axis, value in zip(axes, scenario.values, strict=True)})
        record.update({name: row.get(name) for name in FIGURES})
        if record["k"] is None and config is not None:
            record["k"] = config.territories.count
        record["bands"] = band_text(config) if config is not None else ""
        record["status"] = row.get("status") or _STATUS_BY_EXIT.get(row["exit_code"], "failed")
        record["folder"] = f"scenarios/{scenario.id}" if row.get("objective") is not None else ""
        records.append(record)
    columns = ["scenario", *(axis.key for axis in axes), *FIGURES]
    table = pd.DataFrame(records, columns=columns)
    table["pareto"] = pareto(table) if len(table) else []
    return table.astype(FIGURES)


def pareto(table: pd.DataFrame) -> np.ndarray:
    """Which rows no other finished row dominates (see the module's doc); unfinished rows are never on it."""
    finished = (table["exit_code"] == 0).to_numpy() & table["travel"].notna().to_numpy()
    axes = [name for name in PARETO_AXES if table.loc[finished, name].notna().any()]
    values = table[axes].astype(float).to_numpy(na_value=math.inf)
    out = np.zeros(len(table), dtype=bool)
    candidates = np.flatnonzero(finished)
    for i in candidates:
        others = values[candidates]
        dominated = (others <= values[i]).all(axis=1) & (others < values[i]).any(axis=1)
        out[i] = not dominated.any()
    return out


def frontier(table: pd.DataFrame, axes: list[Axis], reports: dict[str, str]) -> pd.DataFrame:
    """The Pareto rows with the grid's columns and the figures that matter; `reports`: scenario -> its report's
    path relative to the sweep folder."""
    rows = table.loc[table["pareto"]]
    out = rows[["scenario", *(axis.key for axis in axes), *FRONTIER_COLUMNS[1:-1]]].copy()
    out["report"] = [reports.get(scenario, "") for scenario in rows["scenario"]]
    return out.reset_index(drop=True)
