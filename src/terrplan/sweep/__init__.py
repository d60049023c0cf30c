"""Scenario sweeps: the Cartesian product of config values, each a full optimize run, gathered in one table.

The sweep folder:
```
configs/<id>.json      each scenario's config (paths absolute): `terrplan optimize configs/<id>.json` reruns it
scenarios/<id>/        its output folder, as optimize writes it (whole or not at all)
logs/<id>.log          optimize's stderr, one JSON object per line
rows/<id>.json         its figures, exit code and message; written last: a scenario with a row is done
results.parquet        one row per scenario, in grid order (pandas, DuckDB and pyarrow read it)
frontier.csv           the Pareto-optimal scenarios
frontier.html          with --report: the trade-off charts, each Pareto point linked to its report
```
A scenario's id is its content address (see `grid`), so a rerun skips every scenario with a row and an interrupted
sweep resumes where it stopped. The driver holds the table's rows only; alignments stay in the scenario folders.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from terrplan.config import Config, load_config
from terrplan.errors import EXIT_BAD_INPUT, Finding, InputError
from terrplan.sweep.frontier import frontier_page
from terrplan.sweep.grid import Axis, Scenario, parse_axes, scenarios, standalone
from terrplan.sweep.run import Task, read_row, run_cluster, run_local
from terrplan.sweep.table import frontier, results_table
from terrplan.write import csv_text, json_text, write_file

#: What only a sweep folder holds: a folder with other files is not one, and is never written into.
_OURS = ("configs", "scenarios", "logs", "rows", "results.parquet", "frontier.csv", "frontier.html")


@dataclass(frozen=True)
class Plan:
    """A sweep checked and expanded, before any scenario runs."""

    config_path: Path
    config: Config
    axes: list[Axis]
    scenarios: list[Scenario]
    hashes: dict[Path, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sweep:
    """What a sweep gives: the table, its frontier, and how many scenarios ran now."""

    directory: Path
    table: pd.DataFrame
    frontier: pd.DataFrame
    ran: int
    reused: int


OnRow = Callable[[int, int, str, dict[str, Any]], None]  # (done, to run, scenario id, row)
OnRetry = Callable[[str], None]  # why a scenario runs again


def plan_sweep(config_path: str | Path, overrides: dict[str, Any], grid: list[str] | tuple[str, ...]) -> Plan:
    """Every check before any work: the config, the grid's keys and values (exit 2 or 3), the inputs' hashes."""
    path = Path(config_path)
    config = load_config(path, overrides)
    axes = parse_axes(grid, config)
    hashes: dict[Path, str] = {}
    found = scenarios(path, config, axes, hashes)
    return Plan(path, config, axes, found, hashes)


def default_folder(config: Config) -> Path:
    """The sweep folder when none is given: the config's output.dir with '-sweep' appended."""
    target = config.resolve(config.output.dir)
    return target.with_name(f"{target.name}-sweep")


def run_sweep(
    plan: Plan,
    directory: str | Path,
    workers: int,
    cluster: str | None = None,
    page: bool = False,
    on_row: OnRow | None = None,
    on_retry: OnRetry | None = None,
) -> Sweep:
    """Run every scenario without a row (locally on `workers` processes, or on the Dask scheduler at `cluster`),
    then write results.parquet, frontier.csv and (`page`) frontier.html."""
    folder = Path(directory).expanduser().resolve()
    _check_folder(folder)
    rows: dict[str, dict[str, Any]] = {}
    tasks: dict[str, Task] = {}
    for scenario in plan.scenarios:
        if scenario.config is None:  # values that are fine alone, not together
            assert scenario.error is not None
            rows[scenario.id] = {"exit_code": EXIT_BAD_INPUT, "message": str(scenario.error), "status": "invalid"}
            continue
        row = read_row(folder / "rows" / f"{scenario.id}.json")
        if row is not None:
            rows[scenario.id] = row
        elif scenario.id not in tasks:
            tasks[scenario.id] = _task(folder, scenario, plan.hashes)
    reused = len({s.id for s in plan.scenarios if s.id in rows and s.config is not None})

    finished: list[str] = []

    def done(task: Task, row: dict[str, Any]) -> None:
        rows[task.id] = row
        finished.append(task.id)
        if row.get("status") != "died" and not Path(task.row).exists():  # a worker without the shared folder
            write_file(Path(task.row), json_text(row))
        if on_row is not None:
            on_row(len(finished), len(tasks), task.id, row)

    if cluster is not None and tasks:
        run_cluster(list(tasks.values()), cluster, done)
    elif tasks:
        run_local(list(tasks.values()), max(1, min(workers, len(tasks))), done, on_retry)
    table = results_table(plan.axes, plan.scenarios, rows)
    reports = _reports(folder, table)
    front = frontier(table, plan.axes, reports)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    write_file(folder / "results.parquet", buffer.getvalue())
    write_file(folder / "frontier.csv", csv_text(front, plan.config.output.escape_formulas))
    if page:
        title = f"terrplan sweep: {plan.config_path.name}, {len(table)} scenarios"
        write_file(folder / "frontier.html", frontier_page(table, plan.axes, reports, title))
    return Sweep(folder, table, front, len(tasks), reused)


def _task(folder: Path, scenario: Scenario, hashes: dict[Path, str]) -> Task:
    """The scenario's config written (atomically) where the workers read it, and its paths."""
    assert scenario.config is not None
    output = folder / "scenarios" / scenario.id
    config_file = folder / "configs" / f"{scenario.id}.json"
    write_file(config_file, json_text(standalone(scenario.config, output)))
    inputs = tuple((str(path), digest) for path, digest in sorted(hashes.items(), key=lambda item: str(item[0])))
    return Task(
        scenario.id,
        str(config_file),
        str(output),
        str(folder / "rows" / f"{scenario.id}.json"),
        str(folder / "logs" / f"{scenario.id}.log"),
        inputs,
    )


def _reports(folder: Path, table: pd.DataFrame) -> dict[str, str]:
    """scenario -> its report.html (its summary.json when it wrote no report), relative to the sweep folder."""
    out = {}
    for scenario, relative in zip(table["scenario"], table["folder"], strict=True):
        if relative:
            for name in ("report.html", "summary.json"):
                if (folder / relative / name).is_file():
                    out[str(scenario)] = f"{relative}/{name}"
                    break
    return out


def _check_folder(folder: Path) -> None:
    """Exit 3 when the sweep folder is a file, or a folder holding other things than a sweep's."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot use the sweep folder {folder}", [Finding(str(folder), "is a file, not a folder")])
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in _OURS and not p.name.startswith("."))
        if others and not any((folder / name).exists() for name in _OURS):
            raise InputError(
                f"cannot use the sweep folder {folder}",
                [Finding(str(folder), f"holds other files ({', '.join(others[:3])}), not a terrplan sweep's",
                         hint="give a new or empty folder (--dir), or one an earlier sweep wrote")],
            )  # fmt: skip
    os.makedirs(folder, exist_ok=True)
