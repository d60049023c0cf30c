"""`terrplan size`'s run: how many territories the workload needs, each K a scenario solved in its own process (as
a sweep runs its own: `sweep.size`), and one K's scenario itself.

The runs return the table (and one K's row); the command writes them (stdout, the K's size.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from terrplan.budget import TimeBudget
from terrplan.config import Config
from terrplan.errors import ConfigError, Finding
from terrplan.progress import Reporter
from terrplan.runs.common import load_inputs
from terrplan.sizing import k_range, needed_territories, recommended_k, size_row, size_table
from terrplan.sweep.size import size_rows


@dataclass(frozen=True)
class SizeRun:
    """The sizing table and what it recommends."""

    need: float  # FTE the call hours need before travel
    ks: range  # the K tabulated
    table: pd.DataFrame  # a row per K (sizing.COLUMNS)
    recommended: int | None  # the smallest K whose reps stay within capacity; None when none does


@dataclass(frozen=True)
class SizeK:
    """One K's scenario: its row of the table and the inputs it read (path and sha256 each)."""

    row: Mapping[str, Any]
    inputs: tuple[dict[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """size.json's content."""
        return {"row": dict(self.row), "inputs": list(self.inputs)}


def size(
    config: Config,
    config_path: str | Path,
    folder: Path,
    workers: int,
    cluster: str | None,
    shipping: bool,
    report: Reporter,
) -> SizeRun:
    """Read the inputs, then solve each K of the range (sizing.k_min/k_max) as a scenario in `folder` (a rerun reuses
    every K solved): `workers` at a time here, or on the Dask scheduler `cluster` (`shipping`: the inputs sent to its
    workers). `config_path` names the config in errors."""
    loaded = load_inputs(config, report)
    need = needed_territories(loaded.accounts, config)
    report.info(
        "need",
        f"call workload {loaded.accounts['workload_hours'].sum():,.0f} h at {config.sizing.hours_per_fte:,.0f} h per "
        f"FTE needs {need:.1f} FTE before travel",
        fte=need,
    )
    ks = k_range(loaded.accounts, config)
    if not ks:
        raise ConfigError(
            "no K to size",
            [
                Finding(
                    str(config_path),
                    f"the smallest K is above the {len(loaded.accounts):,} accounts",
                    key="sizing.k_min",
                    value=str(ks.start),
                    hint=f"use a --k-range within 1:{len(loaded.accounts)}",
                )
            ],
        )
    where = cluster or f"{min(workers, len(ks))} local worker(s)"
    report.info("k", f"solving K = {ks.start}-{ks.stop - 1} on {where}; folder {folder}", k=list(ks))

    def solved(done: int, total: int, scenario: str, row: dict[str, Any]) -> None:
        figures = row.get("figures") or {}
        what = f"K = {figures['k']}: {figures['status']}" if figures else f"{scenario}: exit {row['exit_code']}"
        report.info("solved", f"[{done}/{total}] {what}", scenario=scenario, exit_code=row["exit_code"])

    rows = size_rows(folder, config, ks, workers, cluster, shipping, solved, lambda why: report.warn("retry", why))
    table = size_table(rows)
    return SizeRun(need, ks, table, recommended_k(table))


def report_done(run: SizeRun, report: Reporter) -> None:
    """The run's closing line on stderr: the recommended K, or a warning that none fits."""
    if run.recommended is None:
        report.warn(
            "no-fit", f"no K in {run.ks.start}-{run.ks.stop - 1} keeps every rep within capacity; try a larger range"
        )
    else:
        report.info(
            "recommended",
            f"recommended: {run.recommended} territories (smallest K with workload incl. travel within capacity)",
            k=run.recommended,
        )


def size_k(config: Config, k: int, report: Reporter) -> SizeK:
    """One K's scenario: its row of the table, solved within solver.time_limit seconds from now."""
    loaded = load_inputs(config, report)
    # The limit is solver seconds per K: from here, not from the process's start, so the seconds a K's process
    # spends starting (the solver stack's imports, several on a busy machine) are not taken from its solve.
    row = size_row(loaded.accounts, config, k, TimeBudget.of(config.solver.time_limit))
    return SizeK(row, loaded.inputs)
