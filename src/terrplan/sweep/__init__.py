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
from terrplan.sweep.grid import Axis, Scenario, parse_axes, scenarios, standalone
from terrplan.sweep.run import Task, read_row, run_cluster, run_local
from terrplan.sweep.table import frontier as pareto_rows  # not `frontier`: the page's submodule takes that name
from terrplan.sweep.table import results_table
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


@dataclass(frozen=True)
class Job:
    """A scenario to run: its id, its config, and the terrplan command that runs it (`command[0] CONFIG
    *command[1:] OUTPUT_FLAG FOLDER`)."""

    id: str
    config: Config
    command: tuple[str, ...] = ("optimize",)
    output_flag: str = "-o"


@dataclass(frozen=True)
class Ran:
    """What running a folder's jobs gave: each job's row, and how many ran now or were done before."""

    rows: dict[str, dict[str, Any]]
    ran: int
    reused: int


def plan_sweep(config_path: str | Path, overrides: dict[str, Any], grid: list[str] | tuple[str, ...]) -> Plan:
    """Every check before any work: the config, the grid's keys and values (exit 2 or 3), the inputs' hashes."""
    path = Path(config_path)
    config = load_config(path, overrides)
    axes = parse_axes(grid, config, path)
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
    ship: bool = False,
) -> Sweep:
    """Run every scenario without a row (locally on `workers` processes, or on the Dask scheduler at `cluster`,
    the inputs shipped to its workers with `ship`), then write results.parquet, frontier.csv and (`page`)
    frontier.html."""
    folder = open_folder(directory)
    rows: dict[str, dict[str, Any]] = {}
    jobs: list[Job] = []
    for scenario in plan.scenarios:
        if scenario.config is None:  # values that are fine alone, not together
            assert scenario.error is not None
            rows[scenario.id] = {"exit_code": EXIT_BAD_INPUT, "message": str(scenario.error), "status": "invalid"}
        else:
            jobs.append(Job(scenario.id, scenario.config))
    ran = run_jobs(folder, jobs, plan.hashes, workers, cluster, ship, on_row, on_retry)
    rows.update(ran.rows)
    table = results_table(plan.axes, plan.scenarios, rows)
    reports = _reports(folder, table)
    front = pareto_rows(table, plan.axes, reports)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow")
    write_file(folder / "results.parquet", buffer.getvalue())
    write_file(folder / "frontier.csv", csv_text(front, plan.config.output.escape_formulas))
    if page:
        from terrplan.sweep.frontier import frontier_page  # the report's palette: loaded only for the page

        title = f"terrplan sweep: {plan.config_path.name}, {len(table)} scenarios"
        write_file(folder / "frontier.html", frontier_page(table, plan.axes, reports, title))
    return Sweep(folder, table, front, ran.ran, ran.reused)


def run_jobs(
    folder: Path,
    jobs: list[Job],
    hashes: dict[Path, str],
    workers: int,
    cluster: str | None = None,
    ship: bool = False,
    on_row: OnRow | None = None,
    on_retry: OnRetry | None = None,
) -> Ran:
    """Every job without a row in `folder` (see `open_folder`) run, locally or on the cluster; each job's row."""
    rows: dict[str, dict[str, Any]] = {}
    tasks: dict[str, Task] = {}
    for job in jobs:
        row = read_row(folder / "rows" / f"{job.id}.json")
        if row is not None:
            rows[job.id] = row
        elif job.id not in tasks:
            tasks[job.id] = _task(folder, job, hashes)
    reused = len({job.id for job in jobs if job.id in rows})
    finished: list[str] = []

    def done(task: Task, row: dict[str, Any]) -> None:
        rows[task.id] = row
        finished.append(task.id)
        if row.get("status") != "died" and not Path(task.row).exists():  # a worker without the shared folder
            write_file(Path(task.row), json_text(row))
        if on_row is not None:
            on_row(len(finished), len(tasks), task.id, row)

    if cluster is not None and tasks:
        run_cluster(list(tasks.values()), cluster, done, ship)
    elif tasks:
        run_local(list(tasks.values()), max(1, min(workers, len(tasks))), done, on_retry)
    return Ran(rows, len(tasks), reused)


def _task(folder: Path, job: Job, hashes: dict[Path, str]) -> Task:
    """The job's config written (atomically) where the workers read it, and its paths."""
    output = folder / "scenarios" / job.id
    config_file = folder / "configs" / f"{job.id}.json"
    write_file(config_file, json_text(standalone(job.config, output)))
    inputs = tuple((str(path), digest) for path, digest in sorted(hashes.items(), key=lambda item: str(item[0])))
    argv = (job.command[0], str(config_file), *job.command[1:], job.output_flag, str(output))
    return Task(
        job.id,
        str(config_file),
        str(output),
        str(folder / "rows" / f"{job.id}.json"),
        str(folder / "logs" / f"{job.id}.log"),
        inputs,
        argv,
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


def open_folder(directory: str | Path, ours: tuple[str, ...] = _OURS) -> Path:
    """The folder of a sweep (or of size's scenarios), made if need be. Exit 3 when it is a file, or a folder
    holding other things than such a folder's (`ours`)."""
    folder = Path(directory).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot use the sweep folder {folder}", [Finding(str(folder), "is a file, not a folder")])
    if folder.is_dir():
        others = sorted(p.name for p in folder.iterdir() if p.name not in ours and not p.name.startswith("."))
        if others and not any((folder / name).exists() for name in ours):
            raise InputError(
                f"cannot use the sweep folder {folder}",
                [Finding(str(folder), f"holds other files ({', '.join(others[:3])}), not a terrplan sweep's",
                         hint="give a new or empty folder (--dir), or one an earlier sweep wrote")],
            )  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    return folder
