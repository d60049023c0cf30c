"""`terrplan size`: how many territories the workload needs, each K a scenario run as a sweep runs its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from terrplan.cli import EXIT_CODES_HELP, common_options, config_overrides, handle_errors, main
from terrplan.cli.sweep import check_placement, check_shipping
from terrplan.errors import ConfigError, Finding

if TYPE_CHECKING:
    from terrplan.progress import Reporter

#: Solver seconds per K when --time-limit is not given.
DEFAULT_TIME_LIMIT = 10.0


@main.command(
    name="size",
    epilog="Example: terrplan size configs/sample.yaml --capacity 1600 --k-range 6:14 > sizing.csv\n\n"
    + EXIT_CODES_HELP,
)
@common_options
@click.option("--capacity", type=float, help="Selling hours per FTE per year (overrides sizing.hours_per_fte).")
@click.option("--k-range", help="K values to tabulate as MIN:MAX (overrides sizing.k_min/k_max).")
@click.option(
    "--time-limit",
    type=float,
    help=f"Solver seconds per K (each K is solved in its own process) [default: {DEFAULT_TIME_LIMIT:g}].",
)
@click.option(
    "-d",
    "--dir",
    "directory",
    help="Folder of the K scenarios (default: output.dir with '-size' appended): a rerun reuses every K solved.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="K solved at once on this machine (default: sweep.workers, else the number of cores).",
)
@click.option("--cluster", metavar="tcp://HOST:8786", help="Solve the K on this Dask scheduler, as sweep does.")
@click.option(
    "--ship-inputs/--shared-inputs",
    "ship_inputs",
    default=None,
    help="With a cluster: send the input files to the workers, or let them read the driver's paths.",
)
@click.option("--scenario-k", type=click.IntRange(min=1), hidden=True, help="Internal: solve this one K.")
@click.option("--scenario-dir", hidden=True, help="Internal: the one K's folder (size.json).")
@handle_errors
def size_command(
    config_path,
    accounts,
    volumes,
    quiet,
    log_json,
    capacity,
    k_range,
    time_limit,
    directory,
    workers,
    cluster,
    ship_inputs,
    scenario_k,
    scenario_dir,
    report: Reporter,
) -> None:
    """How many territories the workload needs: writes a CSV table per K (workload and travel per rep,
    utilisation, balance) to stdout and recommends the smallest K whose reps are not over capacity. Each K is
    solved in its own process, --workers at a time (or on --cluster); a rerun reuses the K already solved."""
    if scenario_k is not None:
        if scenario_dir is None:
            raise click.UsageError("--scenario-k needs --scenario-dir")
        _one_k(config_path, scenario_k, Path(scenario_dir), report)
        return
    from terrplan.cli.outputs import load_inputs
    from terrplan.config import load_config
    from terrplan.sizing import k_range as sizing_k_range
    from terrplan.sizing import needed_territories, recommended_k, size_table
    from terrplan.sweep import open_folder
    from terrplan.sweep.grid import check_shippable, sweep_settings
    from terrplan.sweep.size import FOLDER, default_folder, size_rows, spool_stdin
    from terrplan.write import csv_text

    check_placement(workers, cluster, ship_inputs)
    # The per-K limit goes through the config so it gets the same checks as optimize's (finite, positive).
    seconds = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    overrides = config_overrides(accounts=accounts, volumes=volumes, time_limit=seconds)
    if capacity is not None:
        overrides["sizing.hours_per_fte"] = capacity
    if k_range is not None:
        low, _, high = k_range.partition(":")
        if not (low.isdigit() and high.isdigit() and 0 < int(low) <= int(high)):
            raise click.BadParameter("expected MIN:MAX, e.g. 6:14", param_hint="--k-range")
        overrides["sizing.k_min"], overrides["sizing.k_max"] = int(low), int(high)
    config = load_config(config_path, overrides)
    settings = sweep_settings(config, config_path, workers, cluster, ship_inputs)
    check_shipping(ship_inputs, settings)
    shipping = settings.ship_inputs and settings.cluster is not None
    if shipping:
        check_shippable([config])
    folder = open_folder(directory if directory is not None else default_folder(config), FOLDER)
    if config.inputs.accounts.path == "-":  # every K's process reads the accounts: they are kept in the folder
        overrides["inputs.accounts.path"] = str(spool_stdin(folder, sys.stdin.buffer.read()))
        config = load_config(config_path, overrides)
    loaded = load_inputs(config, report)
    need = needed_territories(loaded.accounts, config)
    report.info(
        "need",
        f"call workload {loaded.accounts['workload_hours'].sum():,.0f} h at {config.sizing.hours_per_fte:,.0f} h per "
        f"FTE needs {need:.1f} FTE before travel",
        fte=need,
    )
    ks = sizing_k_range(loaded.accounts, config)
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
    count = settings.workers or os.cpu_count() or 1
    where = settings.cluster or f"{min(count, len(ks))} local worker(s)"
    report.info("k", f"solving K = {ks.start}-{ks.stop - 1} on {where}; folder {folder}", k=list(ks))

    def solved(done: int, total: int, scenario: str, row: dict[str, Any]) -> None:
        figures = row.get("figures") or {}
        what = f"K = {figures['k']}: {figures['status']}" if figures else f"{scenario}: exit {row['exit_code']}"
        report.info("solved", f"[{done}/{total}] {what}", scenario=scenario, exit_code=row["exit_code"])

    rows = size_rows(
        folder, config, ks, count, settings.cluster, shipping, solved, lambda why: report.warn("retry", why)
    )
    table = size_table(rows)
    sys.stdout.write(csv_text(table, config.output.escape_formulas))
    best = recommended_k(table)
    if best is None:
        report.warn("no-fit", f"no K in {ks.start}-{ks.stop - 1} keeps every rep within capacity; try a larger range")
    else:
        report.info(
            "recommended",
            f"recommended: {best} territories (smallest K with workload incl. travel within capacity)",
            k=best,
        )


def _one_k(config_path: str, k: int, folder: Path, report: Reporter) -> None:
    """One K's scenario: its row of the table into folder/size.json (written whole or not at all), with the inputs
    it read and their sha256."""
    from terrplan.budget import TimeBudget
    from terrplan.cli.outputs import load_inputs
    from terrplan.config import load_config
    from terrplan.sizing import size_row
    from terrplan.write import json_text, write_file

    config = load_config(config_path)
    loaded = load_inputs(config, report)
    # --time-limit is solver seconds per K: from here, not from the process's start, so the seconds a K's process
    # spends starting (the solver stack's imports, several on a busy machine) are not taken from its solve.
    row = size_row(loaded.accounts, config, k, TimeBudget.of(config.solver.time_limit))
    # One file, replaced atomically: a K run again (its row never reached the driver) overwrites what it left.
    write_file(folder / "size.json", json_text({"row": row, "inputs": list(loaded.inputs)}))
