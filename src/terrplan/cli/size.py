"""`terrplan size`: how many territories the workload needs, each K a scenario run as a sweep runs its own."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from terrplan.child import usable_cores
from terrplan.cli import EXIT_CODES_HELP, common_options, config_overrides, handle_errors, main
from terrplan.cli.sweep import check_placement, check_shipping

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
    help="K solved at once on this machine (default: sweep.workers, else the cores this process may use).",
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
    from terrplan.config import load_config
    from terrplan.runs.size import report_done, size
    from terrplan.sweep import open_folder
    from terrplan.sweep.grid import check_shippable, sweep_settings
    from terrplan.sweep.size import FOLDER, default_folder, spool_stdin
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
    count = settings.workers or usable_cores()
    run = size(config, config_path, folder, count, settings.cluster, shipping, report)
    sys.stdout.write(csv_text(run.table, config.output.escape_formulas))
    report_done(run, report)


def _one_k(config_path: str, k: int, folder: Path, report: Reporter) -> None:
    """One K's scenario: its row of the table into folder/size.json (written whole or not at all), with the inputs
    it read and their sha256."""
    from terrplan.config import load_config
    from terrplan.runs.size import size_k
    from terrplan.write import json_text, write_file

    scenario = size_k(load_config(config_path), k, report)
    # One file, replaced atomically: a K run again (its row never reached the driver) overwrites what it left.
    write_file(folder / "size.json", json_text(scenario.as_dict()))
